"""Benchmarks: build each model of a list for a board, run one inference and report
instructions (emulator) or cycles (board) per inference and per MAC, flash and RAM splits
and the per-layer breakdown. Benchmarks measure and print; tests never assert timings.

    python -m edgeq.bench [--board qemu-cortex-m4] [--models benchmarks/models.toml]
                          [--only ic,vww] [--model FILE ...] [--out bench-out] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import sys
import tomllib
from pathlib import Path
from typing import Any

import numpy as np

from edgeq.boards import DEFAULT_BOARD
from edgeq.errors import EdgeqError, run_main

DEFAULT_MODELS = Path(__file__).resolve().parent.parent / "benchmarks" / "models.toml"


def load_models(path: Path, only: list[str] | None = None) -> list[dict[str, Any]]:
    """The models listed in `path` (TOML, [[model]] tables with name and path), or those named in
    `only`. A missing or malformed list, or an unknown name, raises EdgeqError."""
    try:
        entries = tomllib.loads(path.read_text()).get("model", [])
    except FileNotFoundError:
        raise EdgeqError(f"{path}: model list not found") from None
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as e:
        raise EdgeqError(f"{path}: not a readable TOML model list ({e})") from None
    for i, e in enumerate(entries):
        for key in ("name", "path"):
            if not isinstance(e.get(key), str):
                raise EdgeqError(f"{path}: model {i + 1} has no '{key}' (a string)")
    unknown = sorted(set(only or []) - {e["name"] for e in entries})
    if unknown:
        known = ", ".join(e["name"] for e in entries)
        raise EdgeqError(f"{path}: no model named {', '.join(unknown)} (the list has {known})")
    models = []
    for e in entries:
        if only and e["name"] not in only:
            continue
        if not only and e.get("optional"):
            continue
        e = dict(e)
        e["path"] = str((path.parent / e["path"]).resolve())
        models.append(e)
    return models


def _random_calib(model_path: str, n: int = 16) -> np.ndarray:
    from edgeq.data import user_shape
    from edgeq.frontends.load import load_model

    g = load_model(model_path).graph
    shape = user_shape(g.tensors[g.inputs[0]].shape, g.input_layout)
    return np.random.default_rng(0).normal(size=(n, *shape)).astype(np.float32)


def bench_model(entry: dict[str, Any], board: str, out: Path, opt: str | None = None) -> dict[str, Any]:
    """Build one model for `board`, run one random sample layer by layer, collect the figures."""
    from edgeq.api import build
    from edgeq.execute import open_target

    calib = _random_calib(entry["path"]) if entry.get("calib") == "random" else None
    built = build(entry["path"], board=board, calib=calib, out=out / entry["name"], force=True, opt=opt)
    report = built.report
    _, q = built.build_dir.graphs()
    size = q.tensors[q.inputs[0]].size
    x = np.random.default_rng(1).integers(-128, 128, size=(1, size)).astype(np.int8)
    with open_target(built.build_dir) as target:
        result = target.infer(x)
        _, layer_counts, _ = target.infer_layers(x)
        stack_used = _stack_used(target)
    total = int(result.counts[0])
    macs = int(report.get("macs") or sum(layer["macs"] for layer in report["layers"]))
    s = report["size"]
    flash, ram = s["breakdown"]["flash"], s["breakdown"]["ram"]
    layers = [{"index": i, "op": layer["op"], "macs": layer["macs"], "count": int(c),
               "per_mac": round(c / layer["macs"], 3) if layer["macs"] else None,
               "share": round(c / max(sum(layer_counts), 1), 4), "output_shape": layer["output_shape"],
               "code_bytes": layer.get("code_bytes"), "weights_bytes": layer.get("weights_bytes")}
              for i, (layer, c) in enumerate(zip(report["layers"], layer_counts, strict=True))]
    row: dict[str, Any] = {
        "name": entry["name"], "title": entry.get("title", entry["name"]), "board": board,
        "count_unit": result.count_unit, "count_per_inference": total, "macs": macs,
        "per_mac": round(total / macs, 3) if macs else None,
        "flash": {"total": s["flash_bytes"], "weights": flash["weights"], "code": flash["kernel_code"],
                  "runtime": flash["runtime_startup"] + flash["rest"],
                  "beyond_weights": s["flash_bytes"] - flash["weights"]},
        "ram": {"total": s["ram_bytes"], "arena": ram["arena"], "stack": ram["stack"], "other": ram["rest"],
                "stack_used": stack_used},
        "arena": {"planned": report["memory"]["arena_bytes"], "naive": report["memory"]["naive_bytes"]},
        "layers": layers,
    }
    if entry.get("tflm_cmsis_nn_instructions") and result.count_unit == "instructions":
        row["vs_tflm_cmsis_nn"] = round(total / entry["tflm_cmsis_nn_instructions"], 3)
    if entry.get("tflm_ram_bytes"):
        row["ram_vs_tflm"] = round(s["ram_bytes"] / entry["tflm_ram_bytes"], 3)
    return row


def _stack_used(target: Any) -> int | None:
    """The firmware's stack high-water mark (`stack%`: used/reserve bytes), None where unknown."""
    import re

    try:
        lines = target.ascii("stack%")
    except EdgeqError:
        return None
    for line in lines:
        m = re.search(r"m-stack-\[(\d+)/(\d+)\]", line)
        if m and int(m.group(2)):
            return int(m.group(1))
    return None


