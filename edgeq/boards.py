"""Board files: boards/<id>.toml, loaded and checked into a typed Board.

A board file holds what is specific to one board: its cpu core and features, clock,
memory regions, console UART, flash method and (for emulated boards) the QEMU machine.
Compiler flags are not written in board files: they come from the cpu fields through
one table keyed by core (CORES below).
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edgeq.errors import EdgeqError

BOARDS_DIR = Path(__file__).resolve().parent.parent / "boards"
DEFAULT_BOARD = "qemu-cortex-m4"

FEATURES = ("fpu", "fpu-dp", "dsp", "mve")
UART_KINDS = ("stdio", "cmsdk", "stm32-usart", "nrf52-uarte", "rp2040-uart")
FLASH_METHODS = ("pyocd", "openocd", "st-flash", "uf2", "none")
COUNTERS = ("clock", "dwt", "systick")


@dataclass(frozen=True)
class CoreInfo:
    """What the compiler needs to know about one Cortex-M core."""

    mcpu: str
    arch: str
    fpu_sp: str | None = None  # -mfpu for a single-precision FPU (feature "fpu")
    fpu_dp: str | None = None  # -mfpu for a double-precision FPU (feature "fpu-dp")
    has_dwt_cyccnt: bool = True
    nofeature_suffix: dict[str, str] = field(default_factory=dict)  # feature absent -> -mcpu suffix


# The one table of compiler flags: every board's flags are derived from its cpu fields here.
CORES: dict[str, CoreInfo] = {
    "cortex-m0plus": CoreInfo("cortex-m0plus", "armv6-m", has_dwt_cyccnt=False),
    "cortex-m3": CoreInfo("cortex-m3", "armv7-m"),
    "cortex-m4": CoreInfo("cortex-m4", "armv7e-m", fpu_sp="fpv4-sp-d16"),
    "cortex-m7": CoreInfo("cortex-m7", "armv7e-m", fpu_sp="fpv5-sp-d16", fpu_dp="fpv5-d16"),
    "cortex-m33": CoreInfo("cortex-m33", "armv8-m.main", fpu_sp="fpv5-sp-d16", nofeature_suffix={"dsp": "+nodsp"}),
    "cortex-m55": CoreInfo("cortex-m55", "armv8.1-m.main", fpu_sp="auto", fpu_dp="auto",
                           nofeature_suffix={"mve": "+nomve"}),
}


@dataclass(frozen=True)
class MemoryRegion:
    name: str
    origin: int
    length: int

    @property
    def end(self) -> int:
        return self.origin + self.length


@dataclass(frozen=True)
class Console:
    uart: str  # one of UART_KINDS; picks the HAL source
    base: int = 0  # peripheral base address
    baud: int = 115200
    clock_hz: int = 0  # the UART's input clock as the firmware leaves it (reset clock tree)
    variant: str = ""  # register layout variant within a kind (e.g. stm32 "f4", "v2", "lpuart")
    tx_pin: int = -1
    rx_pin: int = -1
    # Register writes done before the UART is enabled (clock gates, pin muxing):
    # (address, clear mask, set mask), applied in order as *a = (*a & ~clear) | set.
    setup: tuple[tuple[int, int, int], ...] = ()


@dataclass(frozen=True)
class FlashMethod:
    method: str  # one of FLASH_METHODS
    args: tuple[str, ...] = ()


@dataclass(frozen=True)
class Emulator:
    qemu_machine: str
    args: tuple[str, ...] = ()


@dataclass(frozen=True)
class Board:
    id: str
    name: str
    vendor: str
    core: str
    features: tuple[str, ...] = ()
    raw: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)
    emulated: bool = False
    clock_hz: int = 0
    counter: str = "clock"  # clock (host), dwt (DWT CYCCNT), systick (SysTick, extended in software)
    memory: tuple[MemoryRegion, ...] = ()  # "flash" and "ram" first, then extra regions
    console: Console = Console("stdio")
    flash: FlashMethod = FlashMethod("none")
    emulator: Emulator | None = None
    stack_bytes: int = 8192
    boot2_bytes: int = 0  # flash bytes reserved before the vector table (RP2040 boot2)
    opt: str = "-O2"
    compiler: str = "arm-none-eabi-gcc"
    notes: str = ""

    @property
    def is_native(self) -> bool:
        return self.core == "host"

    @property
    def has_fpu(self) -> bool:
        return "fpu" in self.features or "fpu-dp" in self.features

    def region(self, name: str) -> MemoryRegion:
        for r in self.memory:
            if r.name == name:
                return r
        raise KeyError(name)

    @property
    def flash_region(self) -> MemoryRegion:
        return self.region("flash")

    @property
    def ram_region(self) -> MemoryRegion:
        return self.region("ram")

    @property
    def count_unit(self) -> str:
        """What the firmware's counter counts: cycles, instructions (QEMU -icount) or ns (host)."""
        if self.is_native:
            return "ns"
        return "instructions" if self.emulated else "cycles"

    @property
    def cpu_flags(self) -> list[str]:
        """-mcpu/-mthumb/-mfpu/-mfloat-abi, derived from the core and features through CORES."""
        return cpu_flags(self.core, self.features)


