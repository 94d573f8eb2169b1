"""Byte links with deadlines (pipes of a native firmware process, a pty or serial port via
pyserial), a buffered channel that reads protocol frames and ASCII lines from one, and
connectors that (re)open a link, restarting the device where that is possible."""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import errno
import os
import select
import signal
import subprocess
import threading
import time
from abc import ABC, abstractmethod
from pathlib import Path

import serial

from edgeq.errors import EdgeqError
from edgeq.runner.protocol import READY, BadFrame, Frame, FrameParser

try:  # pyserial's flush (tcdrain) on a pty whose QEMU died raises termios.error, not an OSError
    import termios
    _PORT_ERRORS: tuple[type[BaseException], ...] = (serial.SerialException, OSError, TypeError, AttributeError,
                                                     termios.error)
except ImportError:  # not POSIX
    _PORT_ERRORS = (serial.SerialException, OSError, TypeError, AttributeError)


class LinkClosedError(Exception):
    """The other end went away (process exited, port closed, I/O error)."""


class LinkTimeoutError(Exception):
    """A deadline passed before the expected bytes arrived (or could be written)."""


class DeviceResetError(Exception):
    """The device printed its boot `m-ready` while the host expected binary frames."""


class Link(ABC):
    name: str = "link"

    @abstractmethod
    def read(self, timeout: float) -> bytes:
        """Whatever bytes are available, waiting at most `timeout` s; b"" on timeout; LinkClosedError on EOF."""

    @abstractmethod
    def write(self, data: bytes, timeout: float) -> None:
        """Write all bytes within `timeout` s or raise LinkTimeoutError; LinkClosedError on a broken link."""

    @abstractmethod
    def close(self) -> None: ...


class FdLink(Link):
    """A link over two file descriptors (pipes, or the master side of a pty)."""

    def __init__(self, read_fd: int, write_fd: int, name: str = "fd", owns: bool = True) -> None:
        self.read_fd, self.write_fd, self.name, self.owns = read_fd, write_fd, name, owns
        self.closed = False
        os.set_blocking(write_fd, False)

    def read(self, timeout: float) -> bytes:
        if self.closed:
            raise LinkClosedError(f"{self.name} is closed")
        try:
            ready, _, _ = select.select([self.read_fd], [], [], max(timeout, 0.0))
            if not ready:
                return b""
            data = os.read(self.read_fd, 65536)
        except OSError as e:  # EIO on a pty whose other side closed
            raise LinkClosedError(f"{self.name}: {e.strerror}") from None
        if not data:
            raise LinkClosedError(f"{self.name} closed by the device")
        return data

    def write(self, data: bytes, timeout: float) -> None:
        if self.closed:
            raise LinkClosedError(f"{self.name} is closed")
        deadline = time.monotonic() + timeout
        view = memoryview(data)
        while view:
            left = deadline - time.monotonic()
            if left <= 0:
                raise LinkTimeoutError(f"write to {self.name} timed out")
            try:
                _, ready, _ = select.select([], [self.write_fd], [], left)
                if ready:
                    n = os.write(self.write_fd, view)
                    view = view[n:]
            except BlockingIOError:
                continue
            except OSError as e:
                raise LinkClosedError(f"{self.name}: {e.strerror}") from None

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        if self.owns:
            for fd in {self.read_fd, self.write_fd}:
                with contextlib.suppress(OSError):
                    os.close(fd)


