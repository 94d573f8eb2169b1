"""The Python API: build an in-memory model (or a file) and run inputs on the result.

    import edgeq
    built = edgeq.build(model, board="native", calib=x_calib, out="build", example_input=x[:1])
    built.report["size"]["flash_bytes"]
    y = built.run(x_test)
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from edgeq.boards import DEFAULT_BOARD
from edgeq.builddir import BuildDir
from edgeq.data import Dataset
from edgeq.execute import RunOutcome, run_build
from edgeq.pipeline import BuildOptions
from edgeq.pipeline import build as _build_pipeline


@dataclass
class BuiltModel:
    """A finished build: its directory, report, and a way to run inputs on its target."""

    build_dir: BuildDir

    @property
    def path(self) -> Path:
        return self.build_dir.path

    @property
    def report(self) -> dict[str, Any]:
        return self.build_dir.report()

    def run(self, x: np.ndarray, raw: bool = False, port: str | None = None) -> np.ndarray:
        """Outputs for inputs `x` in the framework's layout (float, or int8 with raw=True)."""
        return self.run_detailed(x, raw, port).outputs

    def run_detailed(self, x: np.ndarray, raw: bool = False, port: str | None = None) -> RunOutcome:
        return run_build(self.build_dir, np.asarray(x), "inputs", raw=raw, port=port)

    def validate(self, x: np.ndarray, y: np.ndarray | None = None, jobs: int = 1) -> dict[str, Any]:
        from edgeq.validate import validate

        return validate(self.build_dir, Dataset(np.asarray(x), None if y is None else np.asarray(y), "data"),
                        jobs=jobs)["validation"]


def build(model: Any, board: str = DEFAULT_BOARD, calib: np.ndarray | Iterable[np.ndarray] | str | Path | None = None,
          out: str | Path = "out", example_input: Any = None, observer: str = "minmax", force: bool = False,
          name: str | None = None, opt: str | None = None) -> BuiltModel:
    """Quantize `model` (torch.nn.Module with `example_input`, keras.Model, or a model file) on
    `calib` (samples in the framework's layout), generate C, build it for `board` into `out`."""
    options = BuildOptions(board=board, out=Path(out), observer=observer, force=force, opt=opt)
    return BuiltModel(_build_pipeline(model, calib, options, example_input=example_input, name=name))
