"""`edgeq validate`: every sample on the target vs the numpy int8 reference, byte for byte,
plus accuracy when labels are given. Writes `validation` and `latency` into report.json."""

from __future__ import annotations

from typing import Any

import numpy as np

from edgeq.builddir import BuildDir
from edgeq.data import Dataset, check_samples
from edgeq.errors import EdgeqError
from edgeq.execute import Tick, float_outputs, open_target, prepare_inputs, reference_outputs


def _accuracy(scores: np.ndarray | None, labels: np.ndarray) -> float | None:
    if scores is None:
        return None
    return float(np.mean(np.argmax(scores.reshape(len(scores), -1), axis=1) == labels))


def _first_differing_layer(bd: BuildDir, row: np.ndarray, port: str | None) -> dict[str, Any] | None:
    """Run one sample layer by layer on the target and find the first layer that differs."""
    from edgeq.interpreter import run_int8

    _, quantized = bd.graphs()
    shape = quantized.tensors[quantized.inputs[0]].shape
    trace: dict[str, np.ndarray] = {}
    run_int8(quantized, [row.reshape(1, *shape[1:])], trace=trace)
    with open_target(bd, port) as target:
        layers, _, _ = target.infer_layers(row)
    for i, (node, got) in enumerate(zip(quantized.nodes, layers, strict=False)):
        if not np.array_equal(np.asarray(got).reshape(-1), trace[node.outputs[0]].reshape(-1)):
            return {"index": i, "name": node.source or node.name, "op": node.kind}
    return None


def _latency(counts: np.ndarray, unit: str, macs: int) -> dict[str, Any]:
    if len(counts) == 0:
        return {}
    key = {"instructions": "instructions_per_inference", "cycles": "cycles_per_inference"}.get(
        unit, "ns_per_inference")
    median = int(np.median(counts))
    out: dict[str, Any] = {"count_unit": unit, key: median, "min": int(counts.min()), "max": int(counts.max())}
    if macs and unit in ("instructions", "cycles"):
        out[f"{unit}_per_mac"] = round(median / macs, 3)
    return out


def validate(bd: BuildDir, data: Dataset, jobs: int = 1, port: str | None = None,
             tick: Tick | None = None) -> dict[str, Any]:
    source = f"validation data {data.source}"
    x_user = check_samples(data.x, tuple(bd.meta["input"]["user_shape"]), source)
    rows = prepare_inputs(bd, x_user, source)
    labels = None
    if data.y is not None:
        labels = np.asarray(data.y).reshape(-1)
        if len(labels) != len(rows):
            raise EdgeqError(f"validation data {data.source}: {len(labels)} labels for {len(rows)} samples")
    expected = reference_outputs(bd, rows)
    if jobs > 1 and port is None:
        from edgeq.runner import run_sharded

        result = run_sharded(lambda: open_target(bd), rows, jobs, progress=tick)
    else:
        with open_target(bd, port) as target:
            result = target.infer(rows, progress=tick)
    ok = np.ones(len(rows), dtype=bool)
    for i in result.failures:
        ok[i] = False
    mismatches = [int(i) for i in np.flatnonzero(ok) if not np.array_equal(result.outputs[i], expected[i])]
    validation: dict[str, Any] = {
        "samples": len(rows),
        "bit_exact": not mismatches and not result.failures,
        "mismatches": len(mismatches),
        "failures": {str(k): v for k, v in result.failures.items()},
    }
    if mismatches:
        first = mismatches[0]
        validation["first_mismatch"] = {"sample": first, "layer": _first_differing_layer(bd, rows[first], port)}
    if labels is not None:
        validation["accuracy"] = {
            "float": _accuracy(float_outputs(bd, x_user), labels),
            "int8_reference": _accuracy(expected.astype(np.float32), labels),
            "target": _accuracy(result.outputs[ok].astype(np.float32), labels[ok]) if ok.any() else None,
        }
    report = bd.report()
    report["validation"] = validation
    report["latency"] = _latency(np.asarray(result.counts)[ok], result.count_unit, int(report.get("macs", 0)))
    bd.write_report(report)
    return report