class SerialLink(Link):
    """A serial port (real board) or a pty (QEMU, tests) opened with pyserial."""

    def __init__(self, port: str, baud: int = 115200) -> None:
        self.name = port
        if not os.path.exists(port) and not port.startswith(("socket://", "rfc2217://", "loop://")):
            raise EdgeqError(f"serial port {port} does not exist (is the board plugged in? try `ls /dev/tty*`)")
        try:
            self.port = serial.serial_for_url(port, baudrate=baud, timeout=0, write_timeout=5, exclusive=True)
        except serial.SerialException as e:
            err = e.args[0] if e.args and isinstance(e.args[0], int) else getattr(e, "errno", None)
            if err == errno.EACCES or "Permission denied" in str(e):
                raise EdgeqError(f"permission denied opening {port}: add yourself to the dialout group "
                                 f"(sudo usermod -aG dialout $USER) and log in again") from None
            raise EdgeqError(f"cannot open serial port {port}: {str(e).splitlines()[0]}") from None

    def read(self, timeout: float) -> bytes:
        try:
            self.port.timeout = max(timeout, 0.0)
            first = self.port.read(1)
            if not first:
                return b""
            self.port.timeout = 0
            return first + self.port.read(self.port.in_waiting or 0)
        except _PORT_ERRORS as e:
            raise LinkClosedError(f"{self.name}: {str(e).splitlines()[0] if str(e) else 'closed'}") from None

    def write(self, data: bytes, timeout: float) -> None:
        try:
            self.port.write_timeout = max(timeout, 0.01)
            self.port.write(data)
            self.port.flush()
        except serial.SerialTimeoutException:
            raise LinkTimeoutError(f"write to {self.name} timed out") from None
        except _PORT_ERRORS as e:
            raise LinkClosedError(f"{self.name}: {str(e).splitlines()[0] if str(e) else 'closed'}") from None

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.port.close()


class Channel:
    """Buffered reading of frames and ASCII lines from a link, each with a deadline."""

    def __init__(self, link: Link, max_payload: int = 1 << 24) -> None:
        self.link = link
        self.parser = FrameParser(max_payload)
        self.text = bytearray()  # ASCII-mode buffer
        self.tail = b""  # the last skipped bytes, to spot `m-ready` split over reads

    def write(self, data: bytes, timeout: float = 5.0) -> None:
        self.link.write(data, timeout)

    def _fill(self, deadline: float) -> bytes:
        left = deadline - time.monotonic()
        if left <= 0:
            raise LinkTimeoutError("deadline passed")
        return self.link.read(min(left, 0.5))

    def read_frame(self, deadline: float, detect_reset: bool = True) -> Frame | BadFrame:
        while True:
            item = self.parser.next()
            skipped = self.parser.take_skipped()
            if skipped:
                window = self.tail + skipped
                self.tail = window[-16:]
                if detect_reset and READY.encode() in window:
                    self.tail = b""
                    raise DeviceResetError("the device printed m-ready (it reset)")
            if item is not None:
                return item
            self.parser.feed(self._fill(deadline))

    def to_ascii(self) -> None:
        """Switch to line reading: bytes already buffered by the frame parser are text now."""
        self.text += self.parser.buf
        self.parser.buf.clear()
        self.parser.skipped.clear()

    def to_binary(self) -> None:
        self.parser.feed(bytes(self.text))
        self.text.clear()
        self.tail = b""

    def read_line(self, deadline: float) -> str:
        while True:
            i = self.text.find(b"\n")
            if i >= 0:
                line = bytes(self.text[:i]).decode("ascii", "replace").strip("\r\x00 ")
                del self.text[:i + 1]
                return line
            if len(self.text) > 65536:  # a device spewing binary: keep the buffer bounded
                del self.text[:-1024]
            self.text += self._fill(deadline)

    def discard(self) -> None:
        self.text.clear()
        self.parser.buf.clear()
        self.parser.skipped.clear()
        self.tail = b""

    def drain(self, quiet: float = 0.1, limit: float = 2.0) -> None:
        """Read and drop bytes until the link has been quiet for `quiet` s (at most `limit` s)."""
        self.discard()
        end = time.monotonic() + limit
        while time.monotonic() < end:
            if not self.link.read(min(quiet, max(end - time.monotonic(), 0))):
                return


# ----------------------------------------------------------------------------- connectors

class Connector(ABC):
    """Opens the link to a device; `restart` gets a fresh one (new process, reopened port)."""

    description: str = "device"
    can_restart: bool = True

    @abstractmethod
    def connect(self) -> Link: ...

    def restart(self) -> Link:
        self.close()
        return self.connect()

    @abstractmethod
    def close(self) -> None: ...