def cpu_flags(core: str, features: tuple[str, ...] | list[str]) -> list[str]:
    info = CORES[core]
    mcpu = info.mcpu + "".join(suffix for feat, suffix in info.nofeature_suffix.items() if feat not in features)
    flags = [f"-mcpu={mcpu}", "-mthumb"]
    fpu = None
    if "fpu-dp" in features:
        fpu = info.fpu_dp
    elif "fpu" in features:
        fpu = info.fpu_sp
    if fpu:
        flags += [f"-mfpu={fpu}", "-mfloat-abi=hard"]
    else:
        flags += ["-mfloat-abi=soft"]
    return flags


def board_ids() -> list[str]:
    return sorted(p.stem for p in BOARDS_DIR.glob("*.toml"))


class _Reader:
    """Typed access to a board file's tables, with errors naming the file and the field."""

    def __init__(self, path: Path, raw: dict[str, Any]) -> None:
        self.path, self.raw = path, raw

    def fail(self, key: str, msg: str) -> EdgeqError:
        return EdgeqError(f"board file {self.path}: field {key!r}: {msg}")

    def get(self, key: str, typ: type | tuple[type, ...], default: Any = ...) -> Any:
        cur: Any = self.raw
        for part in key.split("."):
            if not isinstance(cur, dict) or part not in cur:
                if default is ...:
                    raise self.fail(key, "missing")
                return default
            cur = cur[part]
        if (typ is int and isinstance(cur, bool)) or not isinstance(cur, typ):
            names = typ.__name__ if isinstance(typ, type) else " or ".join(t.__name__ for t in typ)
            raise self.fail(key, f"expected {names}, got {type(cur).__name__} {cur!r}")
        if typ is int and cur < 0:
            raise self.fail(key, f"must not be negative, got {cur}")
        return cur

    def choice(self, key: str, options: tuple[str, ...], default: Any = ...) -> str:
        value = self.get(key, str, default)
        if value not in options:
            raise self.fail(key, f"{value!r} is not one of {', '.join(options)}")
        return value

    def region(self, key: str, name: str) -> MemoryRegion:
        self.get(key, dict)
        origin = self.get(f"{key}.origin", int)
        length = self.get(f"{key}.length", int)
        if length == 0:
            raise self.fail(f"{key}.length", "must be positive")
        if origin + length > 1 << 32:
            raise self.fail(key, "region ends beyond the 32-bit address space")
        return MemoryRegion(name, origin, length)


def load_board(board_id: str) -> Board:
    path = BOARDS_DIR / f"{board_id}.toml"
    if not path.is_file():
        raise EdgeqError(f"unknown board {board_id!r}; known boards: {', '.join(board_ids())} (see `edgeq boards`)")
    try:
        raw = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as e:
        raise EdgeqError(f"board file {path}: {e}") from None
    return parse_board(raw, path)


