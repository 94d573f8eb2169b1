"""Firmware builds: the generated model plus firmware/ into a host executable (native) or an
ELF/bin/hex for a Cortex-M board, with sizes read from the binary and a fit check."""

from __future__ import annotations

import dataclasses
import math
import re
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from edgeq.boards import Board, MemoryRegion
from edgeq.codegen.env import environment
from edgeq.errors import EdgeqError
from edgeq.toolchain.host import STRICT_FLAGS, host_cc

FIRMWARE_DIR = Path(__file__).resolve().parent.parent.parent / "firmware"
ARM_INSTALL_HINT = "apt-get install gcc-arm-none-eabi libnewlib-arm-none-eabi"
QEMU_INSTALL_HINT = "apt-get install qemu-system-arm"

# HAL source per console UART kind (never per board).
UART_HAL = {
    "stdio": "hal/host.c",
    "cmsdk": "hal/cmsdk_uart.c",
    "stm32-usart": "hal/stm32_usart.c",
    "nrf52-uarte": "hal/nrf52_uarte.c",
    "rp2040-uart": "hal/rp2040_uart.c",
}
COMMON_SOURCES = ["main.c", "crc32.c"]
MCU_SOURCES = ["hal/cortexm.c", "startup/cortexm.c"]
FLASH_SECTIONS = (".boot2", ".isr_vector", ".text", ".rodata", ".ARM.extab", ".ARM.exidx", ".data",
                  ".init", ".fini", ".init_array", ".fini_array")
RAM_SECTIONS = (".data", ".bss", ".stack")


@dataclass(frozen=True)
class FirmwareSize:
    flash_bytes: int  # text + rodata + data (its load image)
    ram_bytes: int  # data + bss (arena and stack reserve included)
    weights_bytes: int  # edgeq_*_weights / edgeq_*_bias (and other constant tensors)
    code_bytes: int  # functions edgeq_<model>_* (the inference code)
    arena_bytes: int  # the activation arena
    stack_bytes: int = 0  # stack reserve (part of ram_bytes)
    qparams_bytes: int = 0  # per-channel requantization multipliers and shifts (part of weights_bytes)
    sections: dict[str, int] = field(default_factory=dict)
    layers: dict[int, dict[str, int]] = field(default_factory=dict)  # layer -> {code, weights}

    def as_dict(self) -> dict[str, int]:
        return dict(flash_bytes=self.flash_bytes, ram_bytes=self.ram_bytes, weights_bytes=self.weights_bytes,
                    code_bytes=self.code_bytes, arena_bytes=self.arena_bytes)


@dataclass(frozen=True)
class FirmwareArtifact:
    board_id: str
    executable: Path  # the host executable (native) or the ELF
    size: FirmwareSize
    elf: Path | None = None
    bin: Path | None = None
    hex: Path | None = None
    linker_script: Path | None = None
    model_c_name: str = ""

    @property
    def is_native(self) -> bool:
        return self.elf is None


@dataclass(frozen=True)
class _Symbol:
    name: str
    size: int
    kind: str  # nm type letter


# ------------------------------------------------------------------------------- helpers


def _first_error(stderr: str) -> str:
    lines = [ln.strip() for ln in stderr.splitlines() if ln.strip()]
    for ln in lines:
        if re.search(r"\b(fatal )?error\b:", ln):
            return ln
    return lines[0] if lines else "(no compiler output)"


def _run(cmd: list[str], what: str) -> subprocess.CompletedProcess[str]:
    try:
        result = subprocess.run(cmd, capture_output=True, text=True)
    except FileNotFoundError:
        raise EdgeqError(f"{cmd[0]} not found: {ARM_INSTALL_HINT}") from None
    if result.returncode != 0:
        raise EdgeqError(f"{what} failed: {_first_error(result.stderr + result.stdout)}")
    return result


def model_c_name(src_dir: Path) -> str:
    """The generated model's C name, read from edgeq_target.h."""
    target = src_dir / "edgeq_target.h"
    if not target.is_file():
        raise EdgeqError(f"{src_dir} holds no generated model (edgeq_target.h missing)")
    m = re.search(r"#define edgeq_model_run edgeq_(\w+)_run\b", target.read_text())
    if m is None:
        raise EdgeqError(f"{target}: no edgeq_model_run definition")
    return m.group(1)


def model_stack_bytes(src_dir: Path, default: int) -> int:
    """The stack reserve the generated model asks for (EDGEQ_MODEL_STACK_BYTES in edgeq_target.h:
    the firmware's own need plus the largest kernel scratch), else `default` (the board's)."""
    m = re.search(r"#define EDGEQ_MODEL_STACK_BYTES (\d+)", (src_dir / "edgeq_target.h").read_text())
    return int(m.group(1)) if m else default