class FdConnector(Connector):
    """Existing file descriptors (tests: a fake device on pipes or a pty master). Not restartable."""

    can_restart = False

    def __init__(self, read_fd: int, write_fd: int, name: str = "fd") -> None:
        self.link = FdLink(read_fd, write_fd, name, owns=False)
        self.description = name

    def connect(self) -> Link:
        return self.link

    def restart(self) -> Link:
        return self.link

    def close(self) -> None:
        self.link.close()


class SerialConnector(Connector):
    def __init__(self, port: str, baud: int = 115200) -> None:
        self.port, self.baud = port, baud
        self.description = f"serial port {port}"
        self.link: SerialLink | None = None

    def connect(self) -> Link:
        self.link = SerialLink(self.port, self.baud)
        return self.link

    def restart(self) -> Link:
        self.close()
        deadline = time.monotonic() + 5.0  # a board that reset may take a moment to re-enumerate
        while True:
            try:
                return self.connect()
            except EdgeqError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)

    def close(self) -> None:
        if self.link is not None:
            self.link.close()
            self.link = None


# Child processes (native firmware, QEMU) die with us: PDEATHSIG where Linux offers it, and
# an atexit sweep for normal interpreter exits.
_LIVE: set[subprocess.Popen[bytes]] = set()
_LIVE_LOCK = threading.Lock()
_PR_SET_PDEATHSIG = 1
try:
    _prctl = ctypes.CDLL(None, use_errno=True).prctl
except (OSError, AttributeError):  # pragma: no cover - not Linux
    _prctl = None


def _die_with_parent() -> None:
    if _prctl is not None:
        _prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


def spawn(argv: list[str], **kwargs: object) -> subprocess.Popen[bytes]:
    """Start a child that is killed when this process exits (for any reason)."""
    proc: subprocess.Popen[bytes] = subprocess.Popen(argv, preexec_fn=_die_with_parent, **kwargs)  # type: ignore[call-overload]
    with _LIVE_LOCK:
        _LIVE.add(proc)
    return proc


def stop_process(proc: subprocess.Popen[bytes], grace: float = 2.0,
                 reader: threading.Thread | None = None) -> None:
    """Terminate, then kill after `grace` s; always reaps the process. `reader`: a thread reading
    the child's output, joined (it sees EOF) before the pipes close: a read it started after the
    close would take bytes from whatever pipe gets the same fd number next."""
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            proc.terminate()
        try:
            proc.wait(grace)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            proc.wait()
    if reader is not None:
        reader.join(grace)
    for stream in (proc.stdin, proc.stdout, proc.stderr):
        if stream is not None:
            with contextlib.suppress(OSError):
                stream.close()
    with _LIVE_LOCK:
        _LIVE.discard(proc)


@atexit.register
def _stop_all() -> None:
    with _LIVE_LOCK:
        procs = list(_LIVE)
    for proc in procs:
        stop_process(proc, grace=0.5)


class NativeConnector(Connector):
    """The native (host) firmware build: a process speaking the protocol on stdin/stdout."""

    def __init__(self, executable: Path, args: list[str] | None = None) -> None:
        self.executable = Path(executable)
        self.args = list(args or [])
        self.description = f"native firmware {self.executable.name}"
        self.proc: subprocess.Popen[bytes] | None = None
        self.link: FdLink | None = None

    def connect(self) -> Link:
        exe = self.executable
        if not exe.is_file():
            raise EdgeqError(f"firmware executable {exe} does not exist (run `edgeq build` first)")
        if not os.access(exe, os.X_OK):
            raise EdgeqError(f"firmware {exe} is not executable")
        self.proc = spawn([str(exe), *self.args], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                          stderr=subprocess.DEVNULL, bufsize=0)
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.link = FdLink(self.proc.stdout.fileno(), self.proc.stdin.fileno(), self.description, owns=False)
        return self.link

    def exit_status(self) -> str:
        if self.proc is not None and self.proc.poll() is not None:
            return f"process exited with code {self.proc.returncode}"
        return ""

    def close(self) -> None:
        if self.link is not None:
            self.link.close()
            self.link = None
        if self.proc is not None:
            stop_process(self.proc, grace=1.0)
            self.proc = None
