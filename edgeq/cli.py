"""The `edgeq` command line. User errors print one line and exit 1; usage errors exit 2;
broken CI thresholds exit 3."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from edgeq import __version__
from edgeq.errors import EdgeqError

EPILOG = "Docs: README.md. Every command takes --help."


class _Console:
    def __init__(self, quiet: bool) -> None:
        from rich.console import Console

        self.quiet = quiet
        self.out = Console(highlight=False)
        self.err = Console(stderr=True, highlight=False)

    def info(self, text: str) -> None:
        if not self.quiet:
            self.err.print(text)

    @contextmanager
    def progress(self, label: str, total: int | None) -> Iterator[Callable[[int], None]]:
        if self.quiet or not self.err.is_terminal:
            yield lambda n: None
            return
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            ProgressColumn,
            TextColumn,
            TimeRemainingColumn,
        )
        from rich.text import Text

        class Rate(ProgressColumn):  # samples per second; speed is None until a few are done
            def render(self, task) -> Text:
                return Text(f"{task.speed:>6.1f}/s" if total and task.speed is not None else "")

        columns = [TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), Rate(),
                   TimeRemainingColumn()]
        with Progress(*columns, console=self.err, transient=True) as bar:
            task = bar.add_task(label, total=total)
            yield lambda n: bar.advance(task, n)


def _progress_factory(console: _Console) -> Callable[[str, int | None], Callable[[int], None]]:
    """A progress callback factory for pipeline steps that report as they go."""
    from rich.progress import Progress

    if console.quiet or not console.err.is_terminal:
        return lambda label, total: (lambda n: None)
    bar = Progress(console=console.err, transient=True)
    bar.start()

    def make(label: str, total: int | None) -> Callable[[int], None]:
        task = bar.add_task(label, total=total)
        return lambda n: bar.advance(task, n)

    make.stop = bar.stop  # type: ignore[attr-defined]
    return make


# -- commands ----------------------------------------------------------------------------
def cmd_build(args: argparse.Namespace, console: _Console) -> int:
    from edgeq.pipeline import BuildOptions, build
    from edgeq.report.terminal import print_summary

    options = BuildOptions(board=args.board, out=Path(args.output), observer=args.observer, force=args.force,
                           opt=args.opt)
    progress = _progress_factory(console)
    try:
        bd = build(args.model, args.calib, options, name=args.name, progress=progress)
    finally:
        if hasattr(progress, "stop"):
            progress.stop()
    report = bd.report()
    if args.json:
        console.out.print_json(json.dumps(report))
    elif not console.quiet:
        print_summary(report, console.out)
        console.info(f"wrote {bd.path}")
    return 0


def cmd_run(args: argparse.Namespace, console: _Console) -> int:
    import numpy as np

    from edgeq.builddir import BuildDir
    from edgeq.data import load_array_file
    from edgeq.execute import run_build

    bd = BuildDir.open(args.build)
    data = load_array_file(args.inputs, "inputs")
    with console.progress("inferring", len(data.x)) as tick:
        outcome = run_build(bd, data.x, f"inputs {args.inputs}", raw=args.raw, port=args.port, tick=tick)
    if args.output:
        out = Path(args.output)
        tmp = out.with_name(out.name + ".tmp.npy")
        np.save(tmp, outcome.outputs)
        tmp.replace(out)
    summary = {"samples": len(outcome.outputs), "count_unit": outcome.count_unit,
               "median_count": int(np.median(outcome.counts)) if len(outcome.counts) else None,
               "failures": {str(k): v for k, v in outcome.failures.items()}, "output": args.output}
    if args.json:
        console.out.print_json(json.dumps(summary))
    elif not console.quiet:
        console.out.print(f"{summary['samples']} sample(s) run on {bd.meta['board']}; "
                          f"median {summary['median_count']} {outcome.count_unit} per inference")
        if not args.output:
            console.out.print(outcome.outputs)
    for i, why in outcome.failures.items():
        console.err.print(f"sample {i} failed: {why}")
    return 1 if outcome.failures else 0


def cmd_validate(args: argparse.Namespace, console: _Console) -> int:
    from edgeq.builddir import BuildDir
    from edgeq.data import load_array_file
    from edgeq.report.terminal import print_validation
    from edgeq.validate import validate

    bd = BuildDir.open(args.build)
    data = load_array_file(args.data, "validation data")
    with console.progress("validating", len(data.x)) as tick:
        report = validate(bd, data, jobs=args.jobs, port=args.port, tick=tick, layers=not args.no_layers)
    if args.json:
        console.out.print_json(json.dumps({"validation": report["validation"], "latency": report["latency"]}))
    elif not console.quiet:
        print_validation(report, console.out)
    return 0 if report["validation"]["bit_exact"] else 1


def _limit(text: str) -> Any:
    from edgeq.report.compare import Limit

    try:
        return Limit.parse(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def cmd_report(args: argparse.Namespace, console: _Console) -> int:
    from edgeq import __version__
    from edgeq.builddir import REPORT_JSON, BuildDir
    from edgeq.errors import ThresholdError
    from edgeq.report.compare import broken_message, check_report, compare, evaluate_gates, load_baseline
    from edgeq.report.render import render_html, render_markdown, write_text_atomic
    from edgeq.report.terminal import print_report

    bd = BuildDir.open(args.build)
    report = check_report(bd.report(), str(bd.path / REPORT_JSON))
    if report.get("edgeq_version") != __version__:
        raise EdgeqError(f"{bd.path / REPORT_JSON} was written by edgeq {report.get('edgeq_version')}, "
                         f"this is edgeq {__version__}; rebuild it")
    baseline = comparison = None
    if args.compare:
        baseline = load_baseline(args.compare)
        comparison = compare(report, baseline, args.compare)
    gates = evaluate_gates(report, baseline, max_accuracy_drop=args.max_accuracy_drop, max_flash=args.max_flash,
                           max_ram=args.max_ram, max_latency=args.max_latency)
    fmt = args.format
    if fmt in ("md", "html"):
        out = Path(args.output) if args.output else bd.path / f"report.{fmt}"
        text = render_markdown(report, comparison, gates) if fmt == "md" else render_html(report, comparison, gates)
        write_text_atomic(out, text)
        if args.json:
            console.out.print_json(json.dumps({"format": fmt, "path": str(out), "gates": gates}))
        elif not console.quiet:
            console.out.print(f"wrote {out}", markup=False)
    elif fmt == "json" or args.json:
        extra = {} if baseline is None and not gates else {"comparison": comparison, "gates": gates}
        console.out.print_json(json.dumps({**report, **extra}))
    else:
        print_report(report, console.out, comparison, gates)
    message = broken_message(gates)
    if message:
        raise ThresholdError(message)
    return 0


def cmd_flash(args: argparse.Namespace, console: _Console) -> int:
    from edgeq.builddir import BuildDir
    from edgeq.flash import flash

    message = flash(BuildDir.open(args.build), port=args.port, stop=args.stop)
    if args.json:
        console.out.print_json(json.dumps({"message": message}))
    else:
        console.out.print(message, markup=False)
    return 0


def cmd_boards(args: argparse.Namespace, console: _Console) -> int:
    from rich.table import Table

    from edgeq.boards import DEFAULT_BOARD, board_ids, load_board

    boards = [load_board(b) for b in board_ids()]
    if args.json:
        console.out.print_json(json.dumps([{"id": b.id, "name": b.name, "core": b.core} for b in boards]))
        return 0
    table = Table(title="Boards (`--board ID`)")
    for col in ("id", "name", "core", "runs here"):
        table.add_column(col)
    for b in boards:
        runs = "native" if b.is_native else ("emulated" if getattr(b, "emulator", None) else "flash + --port")
        table.add_row(b.id + (" (default)" if b.id == DEFAULT_BOARD else ""), b.name, b.core, runs)
    console.out.print(table)
    return 0


def cmd_ops(args: argparse.Namespace, console: _Console) -> int:
    from rich.table import Table

    from edgeq.frontends.catalog import supported_ops

    catalog = supported_ops()
    if args.json:
        console.out.print_json(json.dumps(catalog))
        return 0
    for frontend, rows in catalog.items():
        table = Table(title=f"{frontend} frontend")
        table.add_column("layer / op")
        table.add_column("becomes (edgeq IR)")
        for layer, ir in rows:
            table.add_row(layer, ir)
        console.out.print(table)
    return 0


def cmd_example(args: argparse.Namespace, console: _Console) -> int:
    from edgeq.examples.digits import write_example

    console.info(f"training the digits example ({args.framework}) ...")
    paths = write_example(Path(args.output), args.framework, epochs=args.epochs)
    if args.json:
        console.out.print_json(json.dumps({k: str(v) for k, v in paths.items()}))
    elif not console.quiet:
        for what, path in paths.items():
            console.out.print(f"{what}: {path}")
    return 0


# -- parser ------------------------------------------------------------------------------
def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("-q", "--quiet", action="store_true", help="print nothing but the result and errors")
    p.add_argument("--json", action="store_true", help="print the result as JSON only")


def make_parser() -> argparse.ArgumentParser:
    from edgeq.boards import DEFAULT_BOARD

    parser = argparse.ArgumentParser(
        prog="edgeq", epilog=EPILOG,
        description="Quantize a trained PyTorch or Keras model to int8, generate C for a microcontroller, "
                    "build the firmware and prove it bit-exact on the host, an emulator or a board.")
    parser.add_argument("--version", action="version", version=f"edgeq {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    p = sub.add_parser("build", help="quantize a model and build its firmware",
                       description="Quantize MODEL on calibration data, generate C, build it for a board and "
                                   "write OUT with the sources, the binary and report.json.")
    p.add_argument("model", help="model file: .pt2 (torch.export.save), .keras or .h5")
    p.add_argument("--calib", metavar="FILE",
                   help="calibration samples: .npy (array of samples) or .npz (key x, optional y), "
                        "in the model's own layout (NCHW for PyTorch images); required for float models, "
                        "not for models that are already int8 (.tflite, QDQ .onnx)")
    p.add_argument("--board", default=DEFAULT_BOARD, help=f"target board (default {DEFAULT_BOARD}; see `edgeq boards`)")
    p.add_argument("-o", "--output", default="out", metavar="OUT", help="build directory to write (default ./out)")
    p.add_argument("--observer", choices=["minmax", "percentile"], default="minmax",
                   help="activation range observer (default minmax; percentile clips outliers at 99.99%%)")
    p.add_argument("--name", help="model name in the generated C (default: the file's name)")
    p.add_argument("--opt", choices=["-O2", "-Os", "-O3"], help="compiler optimisation (default: the board's)")
    p.add_argument("--force", action="store_true", help="write into OUT even if it holds other files")
    _common(p)
    p.set_defaults(func=cmd_build)

    p = sub.add_parser("run", help="run inputs through a build's target",
                       description="Quantize INPUTS with the model's input parameters, run them on the build's "
                                   "target (native process, QEMU, or a board on --port) and write the outputs.")
    p.add_argument("build", metavar="OUT", help="build directory from `edgeq build`")
    p.add_argument("--inputs", required=True, metavar="X.npy", help="samples in the model's own layout (.npy/.npz)")
    p.add_argument("-o", "--output", metavar="Y.npy", help="where to write the outputs (.npy)")
    p.add_argument("--raw", action="store_true", help="inputs are int8 already quantized; write int8 outputs")
    p.add_argument("--port", help="serial port of a flashed board (default: start the emulator or native build)")
    _common(p)
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("validate", help="check the target bit-exact against the int8 reference",
                       description="Run every sample of DATA on the target and compare with the numpy int8 "
                                   "reference byte for byte; with labels y, report accuracy. Updates report.json.")
    p.add_argument("build", metavar="OUT", help="build directory from `edgeq build`")
    p.add_argument("--data", required=True, metavar="D.npz", help=".npz with x (and optional labels y), or .npy")
    p.add_argument("--jobs", type=int, default=1, help="emulator instances to shard the samples over")
    p.add_argument("--port", help="serial port of a flashed board")
    p.add_argument("--no-layers", action="store_true",
                   help="skip the per-layer run of one sample (per-layer latency, first differing layer)")
    _common(p)
    p.set_defaults(func=cmd_validate)

    p = sub.add_parser(
        "report", help="show a build's report; compare it with a baseline and gate CI on it",
        description="Render report.json: a terminal summary (default), JSON, Markdown or one self-contained "
                    "HTML page with charts. With --compare, show the deltas to a baseline report.json; with "
                    "--max-* thresholds, exit 3 when one is broken (1 on errors, 2 on usage errors).",
        epilog="Thresholds: --max-accuracy-drop is in percentage points, against the baseline with --compare, "
               "else against this build's float model. --max-flash/--max-ram (bytes) and --max-latency (the "
               "report's count per inference: cycles, instructions or ns) are absolute limits; with a % suffix "
               "(e.g. 5%%) they are the allowed growth over the baseline and need --compare.")
    p.add_argument("build", metavar="OUT", help="build directory")
    p.add_argument("--format", choices=["terminal", "json", "md", "html"], default="terminal",
                   help="terminal (default), json (prints report.json), md or html (write a file)")
    p.add_argument("-o", "--output", metavar="FILE", help="where md/html go (default OUT/report.md or OUT/report.html)")
    p.add_argument("--compare", metavar="BASELINE.json",
                   help="a baseline report.json (or build directory) of the same model and board")
    p.add_argument("--max-accuracy-drop", type=float, metavar="PP", help="max accuracy drop in percentage points")
    p.add_argument("--max-flash", type=_limit, metavar="BYTES|P%", help="max flash bytes (or %% growth over baseline)")
    p.add_argument("--max-ram", type=_limit, metavar="BYTES|P%", help="max RAM bytes (or %% growth over baseline)")
    p.add_argument("--max-latency", type=_limit, metavar="COUNT|P%",
                   help="max count per inference, in the report's unit (or %% growth over baseline)")
    _common(p)
    p.set_defaults(func=cmd_report)

    p = sub.add_parser("flash", help="flash a build to its board (or start its emulator)",
                       description="Physical boards: run the board's flash method (pyocd, openocd, st-flash or "
                                   "a UF2 copy). Emulated boards: start QEMU in the background with the firmware "
                                   "and its UART on a pty, print the port and how to stop it.")
    p.add_argument("build", metavar="OUT", help="build directory from `edgeq build`")
    p.add_argument("--port", help="UF2 boards: the mounted RPI-RP2 drive (default: found automatically)")
    p.add_argument("--stop", action="store_true", help="emulated boards: stop the QEMU started by `edgeq flash`")
    _common(p)
    p.set_defaults(func=cmd_flash)

    from edgeq.bench import make_parser as bench_parser
    from edgeq.bench import run as bench_run

    p = sub.add_parser("bench", help="measure instructions/cycles, flash and RAM of benchmark models",
                       parents=[bench_parser(add_help=False)],
                       description="Build each benchmark model (benchmarks/models.toml: the MLPerf Tiny models) "
                                   "for a board, run it, and print instructions (emulator) or cycles (board) per "
                                   "inference and per MAC, flash and RAM splits and a per-layer breakdown; "
                                   "writes the same as JSON.")
    p.set_defaults(func=lambda args, console: bench_run(args))

    from edgeq.compare import make_parser as compare_parser
    from edgeq.compare import run as compare_run

    p = sub.add_parser("compare", help="compare edgeq's int8 quantization with the TFLite converter's",
                       parents=[compare_parser()], add_help=False,
                       description="Train the Keras digits model and compare the accuracy of float, edgeq int8 "
                                   "and TFLite int8 on held-out data (same calibration samples).")
    p.set_defaults(func=lambda args, console: compare_run(args))

    p = sub.add_parser("boards", help="list the boards", description="List the boards edgeq can build for.")
    _common(p)
    p.set_defaults(func=cmd_boards)

    p = sub.add_parser("example", help="train an example model to try edgeq on",
                       description="Train a small CNN on scikit-learn's bundled 8x8 digits and write the model, "
                                   "a calibration set (calib.npy) and a labelled test set (test.npz).")
    p.add_argument("name", choices=["digits"], help="which example")
    p.add_argument("--framework", choices=["pytorch", "keras"], default="pytorch", help="default pytorch")
    p.add_argument("--epochs", type=int, default=20, help="training epochs (default 20)")
    p.add_argument("-o", "--output", default="example", help="directory to write (default ./example)")
    _common(p)
    p.set_defaults(func=cmd_example)

    p = sub.add_parser("ops", help="list the supported layers per frontend",
                       description="List every layer and op each frontend supports and the IR op it becomes.")
    _common(p)
    p.set_defaults(func=cmd_ops)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = make_parser()
    args = parser.parse_args(argv)
    console = _Console(quiet=getattr(args, "quiet", False) or getattr(args, "json", False))
    try:
        return int(args.func(args, console))
    except EdgeqError as e:
        console.err.print(f"edgeq: error: {e}", markup=False, soft_wrap=True)
        return e.exit_code
    except KeyboardInterrupt:
        console.err.print("edgeq: interrupted")
        return 130


if __name__ == "__main__":
    sys.exit(main())