def arm_toolchain() -> dict[str, str]:
    tools = {}
    for tool in ("gcc", "objcopy", "nm", "size"):
        path = shutil.which(f"arm-none-eabi-{tool}")
        if path is None:
            raise EdgeqError(f"arm-none-eabi-{tool} not found: {ARM_INSTALL_HINT}")
        tools[tool] = path
    return tools


def _c_hex(v: int) -> str:
    return f"0x{v:08X}u"


def board_header(board: Board) -> str:
    """edgeq_board.h: the board file's values as C macros for the HAL and startup."""
    c = board.console
    run_hz = int(board.raw.get("cpu", {}).get("run_hz", 0)) or c.clock_hz or board.clock_hz
    if board.counter == "systick" and board.emulated:
        num, den = 1_000_000_000, board.clock_hz
        g = math.gcd(num, den)
        num, den, unit = num // g, den // g, "EDGEQ_COUNT_INSTRUCTIONS"
    else:
        num, den, unit = 1, 1, "EDGEQ_COUNT_CYCLES"
    lines = [
        f"/* edgeq_board.h: rendered by edgeq from boards/{board.id}.toml. Do not edit. */",
        "#ifndef EDGEQ_BOARD_H", "#define EDGEQ_BOARD_H", "",
        f'#define EDGEQ_BOARD_ID "{board.id}"',
        f"#define EDGEQ_CLOCK_HZ {board.clock_hz}u",
        f"#define EDGEQ_RUN_HZ {run_hz}u",
        f"#define EDGEQ_HAS_FPU {1 if board.has_fpu else 0}",
        f"#define EDGEQ_UART_BASE {_c_hex(c.base)}",
        f"#define EDGEQ_UART_BAUD {c.baud}u",
        f"#define EDGEQ_UART_CLOCK_HZ {c.clock_hz or board.clock_hz}u",
    ]
    if c.variant:
        lines.append(f"#define EDGEQ_UART_VARIANT_{re.sub(r'[^A-Z0-9]', '_', c.variant.upper())} 1")
    if c.tx_pin >= 0:
        lines.append(f"#define EDGEQ_UART_TX_PIN {c.tx_pin}u")
    if c.rx_pin >= 0:
        lines.append(f"#define EDGEQ_UART_RX_PIN {c.rx_pin}u")
    if c.setup:
        rows = ", ".join(f"{{{_c_hex(a)}, {_c_hex(m)}, {_c_hex(s)}}}" for a, m, s in c.setup)
        lines.append(f"#define EDGEQ_CONSOLE_SETUP {rows}")
    lines += [
        f"#define EDGEQ_COUNTER_{board.counter.upper()} 1",
        f"#define EDGEQ_COUNT_UNIT {unit}",
        f"#define EDGEQ_COUNT_NUM {num}u",
        f"#define EDGEQ_COUNT_DEN {den}u",
        "", "#endif /* EDGEQ_BOARD_H */", "",
    ]
    return "\n".join(lines)


def render_linker_script(board: Board, *, unlimited: bool = False, stack_bytes: int | None = None) -> str:
    regions = list(board.memory)
    if unlimited:  # for measuring an image that does not fit: every region as large as possible
        regions = [MemoryRegion(r.name, r.origin, min((1 << 32) - r.origin, 1 << 28)) for r in regions]
    return environment().get_template("firmware/linker.ld.j2").render(
        board=board, regions=regions,
        stack_bytes=board.stack_bytes if stack_bytes is None else stack_bytes, boot2_bytes=board.boot2_bytes)


def _symbols(nm: str, binary: Path) -> list[_Symbol]:
    out = _run([nm, "-S", "--size-sort", str(binary)], "nm").stdout
    syms = []
    for line in out.splitlines():
        parts = line.split()
        if len(parts) == 4:
            syms.append(_Symbol(parts[3], int(parts[1], 16), parts[2]))
    return syms


def _sections(size_tool: str, binary: Path) -> dict[str, int]:
    out = _run([size_tool, "-A", str(binary)], "size").stdout
    sections: dict[str, int] = {}
    for line in out.splitlines():
        parts = line.split()
        if len(parts) >= 2 and parts[0].startswith(".") and parts[1].isdigit():
            sections[parts[0]] = sections.get(parts[0], 0) + int(parts[1])
    return sections


# Model constants: weights, biases, other constant tensors and the per-channel requantization
# multipliers and shifts (model parameters, as the scales in a .tflite file).
_CONST_RE = re.compile(r"edgeq_\w+_l(\d+)_(weights|bias|const\d+|[a-z0-9_]+_(?:mult|shift))$")


