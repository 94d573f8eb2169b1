"""The README's main job through the CLI (example -> build -> validate), on the native board,
once per test session (per xdist worker); tests copy the build before changing it."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from edgeq.cli import main


@pytest.fixture(scope="session")
def main_job(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    pytest.importorskip("torch")
    pytest.importorskip("sklearn")
    d = tmp_path_factory.mktemp("report_main_job")
    assert main(["example", "digits", "--epochs", "6", "-o", str(d / "ex"), "-q"]) == 0
    assert main(["build", str(d / "ex" / "digits.pt2"), "--calib", str(d / "ex" / "calib.npy"), "--board", "native",
                 "-o", str(d / "b"), "-q"]) == 0
    assert main(["validate", str(d / "b"), "--data", str(d / "ex" / "test.npz"), "-q"]) == 0
    return {"dir": d, "build": d / "b", "test": d / "ex" / "test.npz", "calib": d / "ex" / "calib.npy",
            "model": d / "ex" / "digits.pt2"}


@pytest.fixture
def build_copy(main_job: dict[str, Path], tmp_path: Path) -> Path:
    """A private copy of the validated build directory."""
    dst = tmp_path / "b"
    shutil.copytree(main_job["build"], dst, symlinks=True)
    return dst
