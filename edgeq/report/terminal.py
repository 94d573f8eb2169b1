"""The terminal rendering of report.json (rich tables)."""

from __future__ import annotations

from typing import Any

from rich import box
from rich.console import Console
from rich.table import Table as _Table

from edgeq.report.view import build_view, fmt_bytes, fmt_count, fmt_db, fmt_pct

SHORT_UNIT = {"instructions": "instr.", "cycles": "cycles", "ns": "ns"}


def Table(**kwargs: Any) -> _Table:  # noqa: N802 - compact tables everywhere
    return _Table(box=box.SIMPLE_HEAD, collapse_padding=True, pad_edge=False, **kwargs)


def _short(n: int | None) -> str:
    if n is None:
        return "-"
    for unit, size in (("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= size:
            return f"{n / size:g} {unit}" if n % size == 0 else f"{n / size:.1f} {unit}"
    return f"{n} B"


def _header(view: dict[str, Any], console: Console) -> None:
    model = view["model"]
    console.print(f"[bold]{model.get('name', '?')}[/bold] ({model.get('format', '?')}, sha256 {view['sha_short']}) "
                  f"on [bold]{view['board']}[/bold], edgeq {view['edgeq_version']}")


def _size(view: dict[str, Any], console: Console) -> None:
    s = view["size"]
    table = Table(title="Size (read from the built binary)" if s["from_binary"] else "Size")
    table.add_column("flash" + (f" ({s['flash_pct']:.1f}% of {_short(s['capacity']['flash'])})"
                                if s["flash_pct"] is not None else ""))
    table.add_column("bytes", justify="right")
    table.add_column("RAM" + (f" ({s['ram_pct']:.1f}% of {_short(s['capacity']['ram'])})"
                              if s["ram_pct"] is not None else ""))
    table.add_column("bytes", justify="right")
    fl = [(p["label"], p["text"]) for p in s["flash_parts"]] + [("[bold]total[/bold]", fmt_bytes(s["flash"]))]
    rm = [(p["label"], p["text"]) for p in s["ram_parts"]] + [("[bold]total[/bold]", fmt_bytes(s["ram"]))]
    for i in range(max(len(fl), len(rm))):
        a = fl[i] if i < len(fl) else ("", "")
        b = rm[i] if i < len(rm) else ("", "")
        table.add_row(a[0], a[1], b[0], b[1])
    console.print(table)
    extra = f"Weights: int8 {s['weights_int8']:,} B"
    if s["weights_float"] is not None:
        ratio = s["weights_float"] / max(s["weights_int8"], 1)
        extra += f", float model {s['weights_float']:,} B ({ratio:.1f}x)"
    if s["naive"]:
        extra += f". Arena: {s['arena']:,} B planned ({s['naive']:,} B unplanned)"
    console.print(extra)


def _layers(view: dict[str, Any], console: Console) -> None:
    unit = view["latency"]["unit"]
    has_lat = any(r["count"] is not None for r in view["layers"])
    has_sqnr = any(r["has_sqnr"] for r in view["layers"])
    table = Table(title=f"Layers ({view['macs']:,} MACs; weights and arena-at-peak in bytes"
                        + (f"; {unit} from one sample)" if has_lat else ")"))
    cols = ["#", "layer", "op", "output", "MACs", "weights", "float w", "arena"]
    if has_lat:
        cols += [SHORT_UNIT.get(unit or "", unit or "count"), "%", "/MAC"]
    if has_sqnr:
        cols += ["SQNR dB"]
    for col in cols:
        table.add_column(col, justify="left" if col in ("layer", "op", "output") else "right")
    for r in view["layers"]:
        row = [str(r["index"]), r["name"], r["op"], r["output"], f"{r['macs']:,}", f"{r['weights']:,}",
               "-" if r["float_weights"] is None else f"{r['float_weights']:,}", f"{r['arena_peak']:,}"]
        if has_lat:
            row += [fmt_count(r["count"]), "-" if r["count_pct"] is None else f"{r['count_pct']:.1f}",
                    fmt_count(r["per_mac"])]
        if has_sqnr:
            row += [("exact" if r["sqnr_db"] is None else f"{r['sqnr_db']:.1f}") if r["has_sqnr"] else "-"]
        table.add_row(*row)
    console.print(table)


def _latency(view: dict[str, Any], console: Console) -> None:
    lat = view["latency"]
    if lat["count"] is None:
        return
    text = f"Latency: [bold]{lat['count']:,}[/bold] {lat['unit_label']} per inference"
    if lat["per_mac"] is not None:
        text += f", {lat['per_mac']}/MAC"
    text += f" (median of {lat['samples']}"
    text += f"; min {lat['min']:,}, max {lat['max']:,})" if lat["min"] is not None else ")"
    console.print(text)
    if lat["layers_error"]:
        console.print(f"  per-layer timing failed: {lat['layers_error']}")


def _validation(view: dict[str, Any], console: Console) -> None:
    v = view["validation"]
    if not v:
        return
    verdict = "[green]bit-exact[/green]" if v["bit_exact"] else "[red]NOT bit-exact[/red]"
    console.print(f"Validation on {view['board']}: {v['samples']} samples, {verdict}, "
                  f"{v['mismatches']} mismatching, {v['failures']} failed")
    fm = v["first_mismatch"]
    if fm:
        layer = fm.get("layer")
        where = (f"first differing layer #{layer['index']} {layer['name']} ({layer['op']})"
                 if layer else "per-layer check did not find the layer")
        console.print(f"  first mismatch: sample {fm['sample']}; {where}")
    if v["accuracy"]:
        console.print("Accuracy: " + ", ".join(f"{label} {text}" for label, _, text in v["accuracy"]))
    if v["agreement"] is not None:
        console.print(f"Top-1 agreement int8 vs float: {fmt_pct(v['agreement'])}")
    err = v["output_error"]
    if err:
        console.print(f"Output error int8 vs float: RMSE {err['rmse']:.4g}, cosine {err['cosine_similarity']:.5f}, "
                      f"max abs {err['max_abs_error']:.4g}, SQNR {fmt_db(err['sqnr_db'])}")
    for note in v["notes"]:
        console.print(f"[dim]{note}[/dim]")
    if v["sqnr"]:
        table = Table(title=f"Per-layer SQNR vs float\n(worst first, {v['sqnr_samples']} samples)")
        for col in ("#", "layer", "op", "SQNR"):
            table.add_column(col, justify="right" if col in ("#", "SQNR") else "left")
        for r in v["sqnr"]:
            table.add_row(str(r["index"]), r["label"].split(" ", 1)[1], r["op"], r["text"])
        console.print(table)
    if v["per_class"]:
        table = Table(title="Per-class accuracy")
        keys = [k for k in ("float", "int8_reference", "target") if any(r.get(k) is not None for r in v["per_class"])]
        names = {"float": "float", "int8_reference": "int8 ref.", "target": "target"}
        for col in ["class", "samples", *[names[k] for k in keys]]:
            table.add_column(col, justify="right")
        for r in v["per_class"]:
            table.add_row(str(r["class"]), str(r["samples"]), *[fmt_pct(r.get(k), 1) for k in keys])
        console.print(table)
    cm = v["confusion"]
    if cm:
        table = Table(title=f"Confusion matrix ({cm['of']}; rows true, columns predicted)")
        table.add_column("")
        for c in cm["classes"]:
            table.add_column(str(c), justify="right")
        for i, row in enumerate(cm["matrix"]):
            table.add_row(str(cm["classes"][i]), *[f"[bold]{n}[/bold]" if i == j else ("." if n == 0 else str(n))
                                                   for j, n in enumerate(row)])
        console.print(table)


def _comparison(view: dict[str, Any], console: Console) -> None:
    comp = view["comparison"]
    if comp:
        table = Table(title=f"Compared with {comp['baseline']}")
        for col in ("metric", "baseline", "this build", "delta"):
            table.add_column(col, justify="left" if col == "metric" else "right")
        for r in comp["rows"]:
            table.add_row(r["metric"], r["baseline_text"], r["current_text"], r["delta_text"])
        console.print(table)
        for note in comp["notes"]:
            console.print(f"[dim]{note}[/dim]")
    for g in view["gates"]:
        mark = "[green]pass[/green]" if g["passed"] else "[red]FAIL[/red]"
        console.print(f"gate {mark}: {g['text']}")


def print_report(report: dict[str, Any], console: Console, comparison: dict[str, Any] | None = None,
                 gates: list[dict[str, Any]] | None = None) -> None:
    view = build_view(report, comparison, gates)
    _header(view, console)
    _size(view, console)
    _layers(view, console)
    _latency(view, console)
    _validation(view, console)
    _comparison(view, console)


def print_summary(report: dict[str, Any], console: Console) -> None:
    """The build's part: model, size, layers and (after validate) latency."""
    view = build_view(report)
    _header(view, console)
    _size(view, console)
    _layers(view, console)
    _latency(view, console)


def print_validation(report: dict[str, Any], console: Console) -> None:
    view = build_view(report)
    _validation(view, console)
    _latency(view, console)