def measure(binary: Path, c_name: str, *, nm: str, size_tool: str, stack_bytes: int) -> FirmwareSize:
    sections = _sections(size_tool, binary)
    syms = _symbols(nm, binary)
    weights = code = arena = qparams = 0
    layers: dict[int, dict[str, int]] = {}
    prefix = f"edgeq_{c_name}_"
    layer_fn = re.compile(rf"{re.escape(prefix)}l(\d+)_")
    for s in syms:
        if not s.name.startswith(prefix):
            continue
        m = _CONST_RE.match(s.name)
        if m and s.kind.lower() in "rdgs":
            weights += s.size
            qparams += s.size if s.name.endswith(("_mult", "_shift")) else 0
            layers.setdefault(int(m.group(1)), {"code": 0, "weights": 0})["weights"] += s.size
        elif s.kind.lower() == "t":
            code += s.size
            lm = layer_fn.match(s.name)
            if lm:
                layers.setdefault(int(lm.group(1)), {"code": 0, "weights": 0})["code"] += s.size
        elif s.name == f"{prefix}arena":
            arena = s.size
    flash = sum(v for k, v in sections.items() if k in FLASH_SECTIONS)
    ram = sum(v for k, v in sections.items() if k in RAM_SECTIONS)
    if ".stack" not in sections:
        ram += stack_bytes
    return FirmwareSize(flash_bytes=flash, ram_bytes=ram, weights_bytes=weights, code_bytes=code,
                        arena_bytes=arena, stack_bytes=stack_bytes, qparams_bytes=qparams, sections=sections,
                        layers=dict(sorted(layers.items())))


def _largest(syms: list[_Symbol], kinds: str, n: int = 3) -> str:
    top = sorted((s for s in syms if s.kind.lower() in kinds), key=lambda s: -s.size)[:n]
    return ", ".join(f"{s.name} ({s.size} bytes)" for s in top)


# ------------------------------------------------------------------------------- builds


def build_firmware(src_dir: Path, board: Board, out_dir: Path, *, sanitize: bool = False,
                   opt: str | None = None) -> FirmwareArtifact:
    """Compile the generated sources in src_dir with firmware/ for board into out_dir."""
    src_dir, out_dir = Path(src_dir), Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    c_name = model_c_name(src_dir)
    model_sources = sorted(str(p) for p in src_dir.glob("*.c"))
    if board.is_native:
        return _build_native(src_dir, board, out_dir, model_sources, c_name, sanitize, opt)
    if sanitize:
        raise EdgeqError("sanitizers are for the native board only")
    return _build_mcu(src_dir, board, out_dir, model_sources, c_name, opt)


def _build_native(src_dir: Path, board: Board, out_dir: Path, model_sources: list[str], c_name: str,
                  sanitize: bool, opt: str | None) -> FirmwareArtifact:
    exe = out_dir / "firmware"
    fw = [str(FIRMWARE_DIR / s) for s in [*COMMON_SOURCES, UART_HAL["stdio"]]]
    flags = [*STRICT_FLAGS, opt or board.opt or "-O2"]
    if sanitize:
        flags += ["-fsanitize=address,undefined", "-fno-omit-frame-pointer", "-g"]
    cmd = [host_cc(), *flags, f"-I{src_dir}", f"-I{FIRMWARE_DIR}", *model_sources, *fw, "-o", str(exe)]
    _run(cmd, "native firmware build")
    nm, size_tool = shutil.which("nm"), shutil.which("size")
    if nm and size_tool:
        size = measure(exe, c_name, nm=nm, size_tool=size_tool, stack_bytes=0)
    else:  # binutils missing on the host: sizes are informative only there
        size = FirmwareSize(0, 0, 0, 0, 0)
    return FirmwareArtifact(board_id=board.id, executable=exe, size=size, model_c_name=c_name)


