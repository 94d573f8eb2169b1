"""`edgeq flash`: put a build's firmware on its board.

Emulated boards: start QEMU in the background with the ELF and its UART on a pty, and say
how to use and stop it. Physical boards: run the board's flash method (pyocd, openocd,
st-flash, or a UF2 copy to the board's USB drive).
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from edgeq.boards import Board, load_board
from edgeq.builddir import BuildDir
from edgeq.errors import EdgeqError

INSTALL_HINTS = {
    "pyocd": "pip install pyocd",
    "openocd": "apt-get install openocd",
    "st-flash": "apt-get install stlink-tools",
}
UF2_VOLUME = "RPI-RP2"


def _firmware(bd: BuildDir, key: str) -> Path:
    rel = bd.meta.get("firmware", {}).get(key)
    path = bd.path / rel if rel else None
    if path is None or not path.is_file():
        raise EdgeqError(f"{bd.path} has no firmware {key} file; rebuild with `edgeq build`")
    return path


def _run_tool(argv: list[str]) -> str:
    tool = argv[0]
    if shutil.which(tool) is None:
        raise EdgeqError(f"{tool} not found: install it ({INSTALL_HINTS.get(tool, tool)}) and connect the board")
    proc = subprocess.run(argv, capture_output=True, text=True)
    if proc.returncode != 0:
        lines = [line for line in (proc.stderr + proc.stdout).splitlines() if line.strip()]
        raise EdgeqError(f"{tool} failed (exit {proc.returncode}): {lines[-1] if lines else 'no output'}"
                         " — is the board connected and its probe free?")
    return f"flashed with {tool}"


def _uf2_volume(port: str | None) -> Path:
    if port:
        path = Path(port)
        if not path.is_dir():
            raise EdgeqError(f"{path} is not a directory: pass the mounted {UF2_VOLUME} drive with --port")
        return path
    for root in (Path("/media"), Path("/run/media"), Path("/Volumes")):
        for candidate in [*root.glob(UF2_VOLUME), *root.glob(f"*/{UF2_VOLUME}")]:
            if candidate.is_dir():
                return candidate
    raise EdgeqError(f"no {UF2_VOLUME} drive found: hold BOOTSEL while plugging the board in, "
                     "or pass its mount point with --port")


def _flash_uf2(bd: BuildDir, board: Board, port: str | None) -> str:
    from edgeq.toolchain.uf2 import bin_to_uf2

    args = list(board.flash.args)
    family = args[args.index("--family") + 1] if "--family" in args else "rp2040"
    image = bin_to_uf2(_firmware(bd, "bin").read_bytes(), board.flash_region.origin, family)
    uf2 = bd.path / "bin" / "firmware.uf2"
    uf2.write_bytes(image)
    target = _uf2_volume(port) / "firmware.uf2"
    shutil.copyfile(uf2, target)
    return f"copied {uf2} to {target}"


def flash(bd: BuildDir, port: str | None = None, stop: bool = False) -> str:
    """Flash (or start the emulator for) a build; returns what to tell the user."""
    board = load_board(bd.meta["board"])
    if board.is_native:
        raise EdgeqError("the native board runs on this host: nothing to flash (use `edgeq run`)")
    if board.emulator is not None:
        from edgeq.runner.qemu import start_detached, stop_detached
        from edgeq.toolchain.firmware import FirmwareArtifact, FirmwareSize, qemu_command

        pid_file = bd.path / "bin" / "qemu.pid"
        if stop:
            return "stopped QEMU" if stop_detached(pid_file) else "QEMU was not running"
        elf = _firmware(bd, "elf")
        artifact = FirmwareArtifact(board.id, elf, FirmwareSize(0, 0, 0, 0, 0), elf=elf)
        return start_detached(qemu_command(artifact, board, serial="pty"), pid_file).instructions()
    if stop:
        raise EdgeqError(f"--stop is for emulated boards; {board.id} is a physical board")
    method, args = board.flash.method, list(board.flash.args)
    if method == "pyocd":
        return _run_tool(["pyocd", "flash", *args, str(_firmware(bd, "hex"))])
    if method == "openocd":
        return _run_tool(["openocd", *args, "-c", f"program {_firmware(bd, 'elf')} verify reset exit"])
    if method == "st-flash":
        return _run_tool(["st-flash", "--reset", *args, "write", str(_firmware(bd, "bin")),
                          hex(board.flash_region.origin)])
    if method == "uf2":
        return _flash_uf2(bd, board, port)
    raise EdgeqError(f"board {board.id} has no flash method; flash {_firmware(bd, 'elf')} with your own tools")
