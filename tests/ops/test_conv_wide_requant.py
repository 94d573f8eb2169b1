"""The dsp conv kernel's "wide" requantization (edgeq_rq_sat(EDGEQ_RQ_WIDE_M2)), modelled in
integers, equals TFLite's multiply_by_quantized_multiplier + offset + saturation for every right
shift in [1, 31] and accumulators over the int32 range (for a shift of 1 up to 2^31 - 512); and
the constants kernel_context stores for it (2m - 2^32, r - 1, a dead channel's replacement)."""

from __future__ import annotations

import numpy as np
import pytest

from edgeq.ops.conv2d import dsp_wide_requant, wide_stream
from edgeq.quant.fixedpoint import multiply_by_quantized_multiplier


def _wide(acc: np.ndarray, m2: int, s: int, k: int) -> np.ndarray:
    """SMMLAR(acc, m2, acc); ((high + (high >> 31)) >> s) + k; SSAT #8 of it >> 1."""
    acc = acc.astype(np.int64)
    high = (acc * m2 + (acc << 32) + (1 << 31)) >> 32
    t = ((high + (high >> 31)) >> s) + k
    assert np.all(np.abs(t) < 2**31)  # no int32 overflow on the way
    return np.clip(t >> 1, -128, 127)


def _reference(acc: np.ndarray, m: int, r: int, off: int) -> np.ndarray:
    return np.clip(multiply_by_quantized_multiplier(acc, m, -r) + off, -128, 127)


@pytest.mark.parametrize("r", [1, 2, 7, 8, 13, 23, 24, 27, 30, 31])
def test_wide_requantization_is_exact(r: int) -> None:
    rng = np.random.default_rng(r)
    acc = np.concatenate([rng.integers(-(2**31), 2**31, 20000), rng.integers(-(2**20), 2**20, 20000),
                          np.arange(-3000, 3000), [-(2**31), -(2**31) + 1, 2**31 - 1, 2**31 - 2, 0, -1, 1]])
    if r == 1:  # kernel_context keeps |acc| below 2^31 - 512 for a shift of 1 (high is not halved)
        acc = np.clip(acc, -(2**31) + 512, 2**31 - 513)
    for m in [2**30, 2**31 - 1, int(rng.integers(2**30, 2**31))]:
        for off in [-128, -5, 0, 17, 127]:
            got = _wide(acc, 2 * m - 2**32, r - 1, 2 * off + 1)
            np.testing.assert_array_equal(got, _reference(acc, m, r, off), err_msg=f"m={m} r={r} off={off}")


def test_wide_constants_and_dead_channel() -> None:
    rq = dict(mult=[2**30, 0, 1_500_000_000, 1_500_000_000], shift=[3, 0, 31, 31], rq_kind="right",
              per_tensor=False, rq_k=[])
    w = np.full((3, 9), 127)
    out = dsp_wide_requant(rq, [10, -(2**20), 5], w, 3)
    assert out is not None and out["rq_kind"] == "wide"
    assert out["mult"] == [-(2**31), -(2**31), 3_000_000_000 - 2**32, 3_000_000_000 - 2**32]
    assert out["shift"] == [2, 30, 30, 30]
    # the dead channel's replacement gives its offset for every accumulator of its bound
    bound = 2**20 + 128 * 9 * 127
    acc = np.arange(-bound, bound + 1, 97)
    np.testing.assert_array_equal(_wide(acc, out["mult"][1], out["shift"][1], 2 * 9 + 1), 9)
    # a channel with no right shift, or a multiplier out of [2^30, 2^31), keeps the long form
    assert dsp_wide_requant(dict(rq, shift=[0, 0, 31, 31]), [10, 0, 5], w, 3) is None
    assert dsp_wide_requant(dict(rq, mult=[2**29, 0, 2**30, 2**30]), [10, 0, 5], w, 3) is None
    assert dsp_wide_requant(dict(rq, shift=[1, 0, 31, 31]), [2**31 - 600, 0, 5], w, 3) is None  # r = 1, |acc| large


def test_wide_stream_order() -> None:
    """Per pair of output channels the stream holds both biases, the pair's weights as words
    (four int8 each, little-endian, in the dsp layout), both multipliers, then both shifts in the
    low two bytes of one word: what edgeq_conv_dsp_wide_oc reads with LDM, LDRD and LDM."""
    rng = np.random.default_rng(3)
    wk = rng.integers(-128, 128, size=(4, 8)).astype(np.int8)
    bias, mult, shift = [10, -20, 30, -40], [-(2**31), -5, -6, -7], [0, 30, 7, 1]
    s = wide_stream(wk, bias, mult, shift)
    assert s.dtype == np.int32 and s.size == 2 * (2 + 2 * 8 // 4 + 3)
    pair = s.reshape(2, -1)
    assert pair[0, :2].tolist() == [10, -20] and pair[1, :2].tolist() == [30, -40]
    np.testing.assert_array_equal(pair[1, 2:6].view(np.uint8).view(np.int8), wk[2:4].reshape(-1))
    assert pair[0, 6:8].tolist() == [-(2**31), -5] and pair[0, 8] == 30 << 8
    assert pair[1, 8] == 7 | 1 << 8
