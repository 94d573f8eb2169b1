"""The build directory: what `edgeq build` writes and `edgeq run/validate/report` read.

OUT/
  build.json     metadata (edgeq version, board, model, input/output parameters and layouts)
  report.json    the report (source of truth for every rendering)
  graph.pkl      the float and quantized graphs (for the int8 reference and per-layer checks)
  graph.txt      the quantized graph, as text
  src/           generated C
  bin/           the built firmware (host executable, or ELF/bin/hex)

A build is written to a temporary sibling directory and moved into place at the end, so a
failed build never leaves a directory that looks complete.
"""

from __future__ import annotations

import json
import os
import pickle
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edgeq import __version__
from edgeq.errors import EdgeqError
from edgeq.ir.graph import Graph

BUILD_JSON = "build.json"
REPORT_JSON = "report.json"
GRAPHS = "graph.pkl"
OUR_ENTRIES = (BUILD_JSON, REPORT_JSON, GRAPHS, "graph.txt", "src", "bin")


def is_build_dir(path: Path) -> bool:
    return (path / BUILD_JSON).is_file()


@contextmanager
def staged_output(out: Path, force: bool = False) -> Iterator[Path]:
    """Yield a fresh staging directory; on success its contents replace `out`'s."""
    out = out.resolve()
    if out.exists() and not out.is_dir():
        raise EdgeqError(f"output path {out} exists and is not a directory")
    if out.is_dir() and any(out.iterdir()) and not is_build_dir(out) and not force:
        raise EdgeqError(f"output directory {out} exists and holds other files; "
                         "choose another -o or pass --force to write into it")
    out.parent.mkdir(parents=True, exist_ok=True)
    stage = Path(tempfile.mkdtemp(prefix=f".{out.name}.edgeq-", dir=out.parent))
    try:
        yield stage
    except BaseException:
        shutil.rmtree(stage, ignore_errors=True)
        raise
    out.mkdir(exist_ok=True)
    for name in OUR_ENTRIES:  # replace only what edgeq writes; other files stay
        target = out / name
        if target.is_dir():
            shutil.rmtree(target)
        elif target.exists():
            target.unlink()
    for entry in stage.iterdir():
        os.replace(entry, out / entry.name)
    shutil.rmtree(stage, ignore_errors=True)


@dataclass
class BuildDir:
    path: Path
    meta: dict[str, Any]

    @classmethod
    def open(cls, path: str | Path) -> BuildDir:
        p = Path(path)
        if not p.is_dir():
            raise EdgeqError(f"build directory {p} does not exist (run `edgeq build` first)")
        meta_path = p / BUILD_JSON
        if not meta_path.is_file():
            raise EdgeqError(f"{p} is not an edgeq build directory (no {BUILD_JSON})")
        meta = read_json(meta_path, str(meta_path))
        version = meta.get("edgeq_version")
        if version != __version__:
            raise EdgeqError(f"{p} was built by edgeq {version}, this is edgeq {__version__}; rebuild it")
        return cls(p, meta)

    def graphs(self) -> tuple[Graph | None, Graph]:
        """(float graph, quantized graph); the float graph is None for imported int8 models."""
        try:
            with (self.path / GRAPHS).open("rb") as f:
                data = pickle.load(f)
            return data["float"], data["quantized"]
        except (OSError, pickle.UnpicklingError, KeyError, EOFError, AttributeError) as e:
            raise EdgeqError(f"{self.path / GRAPHS} is missing or corrupt ({type(e).__name__}); rebuild") from None

    def report(self) -> dict[str, Any]:
        path = self.path / REPORT_JSON
        if not path.is_file():
            raise EdgeqError(f"{path} is missing; rebuild with `edgeq build`")
        return read_json(path, str(path))

    def write_report(self, report: dict[str, Any]) -> None:
        write_json_atomic(self.path / REPORT_JSON, report)


def read_json(path: Path, what: str) -> Any:
    """A JSON file edgeq wrote; a corrupt one is a one-line EdgeqError naming `what`."""
    try:
        return json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise EdgeqError(f"{what} is corrupt: {e}") from None


def write_json_atomic(path: Path, data: dict[str, Any]) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=False) + "\n")
    os.replace(tmp, path)


def save_graphs(stage: Path, float_graph: Graph | None, quantized: Graph) -> None:
    with (stage / GRAPHS).open("wb") as f:
        pickle.dump({"float": float_graph, "quantized": quantized}, f)