def format_table(rows: list[dict[str, Any]], layers: bool = True) -> str:
    unit = rows[0]["count_unit"] if rows else "instructions"
    head = (f"{'model':8} {unit + '/inf':>16} {'per MAC':>8} {'xTFLM':>6} {'flash':>8} {'weights':>8} {'code':>7} "
            f"{'runtime':>8} {'RAM':>7} {'arena':>7} {'stack':>6} {'used':>6} {'other':>6}")
    lines = [head, "-" * len(head)]
    for r in rows:
        f, m = r["flash"], r["ram"]
        lines.append(f"{r['name']:8} {r['count_per_inference']:>16,} {r['per_mac'] or 0:>8.3f} "
                     f"{r.get('vs_tflm_cmsis_nn', float('nan')):>6.2f} {f['total']:>8,} {f['weights']:>8,} "
                     f"{f['code']:>7,} {f['runtime']:>8,} {m['total']:>7,} {m['arena']:>7,} {m['stack']:>6,} "
                     f"{m.get('stack_used') or 0:>6,} {m['other']:>6,}")
    if layers:
        for r in rows:
            lines += ["", f"{r['name']}: per layer ({r['count_unit']})",
                      f"  {'#':>3} {'op':18} {'count':>12} {'share':>6} {'MACs':>10} {'per MAC':>8}  output"]
            for layer in r["layers"]:
                pm = f"{layer['per_mac']:.2f}" if layer["per_mac"] is not None else "-"
                lines.append(f"  {layer['index']:>3} {layer['op']:18} {layer['count']:>12,} "
                             f"{layer['share'] * 100:>5.1f}% {layer['macs']:>10,} {pm:>8}  {layer['output_shape']}")
    return "\n".join(lines)


def make_parser(add_help: bool = True) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="edgeq bench", description=__doc__.splitlines()[0], add_help=add_help)
    p.add_argument("--board", default=DEFAULT_BOARD, help=f"board to build for (default {DEFAULT_BOARD})")
    p.add_argument("--models", type=Path, default=DEFAULT_MODELS, help="model list (TOML)")
    p.add_argument("--only", default=None, help="comma-separated model names from the list")
    p.add_argument("--model", action="append", default=[], help="a model file (instead of the list)")
    p.add_argument("--out", type=Path, default=Path("bench-out"), help="build directories")
    p.add_argument("--json-out", type=Path, default=None, help="write the results here (default OUT/bench.json)")
    p.add_argument("--opt", default=None, help="optimisation flag for the build (-O2, -Os, ...)")
    p.add_argument("--no-layers", action="store_true", help="omit the per-layer tables")
    return p


def run(args: argparse.Namespace) -> int:
    """Benchmark the models; bad input raises EdgeqError (the CLI prints one line)."""
    if args.model:
        entries = [{"name": Path(m).stem, "path": str(Path(m).resolve())} for m in args.model]
    else:
        entries = load_models(args.models, args.only.split(",") if args.only else None)
    if not entries:
        raise EdgeqError("no models to benchmark")
    rows = []
    for e in entries:
        if not Path(e["path"]).is_file():
            print(f"skipping {e['name']}: {e['path']} not found", file=sys.stderr)
            continue
        rows.append(bench_model(e, args.board, args.out, args.opt))
    if not rows:
        raise EdgeqError("none of the models to benchmark was found (see the lines above)")
    print(format_table(rows, layers=not args.no_layers))
    out_json = args.json_out or args.out / "bench.json"
    out_json.parent.mkdir(parents=True, exist_ok=True)
    out_json.write_text(json.dumps({"board": args.board, "models": rows}, indent=2) + "\n")
    print(f"\nwrote {out_json}")
    return 0


def main(argv: list[str] | None = None) -> int:
    return run_main(make_parser(), run, argv)


if __name__ == "__main__":
    raise SystemExit(main())
