"""Fixtures for the firmware tests: a tiny quantized model generated into C, its numpy int8
reference, and a serial-link helper that drives the firmware (native process or QEMU)."""

from __future__ import annotations

import os
import shutil
import subprocess
import threading
import time
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from edgeq.codegen.emitter import generate
from edgeq.interpreter import run_int8
from edgeq.ir import Graph, Tensor
from edgeq.ir.graph import Node
from edgeq.ops import RELU, Conv2D, DepthwiseConv2D, FullyConnected, MaxPool2D, Reshape
from edgeq.quant.quantize import quantize_graph

HAVE_ARM = shutil.which("arm-none-eabi-gcc") is not None
HAVE_QEMU = shutil.which("qemu-system-arm") is not None
EMULATED = ["qemu-cortex-m3", "qemu-cortex-m4", "qemu-cortex-m7", "qemu-cortex-m33", "qemu-cortex-m55"]
PHYSICAL = ["nucleo-l4r5zi", "nucleo-f446re", "nucleo-h743zi", "disco-f746ng", "nano33ble", "rpi-pico"]

needs_arm = pytest.mark.skipif(not HAVE_ARM, reason="arm-none-eabi-gcc not installed")
needs_qemu = pytest.mark.skipif(not (HAVE_ARM and HAVE_QEMU), reason="arm-none-eabi-gcc or qemu-system-arm missing")


@dataclass
class TinyModel:
    graph: Graph  # quantized
    src: Path  # generated C sources
    input_shape: tuple[int, ...]
    input_size: int
    output_size: int
    num_layers: int
    name: str

    def reference(self, x: np.ndarray) -> np.ndarray:
        """numpy int8 reference output (flat) for one flat int8 input."""
        out = run_int8(self.graph, [x.astype(np.int8).reshape(self.input_shape)])[0]
        return out.reshape(-1).astype(np.int8)

    def layer_references(self, x: np.ndarray) -> list[np.ndarray]:
        trace: dict[str, np.ndarray] = {}
        run_int8(self.graph, [x.astype(np.int8).reshape(self.input_shape)], trace=trace)
        return [trace[n.outputs[0]].reshape(-1).astype(np.int8) for n in self.graph.nodes]


def tiny_graph() -> Graph:
    """conv (stride 2, relu) -> depthwise (multiplier 2) -> max pool -> reshape -> dense."""
    rng = np.random.default_rng(0)
    g = Graph("tiny net")
    g.add_tensor(Tensor("x", (1, 9, 9, 3)))
    g.inputs = ["x"]
    w = g.add_constant("w", rng.normal(size=(8, 3, 3, 3)))
    b = g.add_constant("b", rng.normal(size=8))
    g.add_tensor(Tensor("c1", (1, 5, 5, 8)))
    g.add_node(Node("conv", Conv2D(stride=(2, 2), padding=(1, 1, 1, 1), activation=RELU), ["x", w, b], ["c1"]))
    wd = g.add_constant("wd", rng.normal(size=(1, 3, 3, 16)))
    bd = g.add_constant("bd", rng.normal(size=16))
    g.add_tensor(Tensor("d1", (1, 5, 5, 16)))
    g.add_node(Node("dw", DepthwiseConv2D(padding=(1, 1, 1, 1), depth_multiplier=2), ["c1", wd, bd], ["d1"]))
    g.add_tensor(Tensor("p", (1, 2, 2, 16)))
    g.add_node(Node("mp", MaxPool2D(), ["d1"], ["p"]))
    g.add_tensor(Tensor("r", (1, 64)))
    g.add_node(Node("rs", Reshape(shape=(1, 64)), ["p"], ["r"]))
    wf = g.add_constant("wf", rng.normal(size=(10, 64)))
    bf = g.add_constant("bf", rng.normal(size=10))
    g.add_tensor(Tensor("y", (1, 10)))
    g.add_node(Node("fc", FullyConnected(), ["r", wf, bf], ["y"]))
    g.outputs = ["y"]
    calib = [rng.normal(size=(16, 9, 9, 3)).astype(np.float32) for _ in range(4)]
    return quantize_graph(g, calib)


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> TinyModel:
    q = tiny_graph()
    src = tmp_path_factory.mktemp("tiny") / "src"
    gen = generate(q, src)
    inp, out = q.tensors[q.inputs[0]], q.tensors[q.outputs[0]]
    return TinyModel(q, src, tuple(inp.shape), inp.size, out.size, len(q.nodes), gen.c_name)


