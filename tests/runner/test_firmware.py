"""The runner against the real firmware: the native build (a host process) and the
qemu-cortex-m4 build under qemu-system-arm, byte for byte against the numpy int8 reference."""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from edgeq.boards import load_board
from edgeq.codegen.emitter import generate
from edgeq.interpreter import run_int8
from edgeq.ir import Graph, Tensor
from edgeq.ir.graph import Node
from edgeq.ops import RELU, Conv2D, FullyConnected, MaxPool2D, Reshape
from edgeq.quant.quantize import quantize_graph
from edgeq.runner import open_native, open_qemu, open_serial, run_sharded
from edgeq.runner import protocol as P
from edgeq.runner.link import SerialConnector
from edgeq.runner.qemu import QemuProcess, start_detached, stop_detached
from edgeq.runner.target import Target
from edgeq.toolchain.firmware import FirmwareArtifact, build_firmware, qemu_command
from tests.runner.harness import Fault, Proxy, deadline

HAVE_ARM = shutil.which("arm-none-eabi-gcc") is not None
HAVE_QEMU = shutil.which("qemu-system-arm") is not None


@dataclass
class Built:
    src: Path
    x: np.ndarray  # int8 [N, input_size]
    ref: np.ndarray  # int8 [N, output_size]
    native: FirmwareArtifact


def tiny_graph(seed: int = 0) -> tuple[Graph, np.ndarray]:
    rng = np.random.default_rng(seed)
    g = Graph("tiny net")
    g.add_tensor(Tensor("x", (1, 9, 9, 3)))
    g.inputs = ["x"]
    w, b = g.add_constant("w", rng.normal(size=(8, 3, 3, 3))), g.add_constant("b", rng.normal(size=8))
    g.add_tensor(Tensor("c1", (1, 5, 5, 8)))
    g.add_node(Node("conv", Conv2D(stride=(2, 2), padding=(1, 1, 1, 1), activation=RELU), ["x", w, b], ["c1"]))
    g.add_tensor(Tensor("p", (1, 2, 2, 8)))
    g.add_node(Node("mp", MaxPool2D(), ["c1"], ["p"]))
    g.add_tensor(Tensor("r", (1, 32)))
    g.add_node(Node("rs", Reshape(shape=(1, 32)), ["p"], ["r"]))
    wf, bf = g.add_constant("wf", rng.normal(size=(10, 32))), g.add_constant("bf", rng.normal(size=10))
    g.add_tensor(Tensor("y", (1, 10)))
    g.add_node(Node("fc", FullyConnected(), ["r", wf, bf], ["y"]))
    g.outputs = ["y"]
    return g, rng.normal(size=(16, 9, 9, 3)).astype(np.float32)


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Built:
    d = tmp_path_factory.mktemp("fw")
    g, calib = tiny_graph()
    q = quantize_graph(g, [calib])
    x = q.tensors["x"].quant.quantize(np.random.default_rng(1).normal(size=(10, 9, 9, 3)).astype(np.float32))
    ref = run_int8(q, [x])[0].reshape(len(x), -1)
    generate(q, d / "src")
    native = build_firmware(d / "src", load_board("native"), d / "native")
    return Built(d / "src", x.reshape(len(x), -1), ref, native)


