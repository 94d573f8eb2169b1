"""The Python fixed-point helpers equal their C twins, ties and corners included."""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pytest

from edgeq.codegen.env import RUNTIME_DIR
from edgeq.quant import fixedpoint as fp
from edgeq.toolchain.host import STRICT_FLAGS, host_cc

CHECK_C = Path(__file__).resolve().parent.parent / "c" / "fixedpoint_check.c"
I32_MIN, I32_MAX = -(2**31), 2**31 - 1


@pytest.fixture(scope="module")
def c_twin(tmp_path_factory: pytest.TempPathFactory) -> Path:
    exe = tmp_path_factory.mktemp("fp") / "fixedpoint_check"
    subprocess.run([host_cc(), *STRICT_FLAGS, f"-I{RUNTIME_DIR}", str(CHECK_C), "-o", str(exe)], check=True)
    return exe


def _cases() -> np.ndarray:
    rng = np.random.default_rng(0)
    corners = [
        (I32_MIN, I32_MIN, 0), (I32_MIN, I32_MAX, -1), (I32_MAX, I32_MAX, 0), (I32_MIN, 1 << 30, 1),
        (-1, 1 << 30, -1), (1, 1 << 30, -1), (3, 1 << 30, -1), (-3, 1 << 30, -1),  # ties: x.5
        (5, 1 << 30, -2), (-5, 1 << 30, -2), (6, 1 << 30, -2), (-6, 1 << 30, -2),
        (0, 0, 0), (123456, 1518500250, 3), (-123456, 1518500250, 3), (1 << 20, I32_MAX, 10),
        (-(1 << 20), I32_MAX, -31), (I32_MAX, 1 << 30, -31), (I32_MIN, 1 << 30, -31),
    ]
    rand = np.stack([rng.integers(I32_MIN, I32_MAX, 3000, endpoint=True),
                     rng.integers(1 << 30, I32_MAX, 3000, endpoint=True),
                     rng.integers(-31, 8, 3000)], axis=1)
    small = np.stack([rng.integers(-1000, 1000, 2000), rng.integers(1 << 30, I32_MAX, 2000),
                      rng.integers(-12, 3, 2000)], axis=1)
    return np.concatenate([np.array(corners, dtype=np.int64), rand, small])


def test_python_twin_equals_c(c_twin: Path) -> None:
    cases = _cases()
    text = "\n".join(f"{a} {b} {c}" for a, b, c in cases) + "\n"
    out = subprocess.run([str(c_twin)], input=text, capture_output=True, text=True, check=True).stdout
    got = np.array([[int(v) for v in line.split()] for line in out.splitlines()], dtype=np.int64)
    a, b, c = cases[:, 0], cases[:, 1], cases[:, 2]
    expected = np.stack([
        fp.saturating_rounding_doubling_high_mul(a, b),
        fp.rounding_divide_by_pot(a, c & 31),
        fp.multiply_by_quantized_multiplier(a, b, c),
        fp.multiply_by_quantized_multiplier_smaller_than_one_exp(a, b, -(c & 31)),
    ], axis=1)
    np.testing.assert_array_equal(got, expected)


def test_srdhm_int32_min_corner_saturates() -> None:
    assert int(fp.saturating_rounding_doubling_high_mul(I32_MIN, I32_MIN)) == I32_MAX


@pytest.mark.parametrize(("x", "exponent", "expected"), [
    (5, 1, 3), (-5, 1, -3), (6, 2, 2), (-6, 2, -2), (2, 2, 1), (-2, 2, -1), (1, 1, 1), (-1, 1, -1), (7, 0, 7),
])
def test_rounding_divide_ties_away_from_zero(x: int, exponent: int, expected: int) -> None:
    assert int(fp.rounding_divide_by_pot(x, exponent)) == expected


@pytest.mark.parametrize("real", [1e-9, 0.0001, 0.25, 0.5, 0.999999, 1.0, 1.5, 3.7, 1000.0])
def test_quantize_multiplier_represents_the_real(real: float) -> None:
    m, shift = fp.quantize_multiplier(real)
    assert (1 << 30) <= m < (1 << 31)
    assert abs(m * 2.0 ** (shift - 31) - real) <= real * 2**-30


def test_quantize_multiplier_rounding_up_to_two_pow_31() -> None:
    m, shift = fp.quantize_multiplier(1.0 - 2**-40)
    assert (m, shift) == (1 << 30, 1)