def kept_graph() -> Graph:
    """dense -> dense on a small input: keeping the input live costs no arena bytes."""
    rng = np.random.default_rng(1)
    g = Graph("kept net")
    g.add_tensor(Tensor("x", (1, 16)))
    g.inputs = ["x"]
    g.add_tensor(Tensor("h", (1, 64)))
    g.add_node(Node("fc1", FullyConnected(), ["x", g.add_constant("w1", rng.normal(size=(64, 16))),
                                               g.add_constant("b1", rng.normal(size=64))], ["h"]))
    g.add_tensor(Tensor("y", (1, 5)))
    g.add_node(Node("fc2", FullyConnected(), ["h", g.add_constant("w2", rng.normal(size=(5, 64))),
                                               g.add_constant("b2", rng.normal(size=5))], ["y"]))
    g.outputs = ["y"]
    return quantize_graph(g, [rng.normal(size=(16, 16)).astype(np.float32) for _ in range(4)])


@pytest.fixture(scope="session")
def kept_model(tmp_path_factory: pytest.TempPathFactory) -> TinyModel:
    q = kept_graph()
    src = tmp_path_factory.mktemp("kept") / "src"
    gen = generate(q, src)
    assert gen.plan.input_kept
    inp, out = q.tensors[q.inputs[0]], q.tensors[q.outputs[0]]
    return TinyModel(q, src, tuple(inp.shape), inp.size, out.size, len(q.nodes), gen.c_name)


# ------------------------------------------------------------------------------- the link


class Link:
    """A byte link to a firmware process (native executable or QEMU with -serial stdio)."""

    def __init__(self, argv: list[str]) -> None:
        self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.buf = bytearray()
        self.lock = threading.Lock()
        self.thread = threading.Thread(target=self._pump, daemon=True)
        self.thread.start()

    def _pump(self) -> None:
        assert self.proc.stdout is not None
        while True:
            chunk = os.read(self.proc.stdout.fileno(), 65536)
            if not chunk:
                return
            with self.lock:
                self.buf += chunk

    def send(self, data: bytes | str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(data.encode() if isinstance(data, str) else data)
        self.proc.stdin.flush()

    def take(self, predicate, timeout: float = 20.0) -> bytes:
        """Wait until predicate(buffer) returns an end index; remove and return buffer[:end]."""
        deadline = time.monotonic() + timeout
        while True:
            with self.lock:
                end = predicate(bytes(self.buf))
                if end is not None:
                    out = bytes(self.buf[:end])
                    del self.buf[:end]
                    return out
            if time.monotonic() > deadline:
                with self.lock:
                    raise TimeoutError(f"no reply; received so far: {bytes(self.buf)[:400]!r}")
            if self.proc.poll() is not None and not self.thread.is_alive():
                with self.lock:
                    end = predicate(bytes(self.buf))
                if end is None:
                    raise RuntimeError(f"firmware exited ({self.proc.returncode}); got {bytes(self.buf)[:400]!r}")
            time.sleep(0.002)

    def reply(self, timeout: float = 20.0) -> list[str]:
        """One ASCII reply: lines up to and including m-ready."""
        marker = b"m-ready\r\n"

        def pred(b: bytes) -> int | None:
            i = b.find(marker)
            return None if i < 0 else i + len(marker)

        return self.take(pred, timeout).decode(errors="replace").split("\r\n")[:-1]

    def command(self, cmd: str, timeout: float = 20.0) -> list[str]:
        self.send(cmd)
        return self.reply(timeout)

    def frame(self, timeout: float = 20.0) -> tuple[int, bytes]:
        """One binary frame: (type, payload); checks magic and CRC."""
        def pred(b: bytes) -> int | None:
            if len(b) < 7:
                return None
            n = int.from_bytes(b[3:7], "little")
            return 7 + n + 4 if len(b) >= 11 + n else None

        raw = self.take(pred, timeout)
        assert raw[:2] == b"\xeb\x90", raw[:16]
        n = int.from_bytes(raw[3:7], "little")
        body, crc = raw[2:7 + n], int.from_bytes(raw[7 + n:], "little")
        assert zlib.crc32(body) == crc, "bad CRC from the device"
        return raw[2], raw[7:7 + n]

    def close(self, wait: float = 2.0) -> None:
        try:
            if self.proc.stdin:
                self.proc.stdin.close()
        except OSError:
            pass
        try:
            self.proc.wait(timeout=wait)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def encode_frame(ftype: int, payload: bytes = b"") -> bytes:
    body = bytes([ftype]) + len(payload).to_bytes(4, "little") + payload
    return b"\xeb\x90" + body + zlib.crc32(body).to_bytes(4, "little")


def results_of(lines: list[str]) -> list[int]:
    line = next(ln for ln in lines if ln.startswith("m-results-["))
    return [int(v) for v in line[len("m-results-["):-1].split(",")]
