"""Test harness for the runner: a fake device on a pty, a fault-injecting pty proxy, and a
SIGALRM deadline so no test can hang."""

from __future__ import annotations

import contextlib
import os
import select
import signal
import threading
import time
import tty
from collections.abc import Iterator
from dataclasses import dataclass, field
from types import FrameType

import numpy as np

from edgeq.runner.fake_device import FakeDevice, Faults, demo_layers, demo_model
from edgeq.runner.protocol import MAGIC

IN, OUT = 8, 4


@contextlib.contextmanager
def deadline(seconds: int) -> Iterator[None]:
    """Fail the test (instead of hanging) when it takes longer than `seconds`."""
    def boom(signum: int, frame: FrameType | None) -> None:
        raise TimeoutError(f"test took longer than {seconds} s")
    old = signal.signal(signal.SIGALRM, boom)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


def raw_pty() -> tuple[int, int]:
    master, slave = os.openpty()
    tty.setraw(slave)
    return master, slave


def make_device(faults: Faults | None = None, layers: bool = True) -> FakeDevice:
    return FakeDevice(demo_model(OUT), IN, OUT, demo_layers(OUT) if layers else None, faults=faults)


def samples(n: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(-128, 128, (n, IN)).astype(np.int8)


def reference(x: np.ndarray) -> np.ndarray:
    model = demo_model(OUT)
    return np.stack([model(v) for v in x])


@contextlib.contextmanager
def pty_device(device: FakeDevice) -> Iterator[str]:
    """The device served on a pty; yields the port name the runner opens with pyserial."""
    master, slave = raw_pty()
    device.start(master, master)
    try:
        yield os.ttyname(slave)
    finally:
        device.stop()
        os.close(master)
        os.close(slave)


@dataclass
class Fault:
    """Act on the byte at `offset` (from the first magic byte) of the `frame`-th frame (1-based,
    counted by magic occurrences) going in `direction` ("h2d" or "d2h")."""

    direction: str
    frame: int
    offset: int
    action: str  # corrupt | drop | garbage | delay
    garbage: bytes = b""
    delay: float = 0.0
    ftype: int | None = None  # count only frames of this type (then offset >= 2)


@dataclass
class _Stream:
    faults: list[Fault]
    prev: int = -1
    frames: int = 0
    pos: int = -1
    cur_type: int = -1
    type_counts: dict[int, int] = field(default_factory=dict)
    fired: list[Fault] = field(default_factory=list)

    def _hits(self, f: Fault) -> bool:
        if f in self.fired or f.offset != self.pos:
            return False
        if f.ftype is None:
            return f.frame == self.frames
        return f.ftype == self.cur_type and self.type_counts.get(f.ftype, 0) == f.frame

    def filter(self, data: bytes, emit: object) -> None:
        out = bytearray()
        for b in data:
            if self.prev == MAGIC[0] and b == MAGIC[1]:
                self.frames += 1
                self.pos = 1
            elif self.pos >= 0:
                self.pos += 1
                if self.pos == 2:
                    self.cur_type = b
                    self.type_counts[b] = self.type_counts.get(b, 0) + 1
            self.prev = b
            byte: int | None = b
            for f in self.faults:
                if f.action == "garbage" and f.offset == 0 and f not in self.fired and f.frame == self.frames \
                        and self.pos == 1:  # before the frame: ahead of the magic byte already buffered
                    self.fired.append(f)
                    out[len(out) - 1 if out else 0:len(out) - 1 if out else 0] = f.garbage
                    continue
                if self._hits(f):
                    self.fired.append(f)
                    if f.action == "corrupt":
                        byte = b ^ 0x5A
                    elif f.action == "drop":
                        byte = None
                    elif f.action == "garbage":
                        out += f.garbage
                    elif f.action == "delay":
                        emit(bytes(out))  # type: ignore[operator]
                        out.clear()
                        time.sleep(f.delay)
            if byte is not None:
                out.append(byte)
        emit(bytes(out))  # type: ignore[operator]


class Proxy:
    """runner <-> pty A <-> [proxy thread, faults] <-> pty B <-> device."""

    def __init__(self, device: FakeDevice | str, faults: list[Fault]) -> None:
        """`device`: a fake device (served on a second pty pair) or the path of a port (a QEMU pty)."""
        self.device = device
        self.a_master, self.a_slave = raw_pty()
        if isinstance(device, str):
            self.b_master = -1
            self.b_slave = os.open(device, os.O_RDWR | os.O_NOCTTY)
            tty.setraw(self.b_slave)
        else:
            self.b_master, self.b_slave = raw_pty()
        self.h2d = _Stream([f for f in faults if f.direction == "h2d"])
        self.d2h = _Stream([f for f in faults if f.direction == "d2h"])
        self.stop_event = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    @property
    def port(self) -> str:
        return os.ttyname(self.a_slave)

    def fired(self) -> list[Fault]:
        return self.h2d.fired + self.d2h.fired

    def _run(self) -> None:
        def to(fd: int) -> object:
            def emit(data: bytes) -> None:
                with contextlib.suppress(OSError):
                    os.write(fd, data)
            return emit
        while not self.stop_event.is_set():
            try:
                ready, _, _ = select.select([self.a_master, self.b_slave], [], [], 0.05)
                for fd in ready:
                    data = os.read(fd, 4096)
                    if fd == self.a_master:
                        self.h2d.filter(data, to(self.b_slave))
                    else:
                        self.d2h.filter(data, to(self.a_master))
            except OSError:
                return

    def __enter__(self) -> Proxy:
        if isinstance(self.device, FakeDevice):
            self.device.start(self.b_master, self.b_master)
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop_event.set()
        if isinstance(self.device, FakeDevice):
            self.device.stop()
        self.thread.join(2)
        for fd in (self.a_master, self.a_slave, self.b_master, self.b_slave):
            if fd < 0:
                continue
            with contextlib.suppress(OSError):
                os.close(fd)
