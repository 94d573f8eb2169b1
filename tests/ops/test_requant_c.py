"""The kernels' requantization (edgeq_mbqm_fast, 32-bit rounding) equals edgeq_mbqm bit for bit."""

from __future__ import annotations

import subprocess
from pathlib import Path

from edgeq.codegen.env import RUNTIME_DIR
from edgeq.toolchain.host import STRICT_FLAGS, host_cc


def test_fast_requant_matches_reference(tmp_path: Path) -> None:
    exe = tmp_path / "requant_check"
    src = Path(__file__).with_name("requant_check.c")
    subprocess.run([host_cc(), *STRICT_FLAGS, "-O2", f"-I{RUNTIME_DIR}", str(src), "-o", str(exe)], check=True)
    result = subprocess.run([str(exe)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout
