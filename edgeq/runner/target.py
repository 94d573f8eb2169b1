"""A device speaking firmware/PROTOCOL.md: binary-mode inference with per-sample deadlines,
retries and recovery (resync on the magic, re-entering binary mode after a reset,
restarting the device when the link closes), plus ASCII commands."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from types import TracebackType

import numpy as np

from edgeq.errors import EdgeqError
from edgeq.runner import protocol as P
from edgeq.runner.link import Channel, Connector, DeviceResetError, LinkClosedError, LinkTimeoutError

Progress = Callable[[int], None]


@dataclass(frozen=True)
class TargetInfo:
    input_size: int
    output_size: int
    num_layers: int
    count_unit: str  # "cycles" | "instructions" | "ns"
    model: str


@dataclass
class InferenceResult:
    outputs: np.ndarray  # int8 [N, output_size]
    counts: np.ndarray  # uint64 [N]
    count_unit: str
    failures: dict[int, str] = field(default_factory=dict)  # sample index -> one-line fault

    @property
    def ok(self) -> bool:
        return not self.failures


class SampleFaultError(Exception):
    """One attempt at one sample failed; `kind` says how to recover: stream, reset or closed."""

    def __init__(self, message: str, kind: str = "stream") -> None:
        super().__init__(message)
        self.kind = kind


class DeviceLostError(Exception):
    """The device could not be brought back into binary mode."""


class Target:
    """Use as a context manager; `open_native`, `open_serial` and `open_qemu` build one."""

    def __init__(self, connector: Connector, timeout: float = 30.0, retries: int = 2,
                 boot_timeout: float = 10.0, recover_timeout: float | None = None) -> None:
        self.connector = connector
        self.timeout = timeout
        self.retries = retries
        self.boot_timeout = boot_timeout
        self.recover_timeout = recover_timeout if recover_timeout is not None else min(max(timeout, 2.0), 10.0)
        self.mode = "none"
        self.name = ""  # model name from `name%`
        self._lost = ""
        self._pending = ""  # recovery owed before the next attempt: "", stream, reset, closed
        self.info: TargetInfo = TargetInfo(0, 0, 0, "cycles", "")
        try:
            self.channel = Channel(connector.connect())
            self._sync_ascii()
            self._enter_binary()
            self.info = self._query_info()
        except EdgeqError:
            connector.close()
            raise
        except (LinkClosedError, LinkTimeoutError, DeviceResetError, SampleFaultError) as e:
            connector.close()
            raise EdgeqError(f"{connector.description}: {e}") from None
        except BaseException:
            connector.close()
            raise

    # -------------------------------------------------------------- context manager

    def __enter__(self) -> Target:
        return self

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    def close(self) -> None:
        if self.mode == "binary":  # leave a real board in ASCII mode for the next user
            try:
                self.channel.write(P.encode_frame(P.EXIT), timeout=0.5)
            except (LinkClosedError, LinkTimeoutError):
                pass
        self.mode = "closed"
        self.connector.close()

    # -------------------------------------------------------------- session set-up

    def _sync_ascii(self) -> None:
        """Bring the device to a clean ASCII prompt: leave binary mode if it is there, terminate any
        partial command, and wait for the reply to `name%` (resent every second: a QEMU pty may drop
        the first bytes, a board may still be booting)."""
        ch = self.channel
        ch.discard()
        deadline = time.monotonic() + self.boot_timeout
        rounds = 0
        while time.monotonic() < deadline:
            filler = b"\x00" * (self.info.input_size + P.OVERHEAD) if rounds and self.info.input_size else b""
            ch.write(filler + P.encode_frame(P.EXIT) + b"%name%", timeout=max(deadline - time.monotonic(), 0.1))
            rounds += 1
            resend = min(time.monotonic() + 1.0 * rounds, deadline)
            got_name = ""
            try:
                while True:
                    line = ch.read_line(resend)
                    if "m-name-" in line:
                        got_name = line[line.index("m-name-") + len("m-name-"):]
                    elif got_name and line.endswith(P.READY):
                        ch.drain(quiet=0.05, limit=0.5)
                        self.mode = "ascii"
                        self.name = got_name.removeprefix("edgeq-")
                        return
            except LinkTimeoutError:
                continue
        raise EdgeqError(f"{self.connector.description} does not answer (no reply to `name%` within "
                         f"{self.boot_timeout:g} s; is the firmware running and the baud rate right?)")

    def _enter_binary(self) -> None:
        ch = self.channel
        ch.write(P.command("bin"))
        deadline = time.monotonic() + max(self.recover_timeout, 2.0)
        while True:
            try:
                line = ch.read_line(deadline)
            except LinkTimeoutError:
                raise SampleFaultError("no m-bin-ready after `bin%`", "reset") from None
            if line.endswith(P.BIN_READY):
                ch.to_binary()
                self.mode = "binary"
                return
            if line.startswith("e-[unknown command"):
                raise EdgeqError(f"{self.connector.description}: the firmware has no binary mode ({line})")

    def _query_info(self) -> TargetInfo:
        self.channel.write(P.encode_frame(P.INFO))
        frame = self._read_reply({P.INFO_REPLY}, time.monotonic() + max(self.recover_timeout, 2.0))
        try:
            info = P.decode_info(frame.payload)
        except ValueError as e:
            raise SampleFaultError(str(e)) from None
        self.channel.parser.max_payload = max(info.input_size, info.output_size, 1 << 16) * 4 + 64
        return TargetInfo(info.input_size, info.output_size, info.num_layers, info.count_unit, info.model)

    # -------------------------------------------------------------- frames

    def _read_reply(self, wanted: set[int], deadline: float) -> P.Frame:
        """The next frame of a wanted type; device errors, corrupt frames, timeouts, resets and a
        closed link become SampleFaultError. Stale frames of other types are dropped."""
        try:
            while True:
                item = self.channel.read_frame(deadline)
                if isinstance(item, P.BadFrame):
                    raise SampleFaultError(item.reason)
                if item.type in wanted:
                    return item
                if item.type == P.ERROR:
                    raise SampleFaultError(P.decode_error(item.payload))
        except LinkTimeoutError:
            raise SampleFaultError(f"timeout: no reply within {self.timeout:g} s") from None
        except DeviceResetError:
            raise SampleFaultError("the device reset (printed m-ready)", "reset") from None
        except LinkClosedError as e:
            status = getattr(self.connector, "exit_status", lambda: "")()
            raise SampleFaultError(f"link closed ({status or e})", "closed") from None

    def _send(self, ftype: int, payload: bytes) -> None:
        try:
            self.channel.write(P.encode_frame(ftype, payload), timeout=max(self.timeout, 2.0))
        except LinkTimeoutError:
            raise SampleFaultError("timeout writing to the device") from None
        except LinkClosedError as e:
            raise SampleFaultError(f"link closed ({e})", "closed") from None

    # -------------------------------------------------------------- recovery

    def _recover(self, kind: str) -> None:
        """Back to a clean binary-mode session, escalating: resync the frame stream with a PING,
        then re-enter binary mode from ASCII, then restart the device / reopen the link."""
        if kind == "stream" and self._resync_binary():
            return
        if kind in ("stream", "reset"):
            try:
                self._sync_ascii()
                self._enter_binary()
                return
            except (EdgeqError, SampleFaultError, LinkClosedError, LinkTimeoutError):
                pass
        self._restart()

    def _resync_binary(self) -> bool:
        ch = self.channel
        ch.discard()  # a partial frame left by the fault would swallow the PONG
        nonce = os.urandom(8)
        try:
            ch.write(b"\x00" * (self.info.input_size + P.OVERHEAD) + P.encode_frame(P.PING, nonce),
                     timeout=self.recover_timeout)
            deadline = time.monotonic() + self.recover_timeout
            while True:
                item = ch.read_frame(deadline)
                if isinstance(item, P.Frame) and item.type == P.PONG and item.payload == nonce:
                    return True
        except (LinkTimeoutError, DeviceResetError, LinkClosedError):
            return False

    def _restart(self) -> None:
        last = ""
        for _ in range(2):
            try:
                self.channel = Channel(self.connector.restart())
                self._sync_ascii()
                self._enter_binary()
                info = self._query_info()
            except (EdgeqError, SampleFaultError, LinkClosedError, LinkTimeoutError, DeviceResetError) as e:
                last = str(e)
                continue
            if self.info.input_size and info != self.info:
                raise DeviceLostError(f"{self.connector.description} came back with a different model ({info.model})")
            return
        self.mode = "lost"
        raise DeviceLostError(f"{self.connector.description} lost and could not be restarted: {last}")

    def _attempt(self, index: int, run: Callable[[], object]) -> object:
        faults: list[str] = []
        for _ in range(1 + self.retries):
            if self._pending or self.mode != "binary":
                kind = self._pending or "reset"
                self._pending = ""
                self._recover(kind)
            try:
                return run()
            except SampleFaultError as f:
                faults.append(str(f))
                self._pending = f.kind
        tried = f"{len(faults)} attempt{'s' if len(faults) > 1 else ''}"
        raise SampleFaultError(f"sample {index}: {faults[-1]} (failed {tried}: {'; '.join(faults)})")

    # -------------------------------------------------------------- public API

    def _check_input(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x)
        if x.dtype != np.int8:
            raise EdgeqError(f"inputs must be int8 (quantized), got {x.dtype}")
        if x.ndim == 1:
            x = x[None]
        n = x.shape[0]
        flat = x.reshape(n, -1)
        if flat.shape[1] != self.info.input_size:
            raise EdgeqError(f"each input has {flat.shape[1]} values but the model on "
                             f"{self.connector.description} takes {self.info.input_size}")
        return np.ascontiguousarray(flat)

    def _infer_one(self, sample: bytes) -> tuple[int, bytes]:
        self._send(P.INFER, sample)
        frame = self._read_reply({P.RESULT}, time.monotonic() + self.timeout)
        count, out = P.decode_result(frame.payload) if len(frame.payload) >= 8 else (0, b"")
        if len(out) != self.info.output_size:
            raise SampleFaultError(f"RESULT has {len(frame.payload)} bytes, expected {8 + self.info.output_size}")
        return count, out

    def infer(self, x: np.ndarray, progress: Progress | None = None) -> InferenceResult:
        """Run every sample of x (int8 [N, input_size]); `progress(k)` is called with the number of
        samples just finished (1 each time, failed ones included)."""
        flat = self._check_input(x)
        n = flat.shape[0]
        outputs = np.zeros((n, self.info.output_size), dtype=np.int8)
        counts = np.zeros(n, dtype=np.uint64)
        failures: dict[int, str] = {}
        for i in range(n):
            if self.mode == "lost":
                failures[i] = f"sample {i}: not run: {self._lost}"
            else:
                sample = flat[i].tobytes()
                try:
                    count, out = self._attempt(i, lambda s=sample: self._infer_one(s))  # type: ignore[misc]
                    outputs[i] = np.frombuffer(out, dtype=np.int8)
                    counts[i] = count
                except SampleFaultError as f:
                    failures[i] = str(f)
                except DeviceLostError as e:
                    self._lost = str(e)
                    failures[i] = f"sample {i}: {e}"
            if progress is not None:
                progress(1)
        return InferenceResult(outputs, counts, self.info.count_unit, failures)

    def _layers_one(self, sample: bytes) -> tuple[list[np.ndarray], list[int], np.ndarray]:
        self._send(P.INFER_LAYERS, sample)
        deadline = time.monotonic() + self.timeout
        layers: dict[int, tuple[int, bytes]] = {}
        while True:
            frame = self._read_reply({P.LAYER, P.RESULT}, deadline)
            if frame.type == P.LAYER:
                try:
                    idx, count, data = P.decode_layer(frame.payload)
                except ValueError as e:
                    raise SampleFaultError(str(e)) from None
                layers[idx] = (count, data)
                continue
            count, out = P.decode_result(frame.payload) if len(frame.payload) >= 8 else (0, b"")
            if len(out) != self.info.output_size:
                raise SampleFaultError(f"RESULT has {len(frame.payload)} bytes, expected {8 + self.info.output_size}")
            if sorted(layers) != list(range(self.info.num_layers)):
                raise SampleFaultError(f"got LAYER frames {sorted(layers)}, expected {self.info.num_layers} layers")
            outs = [np.frombuffer(layers[k][1], dtype=np.int8).copy() for k in range(self.info.num_layers)]
            return outs, [layers[k][0] for k in range(self.info.num_layers)], np.frombuffer(out, dtype=np.int8).copy()

    def infer_layers(self, x: np.ndarray) -> tuple[list[np.ndarray], list[int], np.ndarray]:
        """One sample: per-layer int8 outputs (flat), per-layer counts, final int8 output."""
        flat = self._check_input(x)
        if flat.shape[0] != 1:
            raise EdgeqError(f"infer_layers takes one sample, got {flat.shape[0]}")
        if self.mode == "lost":
            raise EdgeqError(f"sample 0: {self._lost}")
        try:
            return self._attempt(0, lambda: self._layers_one(flat[0].tobytes()))  # type: ignore[return-value]
        except SampleFaultError as f:
            raise EdgeqError(f"per-layer run failed: {f}") from None
        except DeviceLostError as e:
            raise EdgeqError(str(e)) from None

    def ascii(self, command: str, timeout: float = 5.0) -> list[str]:
        """Send an ASCII command (e.g. "name%") and return its reply lines before `m-ready`.
        Leaves binary mode first; the next `infer` re-enters it."""
        ch = self.channel
        try:
            data = P.command(command)
        except ValueError as e:
            raise EdgeqError(str(e)) from None
        try:
            if self.mode == "binary":
                self._leave_binary()
            elif self.mode != "ascii":
                self._sync_ascii()
            ch.write(data, timeout=timeout)
            deadline = time.monotonic() + timeout
            lines: list[str] = []
            while True:
                line = ch.read_line(deadline)
                if line.endswith(P.READY):
                    head = line[: -len(P.READY)]
                    if head:
                        lines.append(head)
                    return lines
                if line:
                    lines.append(line)
        except LinkTimeoutError:
            self.mode = "unknown"
            raise EdgeqError(f"no m-ready from {self.connector.description} within {timeout:g} s "
                             f"after {command!r}") from None
        except LinkClosedError as e:
            self.mode = "unknown"
            raise EdgeqError(f"{self.connector.description}: {e}") from None

    def _leave_binary(self) -> None:
        ch = self.channel
        ch.write(P.encode_frame(P.EXIT))
        deadline = time.monotonic() + max(self.recover_timeout, 2.0)
        try:
            self._read_reply({P.OK}, deadline)
            ch.to_ascii()
            while not ch.read_line(deadline).endswith(P.READY):
                pass
            self.mode = "ascii"
        except (SampleFaultError, LinkTimeoutError):
            self._sync_ascii()