def _build_mcu(src_dir: Path, board: Board, out_dir: Path, model_sources: list[str], c_name: str,
               opt: str | None) -> FirmwareArtifact:
    tools = arm_toolchain()
    board = dataclasses.replace(board, stack_bytes=model_stack_bytes(src_dir, board.stack_bytes))
    gen = out_dir / "board"
    gen.mkdir(exist_ok=True)
    (gen / "edgeq_board.h").write_text(board_header(board))
    ld = out_dir / "linker.ld"
    ld.write_text(render_linker_script(board))
    elf = out_dir / "firmware.elf"
    fw = [str(FIRMWARE_DIR / s) for s in [*COMMON_SOURCES, *MCU_SOURCES, UART_HAL[board.console.uart]]]
    cflags = [*board.cpu_flags, *STRICT_FLAGS, opt or board.opt or "-O2", "-g", "-ffunction-sections",
              "-fdata-sections", f"-I{src_dir}", f"-I{FIRMWARE_DIR}", f"-I{gen}"]
    ldflags = ["--specs=nano.specs", "--specs=nosys.specs", "-nostartfiles", "-Wl,--gc-sections",
               f"-Wl,-Map={out_dir / 'firmware.map'}"]

    def link(script: Path, target: Path) -> subprocess.CompletedProcess[str]:
        cmd = [tools["gcc"], *cflags, *model_sources, *fw, f"-T{script}", *ldflags, "-o", str(target)]
        return subprocess.run(cmd, capture_output=True, text=True)

    result = link(ld, elf)
    if result.returncode != 0:
        if "overflowed by" in result.stderr or "will not fit in region" in result.stderr:
            raise _fit_error(board, out_dir, link, tools, c_name)
        raise EdgeqError(f"firmware build for {board.id} failed: {_first_error(result.stderr)}")
    size = measure(elf, c_name, nm=tools["nm"], size_tool=tools["size"], stack_bytes=board.stack_bytes)
    _check_fit(board, size, _symbols(tools["nm"], elf))
    binf, hexf = out_dir / "firmware.bin", out_dir / "firmware.hex"
    _run([tools["objcopy"], "-O", "binary", str(elf), str(binf)], "objcopy")
    _run([tools["objcopy"], "-O", "ihex", str(elf), str(hexf)], "objcopy")
    return FirmwareArtifact(board_id=board.id, executable=elf, size=size, elf=elf, bin=binf, hex=hexf,
                            linker_script=ld, model_c_name=c_name)


def _fit_message(board: Board, size: FirmwareSize, syms: list[_Symbol]) -> str | None:
    flash, ram = board.flash_region, board.ram_region
    if size.flash_bytes > flash.length:
        over = size.flash_bytes - flash.length
        return (f"the model does not fit {board.id}: flash overflowed by {over} bytes "
                f"({size.flash_bytes} of {flash.length}); largest: {_largest(syms, 'trd')}")
    if size.ram_bytes > ram.length:
        over = size.ram_bytes - ram.length
        return (f"the model does not fit {board.id}: RAM overflowed by {over} bytes "
                f"({size.ram_bytes} of {ram.length}, stack reserve {board.stack_bytes} included); "
                f"largest: {_largest(syms, 'bdc')}")
    return None


def _check_fit(board: Board, size: FirmwareSize, syms: list[_Symbol]) -> None:
    msg = _fit_message(board, size, syms)
    if msg:
        raise EdgeqError(msg)


def _fit_error(board: Board, out_dir: Path, link, tools: dict[str, str], c_name: str) -> EdgeqError:
    """The image overflowed a region: relink with unlimited regions to say by how much and why."""
    big_ld = out_dir / "linker_unlimited.ld"
    big_ld.write_text(render_linker_script(board, unlimited=True))
    probe = out_dir / "firmware_unfit.elf"
    result = link(big_ld, probe)
    if result.returncode != 0:
        return EdgeqError(f"firmware build for {board.id} failed: {_first_error(result.stderr)}")
    size = measure(probe, c_name, nm=tools["nm"], size_tool=tools["size"], stack_bytes=board.stack_bytes)
    msg = _fit_message(board, size, _symbols(tools["nm"], probe))
    return EdgeqError(msg or f"the model does not fit {board.id}")


# ------------------------------------------------------------------------------- emulator


def qemu_command(artifact: FirmwareArtifact, board: Board, *, serial: str = "stdio") -> list[str]:
    """qemu-system-arm argv that runs the ELF with UART0 on `serial` ("stdio", "pty", or any
    -serial backend such as "tcp:127.0.0.1:4444,server"). Deterministic: -icount shift=0
    (one instruction per virtual ns), which the firmware's instruction counter relies on."""
    if board.emulator is None:
        raise EdgeqError(f"board {board.id} has no emulator; flash it with `edgeq flash` instead")
    if artifact.elf is None:
        raise EdgeqError(f"{artifact.executable} is not an ELF for {board.id}")
    qemu = shutil.which("qemu-system-arm")
    if qemu is None:
        raise EdgeqError(f"qemu-system-arm not found: {QEMU_INSTALL_HINT}")
    return [qemu, "-machine", board.emulator.qemu_machine, "-nographic", "-monitor", "none",
            "-serial", serial, "-icount", "shift=0", *board.emulator.args, "-kernel", str(artifact.elf)]