def parse_board(raw: dict[str, Any], path: Path) -> Board:
    r = _Reader(path, raw)
    board_id = r.get("id", str)
    if board_id != path.stem:
        raise r.fail("id", f"{board_id!r} does not match the file name {path.stem!r}")
    core = r.get("cpu.core", str)
    if core != "host" and core not in CORES:
        raise r.fail("cpu.core", f"unknown core {core!r}; known: host, {', '.join(CORES)}")
    features = r.get("cpu.features", list, [])
    for f in features:
        if f not in FEATURES:
            raise r.fail("cpu.features", f"unknown feature {f!r}; known: {', '.join(FEATURES)}")
    info = CORES.get(core)
    if info is not None:
        if ("fpu" in features and info.fpu_sp is None) or ("fpu-dp" in features and info.fpu_dp is None):
            raise r.fail("cpu.features", f"{core} has no such FPU")
    emulated = r.get("emulated", bool, False)
    uart = r.choice("console.uart", UART_KINDS)
    setup = []
    for i, item in enumerate(r.get("console.setup", list, [])):
        if not (isinstance(item, list) and len(item) == 3 and all(isinstance(v, int) for v in item)):
            raise r.fail(f"console.setup[{i}]", "expected [address, clear_mask, set_mask]")
        setup.append((item[0], item[1], item[2]))
    console = Console(uart=uart, base=r.get("console.base", int, 0), baud=r.get("console.baud", int, 115200),
                      clock_hz=r.get("console.clock_hz", int, 0), variant=r.get("console.variant", str, ""),
                      tx_pin=r.get("console.tx_pin", int, -1), rx_pin=r.get("console.rx_pin", int, -1),
                      setup=tuple(setup))
    flash_args = r.get("flash.args", list, [])
    if not all(isinstance(a, str) for a in flash_args):
        raise r.fail("flash.args", "expected a list of strings")
    flash = FlashMethod(r.choice("flash.method", FLASH_METHODS, "none"), tuple(flash_args))
    emulator = None
    if "emulator" in raw:
        qargs = r.get("emulator.args", list, [])
        if not all(isinstance(a, str) for a in qargs):
            raise r.fail("emulator.args", "expected a list of strings")
        emulator = Emulator(r.get("emulator.qemu_machine", str), tuple(qargs))
    memory: list[MemoryRegion] = []
    if core != "host":
        if uart == "stdio":
            raise r.fail("console.uart", "an MCU board needs a UART kind, not stdio")
        if not console.base:
            raise r.fail("console.base", "missing")
        memory = [r.region("memory.flash", "flash"), r.region("memory.ram", "ram")]
        for name, _ in r.get("memory", dict).items():
            if name not in ("flash", "ram"):
                memory.append(r.region(f"memory.{name}", name))
        if emulated and emulator is None:
            raise r.fail("emulator", "an emulated board needs an [emulator] table with qemu_machine")
        if r.get("cpu.clock_hz", int) == 0:
            raise r.fail("cpu.clock_hz", "must be positive")
    default_counter = "clock" if core == "host" else ("systick" if emulated or not info.has_dwt_cyccnt else "dwt")
    counter = r.choice("cpu.counter", COUNTERS, default_counter)
    if counter == "dwt" and info is not None and not info.has_dwt_cyccnt:
        raise r.fail("cpu.counter", f"{core} has no DWT cycle counter")
    return Board(id=board_id, name=r.get("name", str, board_id), vendor=r.get("vendor", str, ""), core=core,
                 features=tuple(features), raw=raw, emulated=emulated, clock_hz=r.get("cpu.clock_hz", int, 0),
                 counter=counter, memory=tuple(memory), console=console, flash=flash, emulator=emulator,
                 stack_bytes=r.get("build.stack_bytes", int, 8192),
                 boot2_bytes=r.get("build.boot2_bytes", int, 0), opt=r.get("build.opt", str, "-O2"),
                 compiler=r.get("build.compiler", str, "cc" if core == "host" else "arm-none-eabi-gcc"),
                 notes=r.get("notes", str, ""))
