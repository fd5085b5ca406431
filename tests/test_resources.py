"""Where shipped files and user-named boards and models are found (tinykws.resources)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tinykws import resources
from tinykws.boards import load_board
from tinykws.cli import main
from tinykws.errors import TinyKWSError

ROOT = Path(__file__).resolve().parents[1]


def test_checkout_reads_its_own_top_level_folders() -> None:
    # this test suite runs from a checkout (editable install): no packaged copy, the root's folders
    assert resources.source_root() == ROOT
    assert resources.data_root() == ROOT
    assert resources.firmware_dir() == ROOT / "firmware"
    assert "qemu-m4" in resources.list_boards() and "nano33" in resources.list_boards()
    assert {"demo", "embed-ml", "embed-rt"} <= set(resources.shipped_models())
    assert resources.build_root() == ROOT / "build"


def test_no_module_finds_shipped_files_relative_to_its_own_file() -> None:
    # one resource module: no other module of the package climbs from __file__ to the tree
    offenders = []
    for path in sorted((ROOT / "tinykws").rglob("*.py")):
        text = path.read_text(encoding="utf-8")
        if re.search(r"__file__|\.parents\[", text):
            offenders.append(str(path.relative_to(ROOT)))
    assert offenders == []


def _my_board(folder: Path, name: str) -> Path:
    text = (ROOT / "boards" / "qemu-m4.toml").read_text().replace('name = "qemu-m4"', f'name = "{name}"')
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.toml"
    path.write_text(text)
    return path


def test_board_resolution_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    # a path given
    given = _my_board(tmp_path / "elsewhere", "given-board")
    b = load_board(str(given))
    assert b.path == given and b.name == "given-board"
    # its port folder (firmware/ports/qemu) is not beside it: the packaged firmware is used
    assert b.port_dir == ROOT / "firmware" / "ports" / "qemu"
    # a name found in the current directory, and in ./boards
    _my_board(tmp_path, "here-board")
    assert load_board("here-board").path == tmp_path / "here-board.toml"
    _my_board(tmp_path / "boards", "sub-board")
    assert load_board("sub-board").path == tmp_path / "boards" / "sub-board.toml"
    # the current directory wins over the packaged profile of the same name
    _my_board(tmp_path, "qemu-m4")
    assert load_board("qemu-m4").path == tmp_path / "qemu-m4.toml"
    (tmp_path / "qemu-m4.toml").unlink()
    assert load_board("qemu-m4").path == ROOT / "boards" / "qemu-m4.toml"


def test_board_port_beside_the_profile_is_preferred(tmp_path: Path) -> None:
    port = tmp_path / "firmware" / "ports" / "qemu"
    port.mkdir(parents=True)
    (port / "mps2-an386.ld").write_text("/* a user's own linker script */\n")
    b = load_board(str(_my_board(tmp_path / "boards", "own-port")))
    assert b.port_dir == port  # boards/x.toml beside firmware/: the user's project layout


def test_unknown_board_is_one_line_listing_known_boards(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(TinyKWSError, match=r"known boards: .*qemu-m4"):
        load_board("qemu-m99")
    with pytest.raises(TinyKWSError, match="no such board profile file"):
        load_board("some/dir/board.toml")
    assert main(["build", "--board", "qemu-m99", "--model", "x.tflite"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert err[0].startswith("tinykws: error: board 'qemu-m99': unknown board")
    assert "nano33" in err[0] and "qemu-m4" in err[0]


def test_model_resolution_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from tinykws.firmware.build import resolve_model

    monkeypatch.chdir(tmp_path)
    # nothing here: models/demo and demo are the shipped model
    tfl, mdir = resolve_model("models/demo")
    assert mdir == ROOT / "models" / "demo" and tfl == mdir / "model_int8.tflite"
    assert resolve_model("demo")[1] == ROOT / "models" / "demo"
    # a ./models/demo of the user's wins over the shipped one
    own = tmp_path / "models" / "demo"
    own.mkdir(parents=True)
    (own / "model_int8.tflite").write_bytes((ROOT / "models" / "demo" / "model_int8.tflite").read_bytes())
    assert resolve_model("models/demo")[1] == Path("models/demo")
    assert resolve_model("demo")[1] == Path("models/demo")
    # a path that matches nothing is named as the user typed it
    with pytest.raises(TinyKWSError, match=r"^nope/m: no such model directory"):
        resolve_model("nope/m")


def test_shared_dir_beside_the_checkout(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("TINYKWS_SHARED", raising=False)
    assert resources.shared_dir() == ROOT.parent / "shared"
    monkeypatch.setenv("TINYKWS_SHARED", str(tmp_path))
    assert resources.shared_dir() == tmp_path
