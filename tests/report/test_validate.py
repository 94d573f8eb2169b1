"""`edgeq validate` on the main job's build: accuracy, agreement, per-class, confusion matrix,
output error and per-layer SQNR against the float model; per-layer latency from the target;
size read from the binary. Without labels and without a float model (imported int8)."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import numpy as np
import pytest

from edgeq.builddir import BuildDir
from edgeq.cli import main
from edgeq.data import Dataset
from edgeq.validate import NO_FLOAT_NOTE, validate


def _report(build: Path) -> dict:
    return json.loads((build / "report.json").read_text())


def test_accuracy_and_quantization_error(main_job: dict[str, Path]) -> None:
    r = _report(main_job["build"])
    v = r["validation"]
    n = v["samples"]
    assert v["bit_exact"] and v["labels"] and n == 360
    acc = v["accuracy"]
    assert acc["float"] > 0.8 and acc["target"] == acc["int8_reference"]
    assert abs(acc["int8_reference"] - acc["float"]) <= 0.03
    assert 0.95 <= v["top1_agreement"]["int8_vs_float"] <= 1.0
    err = v["output_error"]
    assert err["vs"] == "float" and err["rmse"] > 0 and 0.99 < err["cosine_similarity"] <= 1.0
    assert err["max_abs_error"] >= err["rmse"] and err["sqnr_db"] > 15
    cm = np.array(v["confusion_matrix"]["matrix"])
    assert cm.shape == (10, 10) and cm.sum() == n and v["confusion_matrix"]["of"] == "target"
    assert np.trace(cm) / n == pytest.approx(acc["target"])
    per = v["per_class"]
    assert [p["class"] for p in per] == list(range(10)) and sum(p["samples"] for p in per) == n
    for p, row in zip(per, cm, strict=True):
        assert p["target"] == pytest.approx(row[p["class"]] / row.sum())


def test_layer_sqnr_sorted_worst_first(main_job: dict[str, Path]) -> None:
    r = _report(main_job["build"])
    rows = r["validation"]["layer_sqnr"]
    assert sorted(row["index"] for row in rows) == list(range(len(r["layers"])))
    values = [row["sqnr_db"] for row in rows if row["sqnr_db"] is not None]
    assert values == sorted(values) and all(5 < x < 80 for x in values)
    assert {row["name"] for row in rows} == {layer["name"] for layer in r["layers"]}


def test_layer_sqnr_matches_a_direct_computation(main_job: dict[str, Path]) -> None:
    """The float graph and the int8 graph line up tensor by tensor: recompute one layer by hand."""
    from edgeq.execute import prepare_inputs
    from edgeq.interpreter import run_float, run_int8
    from edgeq.report.metrics import sqnr_db

    bd = BuildDir.open(main_job["build"])
    f, q = bd.graphs()
    assert [n.outputs[0] for n in f.nodes] == [n.outputs[0] for n in q.nodes]
    x = np.load(main_job["test"])["x"][:256].astype(np.float32)
    rows = prepare_inputs(bd, x, "test")
    ft, qt = {}, {}
    run_float(f, [x.transpose(0, 2, 3, 1)], trace=ft)
    run_int8(q, [rows.reshape(len(rows), *q.tensors[q.inputs[0]].shape[1:])], trace=qt)
    t = q.nodes[2].outputs[0]
    expected = sqnr_db(ft[t], q.tensors[t].quant.dequantize(qt[t]))
    got = {row["index"]: row["sqnr_db"] for row in _report(main_job["build"])["validation"]["layer_sqnr"]}
    assert got[2] == expected


def test_latency_per_inference_per_layer_per_mac(main_job: dict[str, Path]) -> None:
    r = _report(main_job["build"])
    lat = r["latency"]
    assert lat["count_unit"] == "ns" and lat["ns_per_inference"] > 0
    assert "cycles_per_inference" not in lat and "instructions_per_inference" not in lat
    assert lat["ns_per_mac"] == round(lat["ns_per_inference"] / r["macs"], 3)
    assert lat["samples"] == 360 and lat["min"] <= lat["ns_per_inference"] <= lat["max"]
    layers = lat["layers"]
    assert [row["index"] for row in layers] == list(range(len(r["layers"])))
    assert all(row["count"] > 0 for row in layers if row["macs"])
    assert all(row["ns_per_mac"] is None for row in layers if not row["macs"])


def test_size_read_from_the_binary(main_job: dict[str, Path]) -> None:
    r = _report(main_job["build"])
    size, br = r["size"], r["size"]["breakdown"]
    assert sum(br["flash"].values()) == size["flash_bytes"]
    assert sum(br["ram"].values()) == size["ram_bytes"]
    assert br["flash"]["weights"] == size["weights_bytes"] > 0 and br["flash"]["kernel_code"] == size["code_bytes"] > 0
    assert br["flash"]["runtime_startup"] > 0 and br["ram"]["arena"] == size["arena_bytes"]
    assert ".text" in br["sections"]
    # per layer: weights from the binary's symbols equal the graph's constants; float weights are 4x-ish
    assert sum(layer["weights_bytes"] for layer in r["layers"]) == size["weights_bytes"]
    assert size["float_weights_bytes"] == sum(layer["float_weights_bytes"] for layer in r["layers"])
    assert size["float_weights_bytes"] > 3 * size["weights_bytes"]
    peak = sum(a["bytes"] for a in r["memory"]["live_at_peak"])
    assert sum(layer["arena_peak_bytes"] for layer in r["layers"]) == peak <= size["arena_bytes"]


def test_without_labels(main_job: dict[str, Path], build_copy: Path, tmp_path: Path) -> None:
    x = np.load(main_job["test"])["x"][:40]
    np.savez(tmp_path / "nolabels.npz", x=x)
    assert main(["validate", str(build_copy), "--data", str(tmp_path / "nolabels.npz"), "-q"]) == 0
    v = _report(build_copy)["validation"]
    assert v["samples"] == 40 and v["bit_exact"] and not v["labels"]
    assert "accuracy" not in v and "confusion_matrix" not in v and "per_class" not in v
    assert v["top1_agreement"]["int8_vs_float"] > 0.9 and v["layer_sqnr"] and v["output_error"]


def test_imported_int8_model_has_no_float_parts(main_job: dict[str, Path], build_copy: Path) -> None:
    """An imported int8 model's build has no float graph: the float-based parts are skipped with a note."""
    with (build_copy / "graph.pkl").open("rb") as f:
        graphs = pickle.load(f)
    with (build_copy / "graph.pkl").open("wb") as f:
        pickle.dump({"float": None, "quantized": graphs["quantized"]}, f)
    data = np.load(main_job["test"])
    report = validate(BuildDir.open(build_copy), Dataset(data["x"][:30], data["y"][:30], "test"))
    v = report["validation"]
    assert v["bit_exact"] and v["notes"] == [NO_FLOAT_NOTE]
    assert v["accuracy"]["float"] is None and v["accuracy"]["target"] is not None
    assert "top1_agreement" not in v and "layer_sqnr" not in v and "output_error" not in v
    assert v["confusion_matrix"]["matrix"] and all("float" not in row for row in v["per_class"])
    for fmt in ("md", "html"):
        assert main(["report", str(build_copy), "--format", fmt, "-q"]) == 0
    assert main(["report", str(build_copy)]) == 0
