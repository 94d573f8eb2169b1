"""The firmware's 64-bit division by a small divisor (firmware/hal/div64.h: the emulated boards'
microseconds, without libgcc's 64-bit division routine), compiled by host gcc and compared with
the compiler's own division."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.skipif(shutil.which("gcc") is None, reason="needs gcc")
def test_div_u64_small_equals_64_bit_division(tmp_path: Path) -> None:
    exe = tmp_path / "div64_check"
    subprocess.run(["gcc", "-std=c99", "-O2", "-Wall", "-Wextra", "-Werror", "-I", str(ROOT / "firmware" / "hal"),
                    str(ROOT / "tests" / "c" / "div64_check.c"), "-o", str(exe)], check=True)
    out = subprocess.run([str(exe)], capture_output=True, text=True)
    assert out.stdout.strip() == "0" and out.returncode == 0
