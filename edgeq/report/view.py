"""report.json shaped for people: the sections every rendering (terminal, Markdown, HTML)
shows, with labels, units and chart geometry computed here so the templates only lay out."""

from __future__ import annotations

from typing import Any

# Chart colours (the HTML test looks for them in a screenshot).
COLORS = {
    "weights": "#4e79a7", "kernel_code": "#f28e2b", "runtime_startup": "#59a14f", "flash_rest": "#bab0ac",
    "arena": "#e15759", "stack": "#76b7b2", "ram_rest": "#d7d2cf",
    "sqnr": "#b07aa1", "latency": "#edc948", "confusion": "#2b5d9b",
}
FLASH_PARTS = [("weights", "weights", "weights"), ("kernel_code", "kernel code", "kernel_code"),
               ("runtime_startup", "runtime + startup", "runtime_startup"), ("rest", "rest", "flash_rest")]
RAM_PARTS = [("arena", "arena", "arena"), ("stack", "stack reserve", "stack"), ("rest", "rest", "ram_rest")]
UNIT_LABELS = {"cycles": "cycles", "instructions": "instructions (emulator, not cycles)", "ns": "ns (host)"}
PER_INFERENCE_KEYS = ("cycles_per_inference", "instructions_per_inference", "ns_per_inference")


def fmt_bytes(n: int | None) -> str:
    if n is None:
        return "-"
    return f"{n:,} B" if n < 1024 else f"{n:,} B ({n / 1024:.1f} KiB)"


def fmt_pct(x: float | None, digits: int = 2) -> str:
    return "-" if x is None else f"{100 * x:.{digits}f}%"


def fmt_db(x: float | None) -> str:
    return "exact" if x is None else f"{x:.1f} dB"


def fmt_count(n: float | int | None) -> str:
    if n is None:
        return "-"
    return f"{n:,}" if isinstance(n, int) else f"{n:,.3f}".rstrip("0").rstrip(".")


def latency_of(report: dict[str, Any]) -> tuple[int | None, str | None]:
    """(count per inference, unit) from report['latency'], or (None, None) before validate."""
    lat = report.get("latency") or {}
    for key in PER_INFERENCE_KEYS:
        if key in lat:
            return int(lat[key]), key.removesuffix("_per_inference")
    return None, None


def main_accuracy(report: dict[str, Any]) -> tuple[float | None, str | None]:
    """The accuracy that ships: the target's, else the int8 reference's."""
    acc = (report.get("validation") or {}).get("accuracy") or {}
    for key in ("target", "int8_reference"):
        if acc.get(key) is not None:
            return float(acc[key]), key
    return None, None


def _capacity(board_id: str) -> dict[str, int | None]:
    try:
        from edgeq.boards import load_board

        board = load_board(board_id)
        if board.is_native:
            return {"flash": None, "ram": None}
        return {"flash": board.flash_region.length, "ram": board.ram_region.length}
    except Exception:  # an unknown board in an old report: no capacity, the rest still renders
        return {"flash": None, "ram": None}


def _stacked(parts: list[tuple[str, str, str]], values: dict[str, int], total: int, width: float
             ) -> list[dict[str, Any]]:
    segs, x = [], 0.0
    denom = max(total, sum(int(values.get(k, 0)) for k, _, _ in parts), 1)
    for key, label, color in parts:
        v = int(values.get(key, 0))
        w = width * v / denom
        segs.append({"key": key, "label": label, "bytes": v, "text": fmt_bytes(v), "color": COLORS[color],
                     "x": round(x, 2), "w": round(w, 2), "pct": 100.0 * v / denom})
        x += w
    return segs


def _bars(rows: list[dict[str, Any]], value: str, color: str, width: float = 520.0) -> dict[str, Any]:
    vals = [r[value] for r in rows if r.get(value) is not None]
    top = max(vals, default=0) or 1
    lo = min(0.0, min(vals, default=0))
    span = (top - lo) or 1
    bars = []
    for i, r in enumerate(rows):
        v = r.get(value)
        w = 0.0 if v is None else width * (max(v, lo) - lo) / span
        bars.append({**r, "y": 22 * i, "w": round(max(w, 1.0 if v else 0.0), 2), "color": COLORS[color]})
    return {"bars": bars, "height": 22 * len(rows) + 4, "width": width}


