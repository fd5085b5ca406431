"""`tinykws export --arduino-library`: layout against the Arduino library specification (1.5
format), sources that compile for the Nano 33 BLE's Cortex-M4, a detector whose audio window
is what the model must see, and refusals (issue 15, item 5).

Spec rules checked (arduino.github.io/arduino-cli/latest/library-specification/): one root
folder named as the library; library.properties with name, version (semver), author,
maintainer, sentence, paragraph, category (one of the spec's), url, architectures; `name`
starting with a letter or digit, of letters, digits, spaces, underscores, dots and dashes; code
in src/ (1.5 format), so no utility/ folder; each example in examples/<Name>/<Name>.ino.
Building against the real Arduino core cannot be done offline: not tested here.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import zipfile
from pathlib import Path

import pytest

from tinykws import cli
from tinykws.errors import TinyKWSError
from tinykws.export.arduino import CATEGORIES, export_arduino_library

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "models" / "demo"
REQUIRED = ("name", "version", "author", "maintainer", "sentence", "paragraph", "category", "url",
            "architectures")  # fmt: skip
needs_arm = pytest.mark.skipif(shutil.which("arm-none-eabi-gcc") is None, reason="no arm-none-eabi-gcc")


@pytest.fixture(scope="module")
def library(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(zip, unpacked folder) of the demo model's library."""
    tmp = tmp_path_factory.mktemp("arduino")
    zpath = tmp / "TinyKWS_demo.zip"
    assert cli.main(["export", str(DEMO), "--arduino-library", str(zpath)]) == 0
    with zipfile.ZipFile(zpath) as z:
        z.extractall(tmp / "unzipped")
    return zpath, tmp / "unzipped"


def _properties(root: Path) -> dict[str, str]:
    props = {}
    for line in (root / "library.properties").read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.startswith("#"):
            key, sep, val = line.partition("=")
            assert sep, line
            props[key] = val
    return props


def test_layout_follows_the_library_specification(library: tuple[Path, Path]) -> None:
    zpath, unzipped = library
    names = zipfile.ZipFile(zpath).namelist()
    roots = {n.split("/", 1)[0] for n in names}
    assert roots == {"TinyKWS_demo"}  # one folder, named as the library
    root = unzipped / "TinyKWS_demo"
    props = _properties(root)
    for key in REQUIRED:
        assert props.get(key, "").strip(), key
    assert props["name"] == "TinyKWS_demo"
    assert re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9 _.\-]*", props["name"])
    assert re.fullmatch(r"\d+\.\d+\.\d+", props["version"])
    assert props["category"] in CATEGORIES
    assert "mbed_nano" in props["architectures"].split(",")
    assert props["url"].startswith("https://")
    assert props["includes"] == "TinyKWS_demo.h" and (root / "src" / "TinyKWS_demo.h").is_file()
    assert not (root / "utility").exists()  # 1.5 format: sources in src/ only
    assert {p.name for p in root.iterdir()} == {"library.properties", "src", "examples"}
    src = {p.name for p in (root / "src").iterdir()}
    # compiled model, int8 kernels, C front end with the model's constants, labels, the C API
    for must in ("tinykws_model.c", "tinykws_model.h", "conv_s8.c", "depthwise_conv_s8.c",
                 "fully_connected_s8.c", "softmax_s8.c", "tinykws_kernels.h", "tinykws_features.c",
                 "tinykws_features.h",
                 "features_config.h", "labels.h", "tinykws_detector.c", "tinykws_detector.h"):  # fmt: skip
        assert must in src, must
    assert "model_data.c" not in src  # no interpreter array: the compiled graph runs alone
    examples = list((root / "examples").iterdir())
    assert [e.name for e in examples] == ["TinyKWS_demo"]
    assert [p.name for p in examples[0].iterdir()] == ["TinyKWS_demo.ino"]
    # the shipped labels are those of the model
    import json

    labels = json.loads((DEMO / "tinykws.json").read_text())["labels"]
    header = (root / "src" / "labels.h").read_text()
    assert f"#define TINYKWS_NUM_LABELS {len(labels)}" in header
    assert all(f'"{lab}"' in header for lab in labels)


def test_example_listens_on_the_pdm_microphone(library: tuple[Path, Path]) -> None:
    ino = (library[1] / "TinyKWS_demo" / "examples" / "TinyKWS_demo" / "TinyKWS_demo.ino").read_text()
    assert "#include <PDM.h>" in ino and "#include <TinyKWS_demo.h>" in ino
    assert "PDM.onReceive(" in ino and "PDM.begin(1, SAMPLE_RATE)" in ino and "SAMPLE_RATE = 16000" in ino
    assert "tinykws_detector_init()" in ino and "tinykws_detector_feed(" in ino
    assert 'Serial.print("detected ")' in ino and "Serial.begin(115200)" in ino
    assert "@" not in re.sub(r"//.*|/\*.*?\*/", "", ino, flags=re.S)  # every template field filled


def test_zip_is_reproducible(library: tuple[Path, Path], tmp_path: Path) -> None:
    again = tmp_path / "again.zip"
    export_arduino_library(DEMO, again)
    assert again.read_bytes() == library[0].read_bytes()


