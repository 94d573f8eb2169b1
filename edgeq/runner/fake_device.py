"""A Python implementation of the device side of firmware/PROTOCOL.md, for tests: it serves a
function int8 input -> int8 output (and optionally per-layer outputs) on a pair of file
descriptors (a pty master, pipes, or this process's stdin/stdout via `python -m`).
Fault hooks make it reset, hang or exit on chosen inferences."""

from __future__ import annotations

import argparse
import contextlib
import os
import select
import struct
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from edgeq.runner import protocol as P

Model = Callable[[np.ndarray], np.ndarray]
LayersFn = Callable[[np.ndarray], list[np.ndarray]]
CMD_MAX = P.CMD_MAX


def demo_model(output_size: int) -> Model:
    """A deterministic int8 function of the whole input (any change in the input shows)."""
    def model(x: np.ndarray) -> np.ndarray:
        v = x.astype(np.int64)
        j = np.arange(output_size)
        acc = v[j % v.size] * 3 - j * 5 + int(v.sum()) // 7 + int((v * np.arange(v.size)).sum()) % 11
        return np.clip(acc, -128, 127).astype(np.int8)
    return model


def demo_layers(output_size: int) -> LayersFn:
    model = demo_model(output_size)

    def layers(x: np.ndarray) -> list[np.ndarray]:
        first = np.clip(x.astype(np.int16) // 2 + 1, -128, 127).astype(np.int8)
        return [first, model(first)]
    return layers


@dataclass
class Faults:
    """Per-INFER-frame fault hooks (1-based count of inference frames the device received)."""

    reset_on: set[int] = field(default_factory=set)  # print boot text, back to ASCII, no reply
    hang_on: set[int] = field(default_factory=set)  # never answer this one
    exit_on: set[int] = field(default_factory=set)  # stop serving (close the link)
    error_on: set[int] = field(default_factory=set)  # answer with an ERROR frame


class FakeDevice:
    def __init__(self, model: Model, input_size: int, output_size: int, layers: LayersFn | None = None,
                 name: str = "fake", count_unit: str = "cycles", faults: Faults | None = None,
                 frame_timeout: float = 1.0) -> None:
        self.model, self.layers = model, layers
        self.input_size, self.output_size = input_size, output_size
        self.num_layers = len(layers(np.zeros(input_size, np.int8))) if layers else 0
        self.name, self.count_unit = name, count_unit
        self.faults = faults or Faults()
        self.frame_timeout = frame_timeout
        self.infers = 0  # inference frames received
        self.stop_event = threading.Event()
        self.thread: threading.Thread | None = None
        self._boot()

    # ------------------------------------------------------------------ state

    def _boot(self) -> None:
        self.binary = False
        self.cmd = bytearray()
        self.overflow = False
        self.rx = bytearray()
        self.frame_started = 0.0
        self.db = bytearray()
        self.db_expect = 0
        self.last_output = np.zeros(self.output_size, np.int8)
        self.t0 = time.monotonic()

    def _count(self, x: np.ndarray) -> int:
        return 1000 + int(np.abs(x.astype(np.int64)).sum())

    # ------------------------------------------------------------------ serving

    def start(self, read_fd: int, write_fd: int) -> FakeDevice:
        self.thread = threading.Thread(target=self.serve, args=(read_fd, write_fd), daemon=True)
        self.thread.start()
        return self

    def stop(self, timeout: float = 2.0) -> None:
        self.stop_event.set()
        if self.thread is not None:
            self.thread.join(timeout)

    def serve(self, read_fd: int, write_fd: int) -> None:
        self.write_fd = write_fd
        self._out(b"edgeq fake device\r\nm-ready\r\n")
        while not self.stop_event.is_set():
            try:
                ready, _, _ = select.select([read_fd], [], [], 0.05)
                data = os.read(read_fd, 4096) if ready else b""
            except OSError:
                return
            if ready and not data:
                return
            try:
                if not self.feed(data):
                    return
            except OSError:
                return

    def _out(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            n = os.write(self.write_fd, view)
            view = view[n:]

    def _line(self, text: str) -> None:
        self._out(text.encode("ascii", "replace") + b"\r\n")

    def reset(self) -> None:
        """As if the board rebooted: ASCII mode, empty buffers, the boot banner."""
        self._boot()
        self._out(b"\x00edgeq fake device\r\nm-ready\r\n")

    def feed(self, data: bytes) -> bool:
        """Process received bytes; False when the device should stop serving."""
        if self.binary:
            return self._feed_binary(data)
        for i, b in enumerate(data):
            if self.binary:  # `bin%` switched modes: the rest is frames
                return self._feed_binary(data[i:])
            if b == ord("%"):
                if self.overflow:
                    self._line("e-[command too long]")
                    self._line(P.READY)
                else:
                    self._ascii(self.cmd.decode("ascii", "replace").strip())
                self.cmd.clear()
                self.overflow = False
            elif len(self.cmd) >= CMD_MAX:
                self.overflow = True
            else:
                self.cmd.append(b)
        return True

    # ------------------------------------------------------------------ ASCII mode

    def _ascii(self, cmd: str) -> None:
        words = cmd.split()
        reply = self._line
        if cmd == "name":
            reply(f"m-name-edgeq-{self.name}")
        elif cmd == "profile":
            for line in ("m-profile-[edgeq]", f"m-model-[{self.name}]", f"m-input-[{self.input_size}]",
                         f"m-output-[{self.output_size}]", f"m-layers-[{self.num_layers}]",
                         f"m-count-unit-[{self.count_unit}]"):
                reply(line)
        elif cmd == "timestamp":
            reply(f"m-lap-us-{int((time.monotonic() - self.t0) * 1e6)}")
        elif cmd == "stack":
            reply("m-stack-[0/0]")  # as the host build: no painted stack to measure
        elif cmd == "help":
            for c in ("name", "profile", "timestamp", "stack", "db load N", "db HEX", "db print", "infer N W",
                      "results", "bin", "help"):
                reply(f"m-[{c}]")
        elif cmd == "bin":
            reply(P.BIN_READY)
            self.binary = True
            self.rx.clear()
            return
        elif words[:2] == ["db", "load"] and len(words) == 3 and words[2].isdigit():
            n = int(words[2])
            if n > self.input_size:
                reply(f"e-[db load {n} exceeds the input size {self.input_size}]")
            else:
                self.db_expect, self.db = n, bytearray()
                reply(f"m-[Expecting {n} bytes]")
        elif words[:2] == ["db", "print"]:
            reply(f"m-buffer-{self.db.hex()}")
        elif len(words) == 2 and words[0] == "db":
            self._db_hex(words[1])
        elif words and words[0] == "infer" and len(words) <= 3 and all(w.isdigit() for w in words[1:]):
            n = int(words[1]) if len(words) > 1 else 1
            w = int(words[2]) if len(words) > 2 else 0
            x = np.zeros(self.input_size, np.int8)
            x[:len(self.db)] = np.frombuffer(bytes(self.db), np.int8)
            reply(f"m-warmup-start-{w}")
            reply("m-warmup-done")
            reply(f"m-infer-start-{n}")
            reply(f"m-lap-us-{int((time.monotonic() - self.t0) * 1e6)}")
            for _ in range(max(n, 1)):
                self.last_output = self.model(x)
            reply(f"m-lap-us-{int((time.monotonic() - self.t0) * 1e6)}")
            reply("m-infer-done")
            reply(self._results())
        elif cmd == "results":
            reply(self._results())
        else:
            reply(f"e-[unknown command: {cmd}]")
        reply(P.READY)

    def _results(self) -> str:
        return "m-results-[" + ",".join(str(int(v)) for v in self.last_output) + "]"

    def _db_hex(self, hexstr: str) -> None:
        if len(hexstr) % 2 or any(c not in "0123456789abcdefABCDEF" for c in hexstr):
            self._line("e-[db: hex must have an even number of 0-9a-f digits]")
            return
        data = bytes.fromhex(hexstr)
        if len(self.db) + len(data) > self.db_expect:
            self._line(f"e-[db: more than the {self.db_expect} bytes loaded]")
            return
        self.db += data
        if len(self.db) == self.db_expect:
            self._line("m-load-done")

    # ------------------------------------------------------------------ binary mode

    def _feed_binary(self, data: bytes) -> bool:
        now = time.monotonic()
        if self.rx and self.frame_timeout and now - self.frame_started > self.frame_timeout:
            self._error(P.ERR_TIMEOUT, "no byte for 1 s inside a frame")
            self.rx.clear()
        if data:
            if not self.rx:
                self.frame_started = now
            self.rx += data
            self.frame_started = now if self.rx else self.frame_started
        while self.binary:
            i = self.rx.find(P.MAGIC)
            if i < 0:
                del self.rx[:len(self.rx) - (1 if self.rx[-1:] == P.MAGIC[:1] else 0)]
                return True
            del self.rx[:i]
            if len(self.rx) < P.HEADER_SIZE:
                return True
            ftype, length = struct.unpack_from("<BI", self.rx, 2)
            limit = {P.INFER: self.input_size, P.INFER_LAYERS: self.input_size, P.INFO: 0, P.EXIT: 0,
                     P.PING: P.MAX_PING}.get(ftype)
            if limit is None:
                self._error(P.ERR_UNKNOWN_TYPE, f"unknown frame type 0x{ftype:02x}")
                del self.rx[:1]
                continue
            exact = ftype in (P.INFER, P.INFER_LAYERS, P.INFO, P.EXIT)
            if length > limit or (exact and length != limit):
                self._error(P.ERR_BAD_LENGTH, f"bad length {length} for type 0x{ftype:02x}")
                del self.rx[:1]
                continue
            total = P.OVERHEAD + length
            if len(self.rx) < total:
                return True
            body = bytes(self.rx[2:P.HEADER_SIZE + length])
            (crc,) = struct.unpack_from("<I", self.rx, P.HEADER_SIZE + length)
            if crc != P.crc32(body):
                self._error(P.ERR_BAD_CRC, "bad CRC")
                del self.rx[:1]
                continue
            del self.rx[:total]
            if not self._frame(ftype, body[5:]):
                return False
        if self.rx:  # bytes after `EXIT` are ASCII again
            rest = bytes(self.rx)
            self.rx.clear()
            return self.feed(rest)
        return True

    def _error(self, code: int, message: str) -> None:
        self._out(P.encode_frame(P.ERROR, P.encode_error(code, message)))

    def _frame(self, ftype: int, payload: bytes) -> bool:
        if ftype == P.INFO:
            info = P.InfoPayload(self.input_size, self.output_size, self.num_layers, self.count_unit, self.name)
            self._out(P.encode_frame(P.INFO_REPLY, P.encode_info(info)))
        elif ftype == P.PING:
            self._out(P.encode_frame(P.PONG, payload))
        elif ftype == P.EXIT:
            self._out(P.encode_frame(P.OK))
            self.binary = False
            self._line(P.READY)
        elif ftype in (P.INFER, P.INFER_LAYERS):
            self.infers += 1
            k, f = self.infers, self.faults
            if k in f.exit_on:
                return False
            if k in f.reset_on:
                self.reset()
                return True
            if k in f.hang_on:
                return True
            if k in f.error_on:
                self._error(P.ERR_BAD_CRC, "injected error")
                return True
            x = np.frombuffer(payload, np.int8)
            if ftype == P.INFER_LAYERS and self.layers is not None:
                for idx, out in enumerate(self.layers(x)):
                    self._out(P.encode_frame(P.LAYER, P.encode_layer(idx, 100 + idx, out.tobytes())))
            self.last_output = self.model(x)
            self._out(P.encode_frame(P.RESULT, P.encode_result(self._count(x), self.last_output.tobytes())))
        return True


def main(argv: list[str] | None = None) -> int:
    """`python -m edgeq.runner.fake_device --input-size 8 --output-size 4`: serve on stdin/stdout."""
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--input-size", type=int, default=8)
    ap.add_argument("--output-size", type=int, default=4)
    ap.add_argument("--layers", action="store_true", help="offer per-layer outputs (two layers)")
    ap.add_argument("--name", default="fake")
    ap.add_argument("--exit-on", type=int, action="append", default=[], help="exit at this inference frame")
    ap.add_argument("--once", type=Path, help="apply --exit-on only if this marker file does not exist yet")
    args = ap.parse_args(argv)
    exit_on = set(args.exit_on)
    if args.once is not None:
        if args.once.exists():
            exit_on = set()
        else:
            args.once.touch()
    dev = FakeDevice(demo_model(args.output_size), args.input_size, args.output_size,
                     demo_layers(args.output_size) if args.layers else None, name=args.name,
                     faults=Faults(exit_on=exit_on))
    with contextlib.suppress(KeyboardInterrupt, BrokenPipeError):
        dev.serve(sys.stdin.fileno(), sys.stdout.fileno())
    return 0


if __name__ == "__main__":
    sys.exit(main())
