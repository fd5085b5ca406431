"""The nano33 Arduino-core path (firmware/ports/nano33-arduino, tinykws/firmware/pio.py,
`make flash BOARD=nano33 CORE=arduino`) without a network or a board.

What can be checked here: the profile pins every PlatformIO spec to one version; the port's C++
compiles (arm-none-eabi-g++ -Wall -Wextra -Werror) against stand-in headers that declare the
subset of the core's API it uses (tests/fixtures/arduino_mbed_stub: our reading of the core, not
the core) and defines every function of tinykws_port.h with C linkage; our C sources compile
with the core's C flags (-std=gnu11 -funsigned-char -mfloat-abi=softfp ...) and -Werror; and,
with a stand-in `pio` on TINYKWS_PIO, that the right commands run with the pinned versions and
the detected port, and that no network, no board, no PlatformIO and a model too big each stop
with one line and exit code 2. The real PlatformIO download, build and upload never ran here.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass

import pytest

from tinykws.boards import ROOT, load_board
from tinykws.device import flasher
from tinykws.errors import TinyKWSError
from tinykws.firmware import pio

PORT_DIR = ROOT / "firmware" / "ports" / "nano33-arduino"
STUB = ROOT / "tests" / "fixtures" / "arduino_mbed_stub"
HAVE_ARM = shutil.which("arm-none-eabi-gcc") is not None and shutil.which("arm-none-eabi-g++") is not None
needs_arm = pytest.mark.skipif(not HAVE_ARM, reason="needs arm-none-eabi-gcc/g++")

# The Arduino mbed core's C flags for this board (variants/ARDUINO_NANO33BLE/cflags.txt in
# arduino/ArduinoCore-mbed, as read there), without -c and -g1.
CORE_CFLAGS = [
    "-std=gnu11", "-Os", "-Wall", "-Wextra", "-Wno-missing-field-initializers", "-Wno-unused-parameter",
    "-fdata-sections", "-ffunction-sections", "-fno-delete-null-pointer-checks", "-fno-exceptions",
    "-fomit-frame-pointer", "-funsigned-char", "-mcpu=cortex-m4", "-mfloat-abi=softfp",
    "-mfpu=fpv4-sp-d16", "-mthumb",
]  # fmt: skip


@dataclass
class FakePort:
    device: str
    vid: int | None


FAKE_PIO = """#!{python}
import json, os, shutil, sys
args = sys.argv[1:]
with open(os.environ["FAKE_PIO_LOG"], "a") as f:
    f.write(json.dumps(args) + "\\n")
fail = os.environ.get("FAKE_PIO_FAIL", "")
if args[:2] == ["pkg", "install"] and fail == "pkg":
    print("Platform Manager: Installing platformio/nordicnrf52 @ 10.11.0")
    print("HTTPClientError: ", file=sys.stderr)
    sys.exit(1)
if args[0] == "run" and "-t" not in args:
    if fail == "size":
        print("Error: The program size (1200000 bytes) is greater than maximum allowed (983040 bytes)")
        sys.exit(1)
    proj = args[args.index("-d") + 1]
    out = os.path.join(proj, ".pio", "build", "nano33ble")
    os.makedirs(out, exist_ok=True)
    shutil.copy(os.environ["FAKE_PIO_ELF"], os.path.join(out, "firmware.elf"))
if args[0] == "run" and "upload" in args and fail == "upload":
    print("No device found on ttyACM3")
    sys.exit(1)
