"""qemu-system-arm with the board's UART on a pty: a managed process that never outlives the
runner (context manager, kill on exit, PDEATHSIG), and a detached start for `edgeq flash`."""

from __future__ import annotations

import collections
import contextlib
import os
import re
import select
import shutil
import signal
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from edgeq.errors import EdgeqError
from edgeq.runner.link import Connector, Link, SerialLink, spawn, stop_process

PTY_LINE = re.compile(rb"char device redirected to (/dev/\S+)")
INSTALL_HINT = "qemu-system-arm not found: install it with `apt-get install qemu-system-arm`"


def check_qemu(argv: list[str]) -> None:
    if not argv:
        raise EdgeqError("empty QEMU command")
    if shutil.which(argv[0]) is None:
        if "qemu" in Path(argv[0]).name:
            raise EdgeqError(f"{argv[0]} not found: install it with `apt-get install qemu-system-arm`")
        raise EdgeqError(f"emulator {argv[0]} not found")


def pty_argv(argv: list[str]) -> list[str]:
    """The QEMU command with its first UART on a new pty, no display and no monitor on stdio."""
    out: list[str] = []
    skip = False
    for i, arg in enumerate(argv):
        if skip:
            skip = False
            continue
        if arg in ("-serial", "-monitor", "-display") and i + 1 < len(argv):
            skip = True
            continue
        if arg == "-nographic":
            continue
        out.append(arg)
    return [*out, "-display", "none", "-monitor", "none", "-serial", "pty"]


class QemuProcess:
    """`with QemuProcess(argv) as q: q.port` — QEMU stopped (and reaped) on exit."""

    def __init__(self, argv: list[str], start_timeout: float = 10.0) -> None:
        check_qemu(argv)
        self.argv = pty_argv(argv)
        self.log: collections.deque[str] = collections.deque(maxlen=20)
        self._drainer: threading.Thread | None = None
        self.proc = spawn(self.argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, bufsize=0)
        try:
            self.port = self._wait_for_pty(start_timeout)
        except BaseException:
            self.stop()
            raise
        self._drainer = threading.Thread(target=self._drain, daemon=True)
        self._drainer.start()

    def _wait_for_pty(self, timeout: float) -> str:
        assert self.proc.stdout is not None
        fd = self.proc.stdout.fileno()
        deadline = time.monotonic() + timeout
        buf = b""
        while time.monotonic() < deadline:
            ready, _, _ = select.select([fd], [], [], max(deadline - time.monotonic(), 0))
            if not ready:
                break
            chunk = os.read(fd, 4096)
            if not chunk:  # QEMU closed its output: it is exiting
                with contextlib.suppress(subprocess.TimeoutExpired):
                    self.proc.wait(2.0)
                break
            buf += chunk
            m = PTY_LINE.search(buf)
            if m:
                self.log.extend(buf.decode("utf-8", "replace").splitlines())
                return m.group(1).decode()
        text = buf.decode("utf-8", "replace").strip()
        first = text.splitlines()[0] if text else "no output"
        if self.proc.poll() is not None:
            raise EdgeqError(f"QEMU exited with code {self.proc.returncode}: {first}")
        raise EdgeqError(f"QEMU did not report its serial pty within {timeout:g} s ({first})")

    def _drain(self) -> None:
        stream = self.proc.stdout
        try:
            while stream is not None:
                line = stream.readline()
                if not line:
                    return
                self.log.append(line.decode("utf-8", "replace").rstrip())
        except (OSError, ValueError):
            return

    def exit_status(self) -> str:
        if self.proc.poll() is None:
            return ""
        last = next((ln for ln in reversed(self.log) if ln.strip()), "")
        return f"QEMU exited with code {self.proc.returncode}{': ' + last if last else ''}"

    def stop(self) -> None:
        # the drainer reads the pipe a byte at a time (seen without the join: the next QEMU's
        # "char device redirected" line without its "c")
        stop_process(self.proc, grace=2.0, reader=self._drainer)

    def __enter__(self) -> QemuProcess:
        return self

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()


