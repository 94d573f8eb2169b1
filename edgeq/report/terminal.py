"""The terminal rendering of report.json (rich tables)."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.table import Table


def _kb(n: int | None) -> str:
    return "-" if n is None else f"{n:,} B ({n / 1024:.1f} KB)"


def print_summary(report: dict[str, Any], console: Console) -> None:
    model = report.get("model", {})
    console.print(f"[bold]{model.get('name', '?')}[/bold] ({model.get('format', '?')}, "
                  f"sha256 {str(model.get('sha256', ''))[:12]}) on [bold]{report.get('board', '?')}[/bold]")
    size = report.get("size", {})
    memory = report.get("memory", {})
    table = Table(title="Size", show_header=True)
    table.add_column("what")
    table.add_column("bytes", justify="right")
    for key, label in [("flash_bytes", "flash"), ("ram_bytes", "RAM"), ("weights_bytes", "weights"),
                       ("code_bytes", "inference code"), ("arena_bytes", "arena")]:
        if key in size:
            table.add_row(label, _kb(size[key]))
    if memory:
        table.add_row("arena if unplanned (naive sum)", _kb(memory.get("naive_bytes")))
    console.print(table)
    layers = Table(title=f"Layers ({report.get('macs', 0):,} MACs)")
    for col in ("#", "layer", "op", "output", "MACs", "weights"):
        layers.add_column(col, justify="right" if col in ("#", "MACs", "weights") else "left")
    for i, row in enumerate(report.get("layers", [])):
        layers.add_row(str(i), str(row["name"]), row["op"], "x".join(str(d) for d in row["output_shape"]),
                       f"{row['macs']:,}", f"{row['weights_bytes']:,}")
    console.print(layers)
    latency = report.get("latency") or {}
    for key in ("cycles_per_inference", "instructions_per_inference", "ns_per_inference"):
        if key in latency:
            unit = key.replace("_per_inference", "")
            per_mac = latency.get(f"{unit}_per_mac")
            console.print(f"Latency: {latency[key]:,} {unit} per inference"
                          + (f" ({per_mac} {unit}/MAC)" if per_mac else ""))


def print_validation(report: dict[str, Any], console: Console) -> None:
    v = report.get("validation")
    if not v:
        return
    verdict = "[green]bit-exact[/green]" if v["bit_exact"] else "[red]NOT bit-exact[/red]"
    console.print(f"Validation on {report.get('board')}: {v['samples']} samples, {verdict}, "
                  f"{v['mismatches']} mismatching, {len(v.get('failures', {}))} failed")
    if "first_mismatch" in v:
        fm = v["first_mismatch"]
        layer = fm.get("layer")
        where = (f"first differing layer #{layer['index']} {layer['name']} ({layer['op']})"
                 if layer else "no layer differs")
        console.print(f"  first mismatch: sample {fm['sample']}; {where}")
    acc = v.get("accuracy")
    if acc:
        parts = [f"{k} {100 * val:.2f}%" for k, val in acc.items() if val is not None]
        console.print("Accuracy: " + ", ".join(parts))