"""


@pytest.fixture
def fake_pio(tmp_path, monkeypatch):
    exe = tmp_path / "pio"
    exe.write_text(FAKE_PIO.format(python=sys.executable))
    exe.chmod(0o755)
    log = tmp_path / "pio.log"
    monkeypatch.setenv("TINYKWS_PIO", str(exe))
    monkeypatch.setenv("FAKE_PIO_LOG", str(log))
    monkeypatch.delenv("FAKE_PIO_FAIL", raising=False)

    def calls() -> list[list[str]]:
        return [json.loads(x) for x in log.read_text().splitlines()] if log.exists() else []

    return exe, calls


def test_profile_pins_every_platformio_spec_exactly():
    core = pio.arduino_core(load_board("nano33"))
    assert core.port_dir == PORT_DIR and core.pio_board == "nano33ble"
    assert core.platform == "platformio/nordicnrf52 @ 10.11.0"
    assert core.packages == (
        "platformio/framework-arduino-mbed @ 4.6.0",
        "platformio/toolchain-gccarmnoneeabi @ 1.70201.0",
    )
    assert pio._is_exact("a/b @ 1.2.3") and not pio._is_exact("a/b @ ^1.2.3")
    assert not pio._is_exact("a/b @ ~1.2.0") and not pio._is_exact("b @ 1.2.3") and not pio._is_exact("a/b")


def test_a_range_in_the_profile_is_refused(tmp_path):
    text = (ROOT / "boards" / "nano33.toml").read_text()
    prof = tmp_path / "n33range.toml"
    prof.write_text(
        text.replace('name = "nano33"', 'name = "n33range"').replace(
            '"platformio/nordicnrf52 @ 10.11.0"', '"platformio/nordicnrf52 @ ^10.11.0"'
        )
    )
    with pytest.raises(TinyKWSError, match=r"'platformio/nordicnrf52 @ \^10.11.0' is not pinned"):
        pio.arduino_core(load_board(prof))
    with pytest.raises(TinyKWSError, match="no Arduino-core build for this board"):
        pio.arduino_core(load_board("qemu-m4"))


def _port_functions() -> list[str]:
    header = (ROOT / "firmware" / "core" / "tinykws_port.h").read_text()
    header = re.sub(r"/\*.*?\*/", "", header, flags=re.S)
    return re.findall(r"\b(port_\w+)\s*\(", header)


@needs_arm
def test_port_compiles_and_defines_the_whole_port_interface(tmp_path):
    """arm-none-eabi-g++ -Wall -Wextra -Werror against the stand-in core headers; every function
    of tinykws_port.h is defined with C linkage, setup/loop with C++ linkage, and the port uses
    the core's Serial, PDM and critical-section calls (not registers of its own, except DWT)."""
    (tmp_path / "tinykws_build_info.h").write_text(
        '#define TINYKWS_BOARD_NAME "nano33"\n#define TINYKWS_CLOCK_HZ 64000000u\n'
    )
    obj = tmp_path / "port.o"
    subprocess.run(
        ["arm-none-eabi-g++", "-std=gnu++14", "-mcpu=cortex-m4", "-mthumb", "-mfloat-abi=softfp",
         "-mfpu=fpv4-sp-d16", "-fno-exceptions", "-fno-rtti", "-funsigned-char", "-O2", "-Wall", "-Wextra",
         "-Werror", f"-I{STUB}", f"-I{tmp_path}", f"-I{ROOT / 'firmware' / 'core'}", "-c",
         str(PORT_DIR / "port_nano33_arduino.cpp"), "-o", str(obj)],
        check=True,
    )  # fmt: skip
    # the plain Nano 33 BLE (no microphone) builds as cleanly, without the PDM library
    subprocess.run(
        ["arm-none-eabi-g++", "-std=gnu++14", "-mcpu=cortex-m4", "-mthumb", "-fno-exceptions", "-fno-rtti",
         "-O2", "-Wall", "-Wextra", "-Werror", "-DTINYKWS_NO_MIC=1", f"-I{STUB}", f"-I{tmp_path}",
         f"-I{ROOT / 'firmware' / 'core'}", "-c", str(PORT_DIR / "port_nano33_arduino.cpp"), "-o",
         str(tmp_path / "nomic.o")],
        check=True,
    )  # fmt: skip
    nomic = subprocess.run(
        ["arm-none-eabi-nm", str(tmp_path / "nomic.o")], capture_output=True, text=True, check=True
    ).stdout
    assert "port_mic_start" in nomic and "PDM" not in nomic
    nm = subprocess.run(["arm-none-eabi-nm", str(obj)], capture_output=True, text=True, check=True).stdout
    defined = {p[2] for p in (ln.split() for ln in nm.splitlines()) if len(p) == 3 and p[1] == "T"}
    undefined = {p[1] for p in (ln.split() for ln in nm.splitlines()) if len(p) == 2 and p[0] == "U"}
    funcs = _port_functions()
    assert len(funcs) == 17 and "port_mic_start" in funcs
    assert set(funcs) <= defined, set(funcs) - defined
    assert {"_Z5setupv", "_Z4loopv"} <= defined
    assert "tinykws_core_main" in undefined  # setup() enters the portable core
    assert {"core_util_critical_section_enter", "SerialUSB", "PDM"} <= undefined
    # the TX packet buffer flushes through the block write, never byte by byte
    assert "_ZN7arduino9USBSerial5writeEPKhj" in undefined
    assert "_ZN7arduino9USBSerial5writeEh" not in undefined