def _confusion(cm: dict[str, Any]) -> dict[str, Any]:
    m = cm["matrix"]
    k = len(m)
    cell = max(14, min(40, 400 // max(k, 1)))
    peak = max((v for row in m for v in row), default=0) or 1
    cells = []
    for i, row in enumerate(m):
        for j, v in enumerate(row):
            t = v / peak
            # white -> COLORS["confusion"], computed here so the template only places rectangles
            r0, g0, b0 = (int(COLORS["confusion"][p:p + 2], 16) for p in (1, 3, 5))
            rgb = tuple(round(255 + (c - 255) * t) for c in (r0, g0, b0))
            cells.append({"x": j * cell, "y": i * cell, "v": v, "true": i, "pred": j,
                          "fill": "#{:02x}{:02x}{:02x}".format(*rgb), "dark": t > 0.5})
    return {"of": cm.get("of", "target"), "classes": cm.get("classes", list(range(k))), "cells": cells,
            "cell": cell, "size": cell * k, "k": k, "matrix": m}


def build_view(report: dict[str, Any], comparison: dict[str, Any] | None = None,
               gates: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    model = report.get("model", {})
    size = report.get("size", {})
    breakdown = size.get("breakdown") or {}
    flash_parts = breakdown.get("flash") or {"weights": size.get("weights_bytes", 0),
                                             "kernel_code": size.get("code_bytes", 0)}
    ram_parts = breakdown.get("ram") or {"arena": size.get("arena_bytes", 0), "stack": size.get("stack_bytes", 0)}
    flash, ram = int(size.get("flash_bytes", 0)), int(size.get("ram_bytes", 0))
    capacity = _capacity(str(report.get("board", "")))
    validation = report.get("validation") or {}
    latency = report.get("latency") or {}
    count, unit = latency_of(report)
    per_mac = latency.get(f"{unit}_per_mac") if unit else None
    lat_layers = {r["index"]: r for r in latency.get("layers", [])}
    sqnr = {r["index"]: r["sqnr_db"] for r in validation.get("layer_sqnr", [])}
    layers = []
    for i, row in enumerate(report.get("layers", [])):
        lat = lat_layers.get(i, {})
        layers.append({
            "index": i, "name": str(row.get("name")), "op": row.get("op", "?"),
            "output": "x".join(str(d) for d in row.get("output_shape", [])),
            "macs": int(row.get("macs", 0)), "weights": int(row.get("weights_bytes", 0)),
            "float_weights": row.get("float_weights_bytes"), "arena_peak": int(row.get("arena_peak_bytes", 0) or 0),
            "count": lat.get("count"), "per_mac": lat.get(f"{unit}_per_mac") if unit else None,
            "sqnr_db": sqnr.get(i), "has_sqnr": i in sqnr,
        })
    total_layer_count = sum(r["count"] for r in layers if r["count"] is not None)
    for r in layers:
        r["count_pct"] = 100.0 * r["count"] / total_layer_count if r["count"] and total_layer_count else None
    sqnr_rows = [{"label": f"#{r['index']} {r['name']}", "index": r["index"], "op": r["op"], "value": r["sqnr_db"],
                  "text": fmt_db(r["sqnr_db"])} for r in validation.get("layer_sqnr", [])]
    lat_rows = [{"label": f"#{r['index']} {r['name']}", "index": r["index"], "op": r["op"], "value": r["count"],
                 "text": fmt_count(r["count"])} for r in layers if r["count"] is not None]
    view: dict[str, Any] = {
        "title": f"{model.get('name', '?')} on {report.get('board', '?')}",
        "model": model, "board": report.get("board", "?"), "edgeq_version": report.get("edgeq_version", "?"),
        "sha_short": str(model.get("sha256", ""))[:12], "macs": int(report.get("macs", 0)),
        "colors": COLORS,
        "size": {
            "flash": flash, "ram": ram, "capacity": capacity,
            "flash_pct": 100.0 * flash / capacity["flash"] if capacity["flash"] else None,
            "ram_pct": 100.0 * ram / capacity["ram"] if capacity["ram"] else None,
            "flash_parts": _stacked(FLASH_PARTS, flash_parts, flash, 640.0),
            "ram_parts": _stacked(RAM_PARTS, ram_parts, ram, 640.0),
            "weights_int8": int(size.get("weights_bytes", 0)), "weights_float": size.get("float_weights_bytes"),
            "arena": int(size.get("arena_bytes", 0)), "naive": (report.get("memory") or {}).get("naive_bytes"),
            "from_binary": bool(breakdown),
        },
        "layers": layers,
        "latency": {
            "count": count, "unit": unit, "unit_label": UNIT_LABELS.get(unit or "", unit), "per_mac": per_mac,
            "min": latency.get("min"), "max": latency.get("max"), "samples": latency.get("samples"),
            "layers_sample": latency.get("layers_sample"), "layers_error": latency.get("layers_error"),
            "chart": _bars(lat_rows, "value", "latency") if lat_rows else None,
        },
        "validation": None,
        "comparison": comparison, "gates": gates or [],
    }
    if validation:
        acc = validation.get("accuracy") or {}
        view["validation"] = {
            "samples": validation.get("samples", 0), "bit_exact": bool(validation.get("bit_exact")),
            "mismatches": validation.get("mismatches", 0), "failures": len(validation.get("failures") or {}),
            "first_mismatch": validation.get("first_mismatch"), "labels": bool(acc),
            "accuracy": [(label, acc.get(key), fmt_pct(acc.get(key))) for key, label in
                         [("float", "float model"), ("int8_reference", "int8 reference"), ("target", "target")]
                         if key in acc],
            "agreement": (validation.get("top1_agreement") or {}).get("int8_vs_float"),
            "output_error": validation.get("output_error"),
            "per_class": validation.get("per_class") or [],
            "confusion": _confusion(validation["confusion_matrix"]) if validation.get("confusion_matrix") else None,
            "sqnr": sqnr_rows, "sqnr_samples": validation.get("layer_sqnr_samples"),
            "sqnr_chart": _bars(sqnr_rows, "value", "sqnr") if sqnr_rows else None,
            "notes": validation.get("notes") or [],
        }
    return view
