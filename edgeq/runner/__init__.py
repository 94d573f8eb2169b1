"""Run int8 inputs on a target that speaks firmware/PROTOCOL.md: the native firmware process,
a QEMU-emulated board, or a real board on a serial port — all through the same Target."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

import numpy as np

from edgeq.runner.link import NativeConnector, SerialConnector
from edgeq.runner.qemu import QemuConnector
from edgeq.runner.target import InferenceResult, Progress, Target, TargetInfo

__all__ = ["InferenceResult", "Target", "TargetInfo", "open_native", "open_qemu", "open_serial", "run_sharded"]


def open_native(executable: Path, timeout: float = 30.0, retries: int = 2) -> Target:
    """The native firmware build: a host process speaking the protocol on stdin/stdout."""
    return Target(NativeConnector(Path(executable)), timeout=timeout, retries=retries, boot_timeout=5.0)


def open_serial(port: str, baud: int = 115200, timeout: float = 30.0, retries: int = 2) -> Target:
    """A real board (or an existing pty such as a QEMU started by `edgeq flash`)."""
    return Target(SerialConnector(port, baud), timeout=timeout, retries=retries, boot_timeout=10.0)


def open_qemu(qemu_argv: list[str], timeout: float = 30.0, retries: int = 2) -> Target:
    """Start QEMU with its UART on a pty and connect; QEMU is stopped when the Target closes
    (and restarted if it dies mid-run)."""
    return Target(QemuConnector(qemu_argv), timeout=timeout, retries=retries, boot_timeout=15.0)


def run_sharded(open_fn: Callable[[], Target], x: np.ndarray, jobs: int,
                progress: Progress | None = None) -> InferenceResult:
    """Split x over `jobs` targets (each from `open_fn`, e.g. one QEMU each) run in threads;
    the result is in sample order. `progress(k)` gets the number of samples just finished."""
    x = np.asarray(x)
    n = x.shape[0]
    jobs = max(1, min(int(jobs), n)) if n else 1
    bounds = np.linspace(0, n, jobs + 1).astype(int)
    results: list[InferenceResult | None] = [None] * jobs
    errors: list[BaseException | None] = [None] * jobs
    lock = threading.Lock()

    def report(k: int) -> None:
        if progress is not None:
            with lock:
                progress(k)

    def work(j: int) -> None:
        try:
            with open_fn() as target:
                results[j] = target.infer(x[bounds[j]:bounds[j + 1]], progress=report)
        except BaseException as e:  # re-raised or recorded below
            errors[j] = e

    if jobs == 1:
        work(0)
    else:
        threads = [threading.Thread(target=work, args=(j,), name=f"edgeq-shard-{j}", daemon=True)
                   for j in range(jobs)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    done = [r for r in results if r is not None]
    if not done:
        first = next(e for e in errors if e is not None)
        raise first
    out_size = done[0].outputs.shape[1]
    outputs = np.zeros((n, out_size), dtype=np.int8)
    counts = np.zeros(n, dtype=np.uint64)
    failures: dict[int, str] = {}
    for j in range(jobs):
        lo, hi = int(bounds[j]), int(bounds[j + 1])
        r = results[j]
        if r is None:
            for i in range(lo, hi):
                failures[i] = f"sample {i}: not run: shard {j} failed: {str(errors[j]).splitlines()[0]}"
            report(hi - lo)
            continue
        outputs[lo:hi] = r.outputs
        counts[lo:hi] = r.counts
        for i, msg in r.failures.items():
            failures[lo + i] = msg.replace(f"sample {i}:", f"sample {lo + i}:", 1)
    return InferenceResult(outputs, counts, done[0].count_unit, dict(sorted(failures.items())))