@pytest.fixture(scope="module")
def m4(built: Built, tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    if not (HAVE_ARM and HAVE_QEMU):
        pytest.skip("needs arm-none-eabi-gcc and qemu-system-arm")
    board = load_board("qemu-cortex-m4")
    art = build_firmware(built.src, board, tmp_path_factory.mktemp("m4"))
    return qemu_command(art, board)


def test_native_firmware_bit_exact(built: Built) -> None:
    with deadline(60), open_native(built.native.executable) as t:
        assert (t.info.input_size, t.info.output_size) == (243, 10)
        r = t.infer(built.x)
        assert r.failures == {} and np.array_equal(r.outputs, built.ref)
        layers, counts, out = t.infer_layers(built.x[:1])
        assert len(layers) == len(counts) == t.info.num_layers and np.array_equal(out, built.ref[0])
        assert layers[-1].size == 10 and np.array_equal(layers[-1], built.ref[0])


@pytest.mark.qemu
@pytest.mark.arm
def test_qemu_firmware_bit_exact(built: Built, m4: list[str]) -> None:
    with deadline(90), open_qemu(m4) as t:
        assert t.info.count_unit == "instructions" and t.info.model == "tiny net"
        r = t.infer(built.x)
        assert r.failures == {} and np.array_equal(r.outputs, built.ref)
        assert (r.counts > 0).all() and r.count_unit == "instructions"
        layers, counts, out = t.infer_layers(built.x[3:4])
        assert np.array_equal(out, built.ref[3]) and len(layers) == len(counts) == t.info.num_layers


@pytest.mark.qemu
@pytest.mark.arm
def test_qemu_mlperf_ascii_protocol(built: Built, m4: list[str]) -> None:
    sample = built.x[2].tobytes()
    with deadline(90), open_qemu(m4) as t:
        assert t.ascii("name%") == ["m-name-edgeq-tiny net"]
        assert "m-input-[243]" in t.ascii("profile%")
        assert t.ascii(f"db load {len(sample)}%") == [f"m-[Expecting {len(sample)} bytes]"]
        replies = [t.ascii(c.decode()) for c in P.db_commands(sample)[1:]]
        assert replies[-1] == ["m-load-done"]
        lines = t.ascii("infer 1 0%", timeout=30)
        assert P.parse_results(lines[-1]) == list(built.ref[2])
        assert P.parse_results(t.ascii("results%")[0]) == list(built.ref[2])
        assert t.ascii("nonsense%")[0].startswith("e-[")
        r = t.infer(built.x[:2])  # back to binary mode
        assert np.array_equal(r.outputs, built.ref[:2])


@pytest.mark.qemu
@pytest.mark.arm
def test_qemu_sharded(built: Built, m4: list[str]) -> None:
    seen: list[int] = []
    with deadline(120):
        r = run_sharded(lambda: open_qemu(m4), built.x, jobs=2, progress=seen.append)
    assert r.failures == {} and np.array_equal(r.outputs, built.ref) and sum(seen) == len(built.x)


@pytest.mark.qemu
@pytest.mark.arm
def test_qemu_killed_mid_run_is_restarted(built: Built, m4: list[str]) -> None:
    with deadline(120), open_qemu(m4, timeout=10) as t:
        done = [0]

        def kill_after_three(k: int) -> None:
            done[0] += k
            if done[0] == 3:
                t.connector.qemu.proc.kill()  # type: ignore[attr-defined]
        r = t.infer(built.x, progress=kill_after_three)
        assert r.failures == {} and np.array_equal(r.outputs, built.ref)


@pytest.mark.qemu
@pytest.mark.arm
def test_qemu_through_a_faulty_link(built: Built, m4: list[str]) -> None:
    faults = [  # spaced so that no sample meets more than two (the retries)
        Fault("h2d", 2, 40, "corrupt", ftype=P.INFER),  # firmware: bad CRC -> ERROR frame
        Fault("h2d", 6, 3, "corrupt", ftype=P.INFER),  # firmware: bad length -> ERROR frame
        Fault("h2d", 10, 100, "drop", ftype=P.INFER),  # firmware waits inside a frame
        Fault("d2h", 4, 12, "corrupt", ftype=P.RESULT),
        Fault("d2h", 7, 9, "drop", ftype=P.RESULT),
        Fault("d2h", 9, 5, "garbage", garbage=b"\xeb\x90\x81" + bytes(40), ftype=P.RESULT),
    ]
    with deadline(120), QemuProcess(m4) as qemu, Proxy(qemu.port, faults) as proxy, \
            Target(SerialConnector(proxy.port), timeout=3, retries=3, recover_timeout=3, boot_timeout=15) as t:
        r = t.infer(built.x)
        assert r.failures == {} and np.array_equal(r.outputs, built.ref)
    assert len(proxy.fired()) == len(faults)


@pytest.mark.qemu
@pytest.mark.arm
def test_flash_detached_then_run_on_its_port(built: Built, m4: list[str], tmp_path: Path) -> None:
    pid_file = tmp_path / "qemu.pid"
    with deadline(60):
        started = start_detached(m4, pid_file)
        try:
            assert pid_file.read_text().split() == [str(started.pid), started.port]
            assert f"kill {started.pid}" in started.instructions()
            with open_serial(started.port) as t:
                r = t.infer(built.x[:3])
                assert r.failures == {} and np.array_equal(r.outputs, built.ref[:3])
            with open_serial(started.port) as t:  # the board was left in ASCII mode: a second session works
                assert np.array_equal(t.infer(built.x[3:5]).outputs, built.ref[3:5])
        finally:
            assert stop_detached(pid_file)
    assert not pid_file.exists()
    with pytest.raises(ProcessLookupError):
        os.kill(started.pid, 0)