class QemuConnector(Connector):
    """Starts QEMU and opens its pty; `restart` stops it and starts a fresh one."""

    def __init__(self, argv: list[str], baud: int = 115200) -> None:
        check_qemu(argv)
        self.argv, self.baud = list(argv), baud
        self.description = f"QEMU ({Path(argv[0]).name})"
        self.qemu: QemuProcess | None = None
        self.link: SerialLink | None = None

    def connect(self) -> Link:
        self.qemu = QemuProcess(self.argv)
        self.description = f"QEMU on {self.qemu.port}"
        try:
            self.link = SerialLink(self.qemu.port, self.baud)
        except BaseException:
            self.close()
            raise
        return self.link

    def exit_status(self) -> str:
        return self.qemu.exit_status() if self.qemu is not None else ""

    def close(self) -> None:
        if self.link is not None:
            self.link.close()
            self.link = None
        if self.qemu is not None:
            self.qemu.stop()
            self.qemu = None


# ----------------------------------------------------------------------------- detached (edgeq flash)

@dataclass(frozen=True)
class DetachedQemu:
    pid: int
    port: str
    pid_file: Path
    log_file: Path

    def instructions(self) -> str:
        return (f"QEMU is running (pid {self.pid}); the board's UART is {self.port}\n"
                f"  use it:  edgeq run OUT --port {self.port} --inputs X.npy\n"
                f"  stop it: kill {self.pid}   (or: kill $(cat {self.pid_file}))\n"
                f"  log:     {self.log_file}")


def start_detached(argv: list[str], pid_file: Path, log_file: Path | None = None,
                   start_timeout: float = 10.0) -> DetachedQemu:
    """Start QEMU in its own session (it outlives edgeq), write its pid to `pid_file` and return
    the pty of its UART. The caller prints `.instructions()`."""
    check_qemu(argv)
    pid_file = Path(pid_file)
    log_file = Path(log_file) if log_file is not None else pid_file.with_suffix(".log")
    if pid_file.exists():
        with contextlib.suppress(ValueError, OSError):
            old = int(pid_file.read_text().split()[0])
            if _alive(old):
                raise EdgeqError(f"QEMU is already running (pid {old}, {pid_file}); stop it with `kill {old}`")
    with open(log_file, "wb") as log:
        proc = subprocess.Popen(pty_argv(argv), stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True)
    deadline = time.monotonic() + start_timeout
    while time.monotonic() < deadline:
        m = PTY_LINE.search(log_file.read_bytes())
        if m:
            port = m.group(1).decode()
            pid_file.write_text(f"{proc.pid} {port}\n")
            return DetachedQemu(proc.pid, port, pid_file, log_file)
        if proc.poll() is not None:
            text = log_file.read_text(errors="replace").strip()
            raise EdgeqError(f"QEMU exited with code {proc.returncode}: {text.splitlines()[0] if text else ''}")
        time.sleep(0.05)
    proc.kill()
    proc.wait()
    raise EdgeqError(f"QEMU did not report its serial pty within {start_timeout:g} s (see {log_file})")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def stop_detached(pid_file: Path, grace: float = 2.0) -> bool:
    """Stop a QEMU started by `start_detached`; False when it was not running."""
    pid_file = Path(pid_file)
    try:
        pid = int(pid_file.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return False
    running = _alive(pid)
    if running:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
        end = time.monotonic() + grace
        while _alive(pid) and time.monotonic() < end:
            _reap(pid)
            time.sleep(0.05)
        if _alive(pid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
            _reap(pid)
    pid_file.unlink(missing_ok=True)
    return running


def _reap(pid: int) -> None:
    with contextlib.suppress(ChildProcessError, OSError):
        os.waitpid(pid, os.WNOHANG)
