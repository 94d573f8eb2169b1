"""`edgeq validate`: every sample on the target vs the numpy int8 reference, byte for byte,
plus what quantization cost (accuracy with labels; agreement, output error and per-layer
SQNR against the float model) and the latency, per inference and per layer. Writes
`validation` and `latency` into report.json."""

from __future__ import annotations

from typing import Any

import numpy as np

from edgeq.builddir import BuildDir
from edgeq.data import Dataset, check_samples, to_graph_layout
from edgeq.errors import EdgeqError
from edgeq.execute import Tick, float_outputs, open_target, prepare_inputs, reference_outputs
from edgeq.ir.graph import Graph
from edgeq.ir.tensor import QuantParams
from edgeq.report import metrics

SQNR_SAMPLES = 256  # per-layer SQNR on the first samples (enough for a stable estimate)
NO_FLOAT_NOTE = ("imported int8 model: no float model, so no float accuracy, agreement, output error "
                 "or per-layer SQNR")


def _layer_run(target: Any, quantized: Graph, row: np.ndarray, index: int) -> dict[str, Any]:
    """Run one sample layer by layer on the target: per-layer counts, and the first layer whose
    output differs from the int8 reference (byte for byte)."""
    from edgeq.interpreter import run_int8

    shape = quantized.tensors[quantized.inputs[0]].shape
    trace: dict[str, np.ndarray] = {}
    run_int8(quantized, [row.reshape(1, *shape[1:])], trace=trace)
    # Emulator instruction counts are deterministic; host times are not: median of a few runs.
    repeats = 5 if getattr(getattr(target, "info", None), "count_unit", "") == "ns" else 1
    runs = []
    try:
        for _ in range(repeats):
            outs, counts, _ = target.infer_layers(row)
            runs.append(counts)
    except EdgeqError as e:
        return {"sample": index, "error": str(e)}
    counts = [int(c) for c in np.median(np.asarray(runs, dtype=np.float64), axis=0)]
    first = None
    for i, (node, got) in enumerate(zip(quantized.nodes, outs, strict=False)):
        if not np.array_equal(np.asarray(got).reshape(-1), trace[node.outputs[0]].reshape(-1)):
            first = {"index": i, "name": node.source or node.name, "op": node.kind}
            break
    return {"sample": index, "counts": [int(c) for c in counts], "first_differing_layer": first}


def _latency(counts: np.ndarray, unit: str, report: dict[str, Any], layer_run: dict[str, Any] | None
             ) -> dict[str, Any]:
    if len(counts) == 0:
        return {}
    key = {"instructions": "instructions_per_inference", "cycles": "cycles_per_inference"}.get(
        unit, "ns_per_inference")
    per_mac_key = f"{unit}_per_mac"
    macs = int(report.get("macs", 0))
    median = int(np.median(counts))
    out: dict[str, Any] = {"count_unit": unit, key: median, "min": int(counts.min()), "max": int(counts.max()),
                           "samples": len(counts)}
    if macs:
        out[per_mac_key] = round(median / macs, 3)
    if layer_run and "counts" in layer_run:
        rows = []
        for i, count in enumerate(layer_run["counts"]):
            layer = report["layers"][i] if i < len(report.get("layers", [])) else {}
            lm = int(layer.get("macs", 0))
            rows.append({"index": i, "name": layer.get("name", str(i)), "op": layer.get("op", "?"), "count": count,
                         "macs": lm, per_mac_key: round(count / lm, 3) if lm else None})
        out["layers"] = rows
        out["layers_sample"] = layer_run["sample"]
    elif layer_run and "error" in layer_run:
        out["layers_error"] = layer_run["error"]
    return out


