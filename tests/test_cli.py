"""The command line: every command's --help, and one clear line (no traceback, non-zero exit,
no complete-looking output) for each kind of bad input."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from edgeq.cli import main

torch = pytest.importorskip("torch")


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("cli")
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Conv2d(2, 4, 3), torch.nn.ReLU(), torch.nn.Flatten(),
                                torch.nn.Linear(4 * 4 * 4, 3)).eval()
    torch.export.save(torch.export.export(model, (torch.randn(1, 2, 6, 6),)), str(d / "tiny.pt2"))
    gelu = torch.nn.Sequential(torch.nn.Linear(4, 4), torch.nn.GELU()).eval()
    torch.export.save(torch.export.export(gelu, (torch.randn(1, 4),)), str(d / "gelu.pt2"))
    rng = np.random.default_rng(0)
    np.save(d / "calib.npy", rng.normal(size=(16, 2, 6, 6)).astype(np.float32))
    np.save(d / "x.npy", rng.normal(size=(5, 2, 6, 6)).astype(np.float32))
    (d / "garbage.pt2").write_bytes(b"\x00not a zip file at all" * 10)
    (d / "model.txt").write_text("hello")
    return {p.stem: p for p in d.iterdir()}


def _error(capsys: pytest.CaptureFixture[str], argv: list[str]) -> str:
    code = main(argv)
    err = capsys.readouterr().err.strip()
    assert code == 1, err
    assert err.startswith("edgeq: error: ") and "\n" not in err and "Traceback" not in err, err
    return err


@pytest.mark.parametrize("command", ["build", "run", "validate", "report", "flash", "boards", "ops", "example",
                                     "bench", "compare"])
def test_help_for_every_command(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as e:
        main([command, "--help"])
    assert e.value.code == 0
    assert "usage: edgeq " + command in capsys.readouterr().out


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["--version"])
    assert capsys.readouterr().out.startswith("edgeq 0.")


def test_boards_and_ops_list(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["boards", "--json"]) == 0
    boards = {b["id"] for b in json.loads(capsys.readouterr().out)}
    assert {"native", "qemu-cortex-m4"} <= boards
    assert main(["ops", "--json"]) == 0
    ops = json.loads(capsys.readouterr().out)
    assert any("Conv2d" in layer for layer, _ in ops["PyTorch"])
    assert any("Conv2D" in layer for layer, _ in ops["Keras"])


def test_build_run_native_and_raw(files: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "b"
    assert main(["build", str(files["tiny"]), "--calib", str(files["calib"]), "--board", "native",
                 "-o", str(out), "-q"]) == 0
    report = json.loads((out / "report.json").read_text())
    assert report["board"] == "native" and report["model"]["format"] == "pytorch"
    assert main(["run", str(out), "--inputs", str(files["x"]), "-o", str(tmp_path / "y.npy"), "-q"]) == 0
    y = np.load(tmp_path / "y.npy")
    assert y.shape == (5, 3) and y.dtype == np.float32
    xq = np.random.default_rng(1).integers(-128, 128, size=(4, 2, 6, 6)).astype(np.int8)
    np.save(tmp_path / "xq.npy", xq)
    assert main(["run", str(out), "--inputs", str(tmp_path / "xq.npy"), "--raw", "-o", str(tmp_path / "yq.npy"),
                 "-q"]) == 0
    assert np.load(tmp_path / "yq.npy").dtype == np.int8
    # Rebuilding into a previous build directory is allowed.
    assert main(["build", str(files["tiny"]), "--calib", str(files["calib"]), "--board", "native",
                 "-o", str(out), "-q"]) == 0
    capsys.readouterr()
    # --raw with float inputs is refused.
    assert "--raw inputs must be int8" in _error(capsys, ["run", str(out), "--inputs", str(files["x"]), "--raw"])


def _bad_calib(tmp_path: Path, name: str, array: np.ndarray) -> Path:
    path = tmp_path / f"{name}.npy"
    np.save(path, array)
    return path


@pytest.mark.parametrize(("case", "expected"), [
    ("missing_model", "does not exist"),
    ("corrupt_model", "garbage.pt2"),
    ("unknown_type", "unknown file type"),
    ("wrong_shape", "the model takes [2, 6, 6]"),
    ("wrong_rank", "rank"),
    ("wrong_dtype", "not numeric"),
    ("nan", "NaN or inf"),
    ("empty", "no samples"),
    ("unsupported_layer", "GELU"),
    ("unknown_board", "unknown board 'no-such-board'"),
    ("missing_calib", "does not exist"),
    ("no_calib", "calibration data is required"),
])
def test_bad_build_inputs(case: str, expected: str, files: dict[str, Path], tmp_path: Path,
                          capsys: pytest.CaptureFixture[str]) -> None:
    model, calib, board = files["tiny"], files["calib"], "native"
    if case == "missing_model":
        model = tmp_path / "nope.pt2"
    elif case == "corrupt_model":
        model = files["garbage"]
    elif case == "unknown_type":
        model = files["model"]
    elif case == "wrong_shape":
        calib = _bad_calib(tmp_path, case, np.zeros((4, 2, 6, 7), np.float32))
    elif case == "wrong_rank":
        calib = _bad_calib(tmp_path, case, np.zeros((4, 72), np.float32))
    elif case == "wrong_dtype":
        calib = _bad_calib(tmp_path, case, np.full((4, 2, 6, 6), "a"))
    elif case == "nan":
        a = np.zeros((4, 2, 6, 6), np.float32)
        a[2, 1, 0, 0] = np.nan
        calib = _bad_calib(tmp_path, case, a)
    elif case == "empty":
        calib = _bad_calib(tmp_path, case, np.zeros((0, 2, 6, 6), np.float32))
    elif case == "unsupported_layer":
        model = files["gelu"]
    elif case == "unknown_board":
        board = "no-such-board"
    elif case == "missing_calib":
        calib = tmp_path / "nope.npy"
    out = tmp_path / "out"
    calib_args = [] if case == "no_calib" else ["--calib", str(calib)]
    err = _error(capsys, ["build", str(model), *calib_args, "--board", board, "-o", str(out)])
    assert expected in err
    assert not out.exists() or not (out / "report.json").exists()
    assert not list(tmp_path.glob(".out.edgeq-*")), "staging directory left behind"


def test_output_directory_with_other_files(files: dict[str, Path], tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "mine"
    out.mkdir()
    (out / "notes.txt").write_text("precious")
    argv = ["build", str(files["tiny"]), "--calib", str(files["calib"]), "--board", "native", "-o", str(out)]
    assert "--force" in _error(capsys, argv)
    assert sorted(p.name for p in out.iterdir()) == ["notes.txt"]
    assert main([*argv, "--force", "-q"]) == 0
    assert (out / "notes.txt").read_text() == "precious"
    assert (out / "report.json").is_file()


def test_not_a_build_directory(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert "not an edgeq build directory" in _error(capsys, ["report", str(tmp_path)])
    (tmp_path / "build.json").write_text("{not json")
    assert "corrupt" in _error(capsys, ["report", str(tmp_path)])


def test_subprocess_error_has_no_traceback(tmp_path: Path) -> None:
    proc = subprocess.run([sys.executable, "-m", "edgeq.cli", "build", str(tmp_path / "x.pt2"), "--calib", "c.npy"],
                          capture_output=True, text=True)
    assert proc.returncode == 1
    assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr
    usage = subprocess.run([sys.executable, "-m", "edgeq.cli", "build"], capture_output=True, text=True)
    assert usage.returncode == 2