@needs_arm
def test_our_c_sources_compile_with_the_cores_flags_and_werror(tmp_path, mlperf_ref_model):
    """Every C file of the generated PlatformIO project (through its wrapper in src/) compiles
    with the core's C flags plus ours, -Werror; core_entry.c renames the runner's main."""
    from tinykws.firmware.build import build_firmware

    board = load_board("nano33")
    res = build_firmware(board, mlperf_ref_model, tmp_path / "b", frontend="mlperf")
    proj = pio.write_project(board, res.build_dir)
    ini = (proj / "platformio.ini").read_text()
    flags = [ln.strip() for ln in ini.split("build_src_flags =")[1].split("extra_scripts")[0].splitlines()]
    flags = [f for f in flags if f]
    assert flags[:3] == ["-O2", "-Wall", "-Wextra"]
    wrappers = sorted((proj / "src").iterdir())
    names = [w.name for w in wrappers]
    assert "firmware__ports__nano33-arduino__core_entry.c" in names
    assert "firmware__ports__nano33-arduino__port_nano33_arduino.cpp" in names
    assert not any("tinykws_runner" in n or "usb" in n for n in names)  # the core owns USB here
    assert any(n.startswith("firmware__features__") for n in names)
    c_files = [w for w in wrappers if w.suffix == ".c"]
    assert len(c_files) > 10
    for w in c_files:
        obj = tmp_path / (w.stem + ".o")
        proc = subprocess.run(
            ["arm-none-eabi-gcc", *CORE_CFLAGS, *flags, "-Werror", "-c", str(w), "-o", str(obj)],
            capture_output=True, text=True,
        )  # fmt: skip
        assert proc.returncode == 0, (w.name, proc.stderr)
    nm = subprocess.run(
        ["arm-none-eabi-nm", str(tmp_path / "firmware__ports__nano33-arduino__core_entry.o")],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    syms = {ln.split()[-1]: ln.split()[-2] for ln in nm.splitlines() if len(ln.split()) >= 2}
    assert syms.get("tinykws_core_main") == "T" and "main" not in syms
    assert "post:" + str(PORT_DIR / "werror_c.py") in ini and "lib_deps = PDM" in ini

    # Our part of the image closes: with the port's C++ (against the stand-in headers), every
    # symbol our objects need is defined by them, or is the core's (Serial, PDM, pins, Mbed OS
    # critical sections and yield) or the C library's.
    cpp = proj / "src" / "firmware__ports__nano33-arduino__port_nano33_arduino.cpp"
    subprocess.run(
        ["arm-none-eabi-g++", "-std=gnu++14", "-mcpu=cortex-m4", "-mthumb", "-mfloat-abi=softfp",
         "-mfpu=fpv4-sp-d16", "-fno-exceptions", "-fno-rtti", *flags, f"-I{STUB}", "-c", str(cpp), "-o",
         str(tmp_path / (cpp.stem + ".o"))],
        check=True,
    )  # fmt: skip
    defined: set[str] = set()
    needed: set[str] = set()
    for obj in tmp_path.glob("*.o"):
        out = subprocess.run(
            ["arm-none-eabi-nm", str(obj)], capture_output=True, text=True, check=True
        ).stdout
        for parts in (ln.split() for ln in out.splitlines()):
            if len(parts) == 3 and parts[1] in "TDBRC":
                defined.add(parts[2])
            elif len(parts) == 2 and parts[0] == "U":
                needed.add(parts[1])
    core = {"SerialUSB", "PDM", "core_util_critical_section_enter", "core_util_critical_section_exit"}
    api = (
        "_Z7pinMode",
        "_Z12digitalWrite",
        "_Z17delayMicro",
        "_ZN7arduino9USBSerial",
        "_ZN8PDMClass",
        "_ZN4rtos",
    )
    core_cpp = {s for s in needed if s.startswith(api)}
    libc = {"memcpy", "memset", "strcmp", "strlen", "sqrtf", "logf", "expf", "floorf", "cosf", "sinf"}
    missing = needed - defined - core - core_cpp - libc - {s for s in needed if s.startswith("__aeabi")}
    assert not missing, missing
    assert len(needed & defined) > 20  # the check is not empty: our objects call each other
    assert {"tinykws_core_main", "_Z5setupv", "_Z4loopv", "io_putline", "port_init"} <= defined
    assert "tinykws_core_main" in needed  # setup() -> the runner, through core_entry.c


@needs_arm
def test_flash_runs_pinned_pio_commands_with_the_detected_port(
    monkeypatch, tmp_path, mlperf_ref_model, fake_pio, capsys
):
    from tinykws.cli import main
    from tinykws.firmware.build import build_firmware

    exe, calls = fake_pio
    ref = build_firmware("nano33", mlperf_ref_model, tmp_path / "ref", audio=False)
    monkeypatch.setenv("FAKE_PIO_ELF", str(ref.elf))  # stands in for the Arduino image
    monkeypatch.setattr(
        flasher, "_comports", lambda: [FakePort("/dev/ttyS0", None), FakePort("/dev/ttyACM3", 0x2341)]
    )
    out = tmp_path / "b"
    argv = ["flash", "--board", "nano33", "--core", "arduino", "--model", str(mlperf_ref_model),
            "--out", str(out)]  # fmt: skip
    assert main(argv) == 0
    proj = str(out / "arduino")
    assert calls() == [
        ["pkg", "install", "-d", proj, "-e", "nano33ble"],
        ["run", "-d", proj, "-e", "nano33ble"],
        ["run", "-d", proj, "-e", "nano33ble", "-t", "upload", "--upload-port", "/dev/ttyACM3"],
    ]
    ini = (out / "arduino" / "platformio.ini").read_text()
    assert "platform = platformio/nordicnrf52 @ 10.11.0" in ini
    assert "    platformio/framework-arduino-mbed @ 4.6.0" in ini
    assert "    platformio/toolchain-gccarmnoneeabi @ 1.70201.0" in ini
    assert "board = nano33ble" in ini and "framework = arduino" in ini
    printed = capsys.readouterr().out
    assert "(Arduino core)" in printed and "--upload-port /dev/ttyACM3" in printed
    # an explicit --port is passed through as given
    (tmp_path / "pio.log").unlink()
    assert main([*argv, "--port", "/dev/null"]) == 0
    assert calls()[-1][-2:] == ["--upload-port", "/dev/null"]
    # a failing upload is reported with PlatformIO's output
    monkeypatch.setenv("FAKE_PIO_FAIL", "upload")
    assert main(argv) == 2
    assert "upload to /dev/ttyACM3 failed" in capsys.readouterr().err


def _one_error_line(err: str) -> str:
    lines = [ln for ln in err.splitlines() if ln.startswith("tinykws: error:")]
    assert len(lines) == 1, err
    return lines[0]


@needs_arm
def test_no_network_stops_with_one_line_and_exit_2(monkeypatch, tmp_path, mlperf_ref_model, fake_pio, capsys):
    from tinykws.cli import main

    exe, calls = fake_pio
    monkeypatch.setenv("FAKE_PIO_FAIL", "pkg")
    monkeypatch.setattr(flasher, "_comports", lambda: [FakePort("/dev/ttyACM0", 0x2341)])
    argv = ["flash", "--board", "nano33", "--core", "arduino", "--model", str(mlperf_ref_model),
            "--out", str(tmp_path / "b")]  # fmt: skip
    assert main(argv) == 2
    line = _one_error_line(capsys.readouterr().err)
    assert line.startswith(
        "tinykws: error: could not download the Arduino core (platformio/nordicnrf52 @ 10.11.0, "
        "platformio/framework-arduino-mbed @ 4.6.0, platformio/toolchain-gccarmnoneeabi @ 1.70201.0) "
        "from the PlatformIO registry: no network? (PlatformIO: HTTPClientError:)"
    )
    assert "make flash BOARD=nano33 (without CORE=arduino)" in line
    assert [c[:2] for c in calls()] == [["pkg", "install"]]  # nothing built, nothing uploaded
    # `build --core arduino` stops the same way
    assert main(["build", *argv[1:]]) == 2
    assert "could not download the Arduino core" in _one_error_line(capsys.readouterr().err)


@needs_arm
def test_no_board_stops_before_anything_is_built_or_downloaded(
    monkeypatch, tmp_path, mlperf_ref_model, fake_pio, capsys
):
    from tinykws.cli import main

    exe, calls = fake_pio
    monkeypatch.setattr(flasher, "_comports", lambda: [FakePort("/dev/ttyS0", None)])
    out = tmp_path / "b"
    argv = ["flash", "--board", "nano33", "--core", "arduino", "--model", str(mlperf_ref_model),
            "--out", str(out)]  # fmt: skip
    assert main(argv) == 2
    line = _one_error_line(capsys.readouterr().err)
    assert "no board with USB vendor id 0x2341" in line and "PORT=/dev/ttyACM0" in line
    assert calls() == [] and not out.exists()
    assert main([*argv, "--port", "/dev/ttyACM_missing"]) == 2
    assert "no such serial port" in _one_error_line(capsys.readouterr().err)


def test_no_platformio_says_what_to_install(monkeypatch, tmp_path, capsys, mlperf_ref_model):
    from tinykws.cli import main

    monkeypatch.delenv("TINYKWS_PIO", raising=False)
    monkeypatch.setattr(pio, "VENV_BIN", tmp_path)
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(TinyKWSError, match=r"PlatformIO \(pio\) not found: run `make flash BOARD="):
        pio.find_pio()
    argv = ["flash", "--board", "nano33", "--core", "arduino", "--model", str(mlperf_ref_model),
            "--out", str(tmp_path / "b")]  # fmt: skip
    assert main(argv) == 2
    assert f"pip install '{pio.PIO_SPEC}'" in _one_error_line(capsys.readouterr().err)
    monkeypatch.setenv("TINYKWS_PIO", str(tmp_path / "nope"))
    with pytest.raises(TinyKWSError, match="not an executable file"):
        pio.find_pio()


@needs_arm
def test_a_model_too_big_is_refused_before_download_and_before_upload(
    monkeypatch, tmp_path, mlperf_ref_model, fake_pio, capsys
):
    """Too big for the board already as a bare-metal image: refused before PlatformIO runs.
    Fitting as bare metal but not with the Arduino core's share: refused after the build, before
    the upload (our check on the ELF, and PlatformIO's own size check)."""
    from tinykws.cli import main
    from tinykws.firmware.build import build_firmware

    exe, calls = fake_pio
    monkeypatch.setattr(flasher, "_comports", lambda: [FakePort("/dev/ttyACM0", 0x2341)])
    small = build_firmware("nano33", mlperf_ref_model, tmp_path / "small", audio=False)
    big = build_firmware("nano33", mlperf_ref_model, tmp_path / "big", frontend="mlperf")
    assert big.flash_bytes > small.flash_bytes + 1000
    text = (ROOT / "boards" / "nano33.toml").read_text().replace('name = "nano33"', 'name = "tiny33"')

    prof = tmp_path / "tiny33.toml"
    prof.write_text(text.replace("flash_bytes = 983040", "flash_bytes = 40000"))
    argv = ["flash", "--board", str(prof), "--core", "arduino", "--model", str(mlperf_ref_model),
            "--out", str(tmp_path / "b1")]  # fmt: skip
    assert main(argv) == 2
    line = _one_error_line(capsys.readouterr().err)
    assert "tiny33: image does not fit: flash" in line and "> 40000 bytes" in line
    assert calls() == []

    prof.write_text(text.replace("flash_bytes = 983040", f"flash_bytes = {small.flash_bytes + 500}"))
    monkeypatch.setenv("FAKE_PIO_ELF", str(big.elf))  # the "Arduino image": bigger than the board
    argv[-1] = str(tmp_path / "b2")
    assert main(argv) == 2
    line = _one_error_line(capsys.readouterr().err)
    assert f"tiny33: image does not fit: flash {big.flash_bytes} > {small.flash_bytes + 500} bytes" in line
    assert [c[:2] for c in calls()] == [["pkg", "install"], ["run", "-d"]]  # no upload

    (tmp_path / "pio.log").unlink()
    monkeypatch.setenv("FAKE_PIO_FAIL", "size")
    argv[-1] = str(tmp_path / "b3")
    assert main(argv) == 2
    line = _one_error_line(capsys.readouterr().err)
    assert "Arduino-core image does not fit: Error: The program size (1200000 bytes)" in line
    assert not any("upload" in c for c in calls())


def test_make_stops_with_one_line_when_pip_cannot_install_platformio(tmp_path):
    """`make flash BOARD=nano33 CORE=arduino` installs PlatformIO with pip first; a pip that fails
    (no PyPI) gives one line saying what to do, and make stops (exit 2)."""
    if shutil.which("make") is None:
        pytest.skip("needs make")
    venv = tmp_path / "venv"
    venv.mkdir()
    (venv / ".stamp").touch()  # the project environment exists (newer than pyproject.toml)
    fake_py = tmp_path / "python"
    fake_py.write_text(
        f'#!/bin/sh\necho "$@" > {tmp_path / "pip.args"}\n'
        "echo 'ERROR: No matching distribution' >&2\nexit 1\n"
    )
    fake_py.chmod(0o755)
    proc = subprocess.run(
        ["make", "-s", "-C", str(ROOT), "pio", f"VENV={venv}", f"PY={fake_py}"],
        capture_output=True, text=True,
    )  # fmt: skip
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert (tmp_path / "pip.args").read_text().split()[:4] == ["-m", "pip", "install", "-q"]
    assert pio.PIO_SPEC in (tmp_path / "pip.args").read_text()
    lines = [ln for ln in proc.stderr.splitlines() if ln.startswith("tinykws: error:")]
    assert len(lines) == 1 and "could not install PlatformIO" in lines[0]
    assert "without CORE=arduino" in lines[0]
    # the Makefile and tinykws/firmware/pio.py name the same PlatformIO versions
    assert f"PIO_SPEC := {pio.PIO_SPEC}" in (ROOT / "Makefile").read_text()
