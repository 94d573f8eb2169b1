"""Host builds of generated C: a shared library for in-process checks (tests, layer by layer
comparisons) with the same strict flags as every edgeq build."""

from __future__ import annotations

import ctypes
import os
import shutil
import subprocess
from pathlib import Path

import numpy as np

from edgeq.errors import EdgeqError

STRICT_FLAGS = ["-std=c99", "-Wall", "-Wextra", "-Werror", "-Wno-unused-function"]


def host_cc() -> str:
    cc = os.environ.get("CC") or shutil.which("cc") or shutil.which("gcc")
    if cc is None:
        raise EdgeqError("no host C compiler found: install gcc (apt-get install gcc) or set CC")
    return cc


def compile_shared(src_dir: Path, out: Path, extra_flags: list[str] | None = None) -> Path:
    sources = sorted(str(p) for p in src_dir.glob("model*.c"))
    cmd = [host_cc(), *STRICT_FLAGS, "-O2", "-fPIC", "-shared", f"-I{src_dir}", *sources, "-o", str(out),
           *(extra_flags or [])]
    result = subprocess.run(cmd, capture_output=True, text=True)
    if result.returncode != 0:
        raise EdgeqError(f"host build failed: {result.stderr.strip().splitlines()[0] if result.stderr else ''}")
    return out


class SharedModel:
    """A generated model loaded with ctypes: run int8 inputs in process."""

    def __init__(self, library: Path, c_name: str, input_size: int, output_size: int) -> None:
        self.lib = ctypes.CDLL(str(library))
        self.fn = getattr(self.lib, f"edgeq_{c_name}_run")
        self.fn.argtypes = [ctypes.c_void_p, ctypes.c_void_p]
        self.fn.restype = None
        self.input_size, self.output_size = input_size, output_size

    def run(self, x: np.ndarray) -> np.ndarray:
        """int8 inputs [N, ...] (graph layout) to int8 outputs [N, output_size]."""
        flat = np.ascontiguousarray(x, dtype=np.int8).reshape(-1, self.input_size)
        out = np.zeros((flat.shape[0], self.output_size), dtype=np.int8)
        for i in range(flat.shape[0]):
            row = np.ascontiguousarray(flat[i])
            self.fn(row.ctypes.data, out[i].ctypes.data)
        return out