@needs_arm
def test_sources_compile_for_cortex_m4_with_warnings_as_errors(
    library: tuple[Path, Path], tmp_path: Path
) -> None:
    src = library[1] / "TinyKWS_demo" / "src"
    sources = sorted(src.glob("*.c"))
    assert len(sources) >= 10
    for c in sources:
        cmd = ["arm-none-eabi-gcc", "-mcpu=cortex-m4", "-mthumb", "-std=c99", "-Wall", "-Wextra", "-Werror",
               f"-I{src}", "-c", str(c), "-o", str(tmp_path / (c.stem + ".o"))]  # fmt: skip
        proc = subprocess.run(cmd, capture_output=True, text=True)
        assert proc.returncode == 0, f"{c.name}:\n{proc.stderr}"
    # the main header is valid C (and C++ includes it from the sketch)
    probe = tmp_path / "probe.c"
    probe.write_text('#include "TinyKWS_demo.h"\nint probe(void) { return tinykws_num_labels(); }\n')
    cmd = ["arm-none-eabi-gcc", "-mcpu=cortex-m4", "-mthumb", "-std=c99", "-Wall", "-Wextra", "-Werror",
           f"-I{src}", "-c", str(probe), "-o", str(tmp_path / "probe.o")]  # fmt: skip
    assert subprocess.run(cmd, capture_output=True, text=True).returncode == 0


_HOST_MAIN = r"""
#include <stdio.h>
#include <string.h>
#include "tinykws_detector.h"
#include "tinykws_features.h"
#include "tinykws_model.h"

/* Feed a known signal in odd-sized chunks; after each whole hop, the detector's posteriors
 * must equal the model run on the last second of that signal (zero-padded at the start). */
static int16_t sig(long i) { return (int16_t)(((i * 7919L) % 20011L) - 10005L) / 4; }

int main(void)
{
    static int16_t all[48000], window[16000], chunk[333];
    static int8_t in[TINYKWS_INPUT_SIZE], out[TINYKWS_OUTPUT_SIZE];
    long fed = 0, i;
    int hops = 0, mismatches = 0, c;
    tinykws_detection d;
    for (i = 0; i < 48000; i++) all[i] = sig(i);
    tinykws_detector_init();
    while (fed + 333 <= 48000) {
        long before = fed / 4000;
        memcpy(chunk, all + fed, sizeof(chunk));
        if (tinykws_detector_feed(chunk, 333, &d) < 0) return 2;
        fed += 333;
        if (fed / 4000 != before) { /* a hop ended inside this chunk: check at its end */
            long end = (fed / 4000) * 4000;
            float got[TINYKWS_OUTPUT_SIZE];
            for (i = 0; i < 16000; i++) {
                long j = end - 16000 + i;
                window[i] = j >= 0 ? all[j] : 0;
            }
            tinykws_features_int8(window, 16000, in);
            if (tinykws_invoke(in, out) != 0) return 3;
            tinykws_detector_scores(got);
            for (c = 0; c < TINYKWS_OUTPUT_SIZE; c++) {
                float want = (float)(out[c] - (TINYKWS_OUTPUT_ZERO_POINT)) * (TINYKWS_OUTPUT_SCALE);
                if (got[c] != want) mismatches++;
            }
            hops++; /* the chunk's samples after `end` already belong to the next hop */
        }
    }
    printf("labels %d first %s hops %d mismatches %d\n", tinykws_num_labels(), tinykws_label(0), hops,
           mismatches);
    return 0;
}
"""


def test_detector_window_on_the_host(library: tuple[Path, Path], tmp_path: Path) -> None:
    """The library's C, built for the host: the detector's window after each hop is the last
    second of what was fed, whatever the chunk sizes (checked against the model run directly)."""
    if shutil.which("gcc") is None:
        pytest.skip("gcc not installed")
    src = library[1] / "TinyKWS_demo" / "src"
    main_c = tmp_path / "main.c"
    main_c.write_text(_HOST_MAIN)  # 333-sample chunks: hops end inside chunks
    exe = tmp_path / "det"
    cmd = ["gcc", "-O1", "-std=c99", "-Wall", "-Wextra", f"-I{src}", *map(str, sorted(src.glob("*.c"))),
           str(main_c), "-o", str(exe), "-lm"]  # fmt: skip
    proc = subprocess.run(cmd, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    out = subprocess.run([str(exe)], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    m = re.fullmatch(r"labels (\d+) first (\S+) hops (\d+) mismatches (\d+)\n", out.stdout)
    assert m, out.stdout
    assert (int(m[1]), m[2]) == (12, "_silence_")
    assert int(m[3]) == 11  # 47952 samples fed (144 chunks), a hop every 4000
    assert int(m[4]) == 0


def test_model_too_big_for_the_board_is_refused_with_sizes(tmp_path: Path) -> None:
    small = tmp_path / "tiny33.toml"
    text = (ROOT / "boards" / "nano33.toml").read_text().replace('name = "nano33"', 'name = "tiny33"')
    text = re.sub(r"(?m)^flash_bytes = \d+", "flash_bytes = 20000", text)
    small.write_text(text)
    out = tmp_path / "lib.zip"
    with pytest.raises(TinyKWSError, match=r"does not fit tiny33 .*flash \d+ > 20000 bytes") as exc:
        export_arduino_library(DEMO, out, board=str(small))
    assert "\n" not in str(exc.value)
    assert not out.exists()  # nothing written


def test_bad_input_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    tfl = tmp_path / "m.tflite"
    tfl.write_bytes((DEMO / "model_int8.tflite").read_bytes())
    for args, want in (
        (["export", str(tfl), "--arduino-library", str(tmp_path / "a.zip")], "needs a model directory"),
        (["export", str(DEMO), "--arduino-library", str(tmp_path / "a.tar")], "must end in .zip"),
        (["export", str(DEMO), "--arduino-library", str(tmp_path / "a.zip"), "--library-name", "9 bad"],
         "--library-name"),
        (["export", str(DEMO), "--arduino-library", str(tmp_path / "a.zip"), "--board", "nope"],
         "unknown board"),
    ):  # fmt: skip
        assert cli.main(args) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith("tinykws: error:") and want in err[0], err
