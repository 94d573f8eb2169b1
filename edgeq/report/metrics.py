"""Accuracy and error metrics for `edgeq validate` (pure numpy; every value JSON-ready).

Scores are float arrays [N, K] (int8 outputs dequantized with the output's parameters, so a
single-output model can be thresholded like its float twin). Int8-vs-int8 checks are not
here: they are byte-for-byte comparisons, never a metric.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from edgeq.ir.graph import Graph


def predictions(scores: np.ndarray) -> np.ndarray:
    """Top-1 class per sample; a single output is a binary score thresholded at 0.5."""
    flat = scores.reshape(len(scores), -1)
    if flat.shape[1] == 1:
        return (flat[:, 0] > 0.5).astype(np.int64)
    return np.argmax(flat, axis=1)


def labels_from(y: np.ndarray, n: int) -> np.ndarray:
    """Class indices from integer labels [N] or one-hot / probability rows [N, K]."""
    y = np.asarray(y)
    if y.ndim == 2 and y.shape[1] > 1 and y.shape[0] == n:
        return np.argmax(y, axis=1)
    return y.reshape(-1).astype(np.int64)


def accuracy(scores: np.ndarray | None, labels: np.ndarray) -> float | None:
    if scores is None or len(labels) == 0:
        return None
    return float(np.mean(predictions(scores) == labels))


def agreement(a: np.ndarray, b: np.ndarray) -> float | None:
    """Fraction of samples where a and b give the same top-1 class."""
    if len(a) == 0:
        return None
    return float(np.mean(predictions(a) == predictions(b)))


def num_classes(scores: np.ndarray, labels: np.ndarray | None) -> int:
    k = scores.reshape(len(scores), -1).shape[1]
    k = 2 if k == 1 else k
    if labels is not None and len(labels):
        k = max(k, int(labels.max()) + 1)
    return k


def confusion(pred: np.ndarray, labels: np.ndarray, k: int) -> list[list[int]]:
    """Rows: true class; columns: predicted class."""
    m = np.zeros((k, k), dtype=np.int64)
    np.add.at(m, (labels, np.clip(pred, 0, k - 1)), 1)
    return m.tolist()


def per_class(runs: dict[str, np.ndarray | None], labels: np.ndarray, k: int) -> list[dict[str, Any]]:
    """Per class: samples and the accuracy of each run (float, int8_reference, target)."""
    preds = {name: predictions(s) for name, s in runs.items() if s is not None}
    rows = []
    for c in range(k):
        mask = labels == c
        row: dict[str, Any] = {"class": c, "samples": int(mask.sum())}
        for name, p in preds.items():
            row[name] = float(np.mean(p[mask] == c)) if mask.any() else None
        rows.append(row)
    return rows


def sqnr_db(ref: np.ndarray, approx: np.ndarray) -> float | None:
    """10 log10(signal power / noise power) in dB; None when the noise is exactly zero."""
    ref = np.asarray(ref, dtype=np.float64)
    noise = float(np.sum((ref - np.asarray(approx, dtype=np.float64)) ** 2))
    signal = float(np.sum(ref ** 2))
    if noise == 0.0:
        return None
    if signal == 0.0:
        return -100.0  # all noise (kept finite for JSON)
    return round(max(10.0 * float(np.log10(signal / noise)), -100.0), 3)


def output_error(float_out: np.ndarray, deq: np.ndarray) -> dict[str, Any]:
    """Int8 (dequantized) outputs against the float model's: RMSE, cosine similarity (mean per
    sample), max abs error and SQNR."""
    f = float_out.reshape(len(float_out), -1).astype(np.float64)
    q = deq.reshape(len(deq), -1).astype(np.float64)
    diff = f - q
    nf, nq = np.linalg.norm(f, axis=1), np.linalg.norm(q, axis=1)
    both = (nf > 0) & (nq > 0)
    cos = np.where(both, np.sum(f * q, axis=1) / np.where(both, nf * nq, 1.0), np.where(nf == nq, 1.0, 0.0))
    return {
        "rmse": float(np.sqrt(np.mean(diff ** 2))),
        "cosine_similarity": float(np.mean(cos)),
        "max_abs_error": float(np.max(np.abs(diff))) if diff.size else 0.0,
        "sqnr_db": sqnr_db(f, q),
    }


def layer_sqnr(float_graph: Graph, quantized: Graph, x_float: np.ndarray, x_int8: np.ndarray) -> list[dict[str, Any]]:
    """Per layer, the SQNR of the int8 reference's output (dequantized with its tensor's
    parameters) against the float model's output of the same tensor, on the same samples.
    Both graphs come from one graph (the quantizer copies the float graph), so nodes and
    tensor names match one to one; both are in graph layout. Sorted worst (lowest) first;
    a layer with no error at all (None) goes last."""
    from edgeq.interpreter import run_float, run_int8

    ftrace: dict[str, np.ndarray] = {}
    qtrace: dict[str, np.ndarray] = {}
    run_float(float_graph, [x_float], trace=ftrace)
    run_int8(quantized, [x_int8], trace=qtrace)
    rows = []
    for i, node in enumerate(quantized.nodes):
        t = node.outputs[0]
        tensor = quantized.tensors[t]
        if t not in ftrace or t not in qtrace or tensor.quant is None or ftrace[t].shape != qtrace[t].shape:
            continue
        deq = tensor.quant.dequantize(qtrace[t]) if tensor.quant.is_per_tensor else None
        if deq is None:
            continue
        rows.append({"index": i, "name": node.source or node.name, "op": node.kind,
                     "sqnr_db": sqnr_db(ftrace[t], deq)})
    rows.sort(key=lambda r: (r["sqnr_db"] is None, r["sqnr_db"] if r["sqnr_db"] is not None else 0.0, r["index"]))
    return rows