def _quality(bd: BuildDir, float_graph: Graph | None, quantized: Graph, x_user: np.ndarray, rows: np.ndarray,
             expected: np.ndarray, target_out: np.ndarray, ok: np.ndarray, labels: np.ndarray | None
             ) -> dict[str, Any]:
    """Accuracy, agreement, per-class accuracy, confusion matrix, output error, per-layer SQNR."""
    out_meta = bd.meta["output"]
    oq = QuantParams.per_tensor(out_meta["scale"], out_meta["zero_point"])
    int8_scores = oq.dequantize(expected)
    target_scores = oq.dequantize(target_out[ok]) if ok.any() else None
    float_scores = float_outputs(bd, x_user)
    q: dict[str, Any] = {}
    if float_scores is not None:
        q["top1_agreement"] = {"int8_vs_float": metrics.agreement(int8_scores, float_scores)}
        q["output_error"] = {"vs": "float", **metrics.output_error(float_scores, int8_scores)}
        n = min(len(rows), SQNR_SAMPLES)
        shape = quantized.tensors[quantized.inputs[0]].shape
        x_float = to_graph_layout(x_user[:n].astype(np.float32), bd.meta["input"]["layout"])
        q["layer_sqnr"] = metrics.layer_sqnr(float_graph, quantized, x_float,  # type: ignore[arg-type]
                                             rows[:n].reshape(n, *shape[1:]))
        q["layer_sqnr_samples"] = n
    else:
        q["notes"] = [NO_FLOAT_NOTE]
    if labels is not None:
        q["accuracy"] = {
            "float": metrics.accuracy(float_scores, labels),
            "int8_reference": metrics.accuracy(int8_scores, labels),
            "target": metrics.accuracy(target_scores, labels[ok]) if target_scores is not None else None,
        }
        k = metrics.num_classes(int8_scores, labels)
        runs = {"float": float_scores, "int8_reference": int8_scores}
        per = metrics.per_class(runs, labels, k)
        if target_scores is not None:  # the target on the samples it ran
            tp = metrics.per_class({"target": target_scores}, labels[ok], k)
            for row, t in zip(per, tp, strict=True):
                row["target"] = t["target"]
        q["per_class"] = per
        of, scores, lab = ("target", target_scores, labels[ok]) if target_scores is not None else (
            "int8_reference", int8_scores, labels)
        q["confusion_matrix"] = {"of": of, "classes": list(range(k)),
                                 "matrix": metrics.confusion(metrics.predictions(scores), lab, k)}
    return q


def validate(bd: BuildDir, data: Dataset, jobs: int = 1, port: str | None = None,
             tick: Tick | None = None, layers: bool = True) -> dict[str, Any]:
    """Run `data` on the build's target; `layers`: also run one sample layer by layer (per-layer
    latency, and the first differing layer when a sample mismatches)."""
    source = f"validation data {data.source}"
    x_user = check_samples(data.x, tuple(bd.meta["input"]["user_shape"]), source)
    rows = prepare_inputs(bd, x_user, source)
    labels = None
    if data.y is not None:
        labels = metrics.labels_from(data.y, len(rows))
        if len(labels) != len(rows):
            raise EdgeqError(f"validation data {data.source}: {len(labels)} labels for {len(rows)} samples")
        if len(labels) and labels.min() < 0:
            raise EdgeqError(f"validation data {data.source}: labels must be class indices >= 0")
    float_graph, quantized = bd.graphs()
    expected = reference_outputs(bd, rows)

    def check(result: Any) -> tuple[np.ndarray, list[int]]:
        ok = np.ones(len(rows), dtype=bool)
        for i in result.failures:
            ok[i] = False
        return ok, [int(i) for i in np.flatnonzero(ok) if not np.array_equal(result.outputs[i], expected[i])]

    def layer_sample(ok: np.ndarray, mismatches: list[int]) -> int | None:
        if mismatches:
            return mismatches[0]
        good = np.flatnonzero(ok)
        return int(good[0]) if len(good) else None

    layer_run = None
    if jobs > 1 and port is None:
        from edgeq.runner import run_sharded

        result = run_sharded(lambda: open_target(bd), rows, jobs, progress=tick)
        ok, mismatches = check(result)
        idx = layer_sample(ok, mismatches)
        if layers and idx is not None:
            with open_target(bd) as target:
                layer_run = _layer_run(target, quantized, rows[idx], idx)
    else:
        with open_target(bd, port) as target:
            result = target.infer(rows, progress=tick)
            ok, mismatches = check(result)
            idx = layer_sample(ok, mismatches)
            if layers and idx is not None:
                layer_run = _layer_run(target, quantized, rows[idx], idx)

    validation: dict[str, Any] = {
        "samples": len(rows),
        "labels": labels is not None,
        "bit_exact": not mismatches and not result.failures,
        "mismatches": len(mismatches),
        "failures": {str(k): v for k, v in result.failures.items()},
    }
    if mismatches:
        first = mismatches[0]
        layer = layer_run.get("first_differing_layer") if layer_run and layer_run.get("sample") == first else None
        validation["first_mismatch"] = {"sample": first, "layer": layer}
    validation.update(_quality(bd, float_graph, quantized, x_user, rows, expected, result.outputs, ok, labels))
    report = bd.report()
    report["validation"] = validation
    report["latency"] = _latency(np.asarray(result.counts)[ok], result.count_unit, report, layer_run)
    bd.write_report(report)
    return report
