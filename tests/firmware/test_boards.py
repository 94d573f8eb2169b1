"""Board files: every board loads into the typed schema, flags come from the core table,
and bad board files fail with the file and the field."""

from __future__ import annotations

from pathlib import Path

import pytest

from edgeq import boards
from edgeq.boards import CORES, DEFAULT_BOARD, board_ids, cpu_flags, load_board
from edgeq.errors import EdgeqError

from .conftest import EMULATED, PHYSICAL

QEMU_MAPS = {  # machine, flash origin, RAM origin, UART0, SYSCLK (as QEMU 7+ emulates them)
    "qemu-cortex-m3": ("mps2-an385", 0x0, 0x20000000, 0x40004000, 25_000_000),
    "qemu-cortex-m4": ("mps2-an386", 0x0, 0x20000000, 0x40004000, 25_000_000),
    "qemu-cortex-m7": ("mps2-an500", 0x0, 0x20000000, 0x40004000, 25_000_000),
    "qemu-cortex-m33": ("mps2-an505", 0x10000000, 0x38000000, 0x40200000, 20_000_000),
    "qemu-cortex-m55": ("mps3-an547", 0x0, 0x20000000, 0x49303000, 32_000_000),
}


def test_all_boards_load() -> None:
    ids = board_ids()
    assert set(EMULATED + PHYSICAL + ["native"]) <= set(ids)
    for board_id in ids:
        b = load_board(board_id)
        assert b.id == board_id and b.name and b.core
        if not b.is_native:
            assert b.flash_region.length > 0 and b.ram_region.length > 0 and b.clock_hz > 0
            assert b.cpu_flags[0].startswith(f"-mcpu={CORES[b.core].mcpu}") and b.cpu_flags[1] == "-mthumb"


def test_native_board_keeps_its_keys() -> None:
    b = load_board("native")
    assert b.is_native and b.console.uart == "stdio" and b.flash.method == "none" and b.count_unit == "ns"
    assert b.raw["build"]["compiler"] == "cc" and b.emulator is None


@pytest.mark.parametrize("board_id", EMULATED)
def test_emulated_memory_maps(board_id: str) -> None:
    machine, flash, ram, uart, clock = QEMU_MAPS[board_id]
    b = load_board(board_id)
    assert b.emulated and b.emulator is not None and b.emulator.qemu_machine == machine
    assert (b.flash_region.origin, b.ram_region.origin, b.console.base, b.clock_hz) == (flash, ram, uart, clock)
    assert b.console.uart == "cmsdk" and b.counter == "systick" and b.count_unit == "instructions"


def test_default_board() -> None:
    b = load_board(DEFAULT_BOARD)
    assert b.id == "qemu-cortex-m4" and b.emulated


@pytest.mark.parametrize("board_id,region,origin,length,clock", [
    ("nucleo-l4r5zi", "flash", 0x08000000, 2 << 20, 120_000_000),
    ("nucleo-l4r5zi", "ram", 0x20000000, 640 << 10, 120_000_000),
    ("nucleo-f446re", "ram", 0x20000000, 128 << 10, 180_000_000),
    ("nucleo-h743zi", "flash", 0x08000000, 2 << 20, 480_000_000),
    ("disco-f746ng", "ram", 0x20000000, 320 << 10, 216_000_000),
    ("nano33ble", "flash", 0x0, 1 << 20, 64_000_000),
    ("rpi-pico", "flash", 0x10000000, 2 << 20, 133_000_000),
])
def test_physical_parts(board_id: str, region: str, origin: int, length: int, clock: int) -> None:
    b = load_board(board_id)
    r = b.region(region)
    assert (r.origin, r.length, b.clock_hz) == (origin, length, clock)
    assert not b.emulated and b.flash.method != "none"


def test_flags_from_one_table() -> None:
    assert cpu_flags("cortex-m4", ["fpu", "dsp"]) == ["-mcpu=cortex-m4", "-mthumb", "-mfpu=fpv4-sp-d16",
                                                      "-mfloat-abi=hard"]
    assert cpu_flags("cortex-m7", ["fpu-dp"])[2] == "-mfpu=fpv5-d16"
    assert cpu_flags("cortex-m7", ["fpu"])[2] == "-mfpu=fpv5-sp-d16"
    assert cpu_flags("cortex-m0plus", []) == ["-mcpu=cortex-m0plus", "-mthumb", "-mfloat-abi=soft"]
    assert cpu_flags("cortex-m33", ["fpu"])[0] == "-mcpu=cortex-m33+nodsp"
    assert cpu_flags("cortex-m55", ["fpu-dp", "dsp", "mve"])[0] == "-mcpu=cortex-m55"
    assert load_board("rpi-pico").cpu_flags == cpu_flags("cortex-m0plus", [])


GOOD = """
id = "{id}"
name = "x"
emulated = false
[cpu]
core = "cortex-m4"
features = ["fpu"]
clock_hz = 1000
[memory.flash]
origin = 0
length = 4096
[memory.ram]
origin = 0x20000000
length = 4096
[console]
uart = "cmsdk"
base = 0x40004000
[flash]
method = "pyocd"
"""


@pytest.mark.parametrize("change,field", [
    (("core = \"cortex-m4\"", "core = \"cortex-m99\""), "cpu.core"),
    (("features = [\"fpu\"]", "features = [\"neon\"]"), "cpu.features"),
    (("clock_hz = 1000", "clock_hz = \"fast\""), "cpu.clock_hz"),
    (("length = 4096\n[memory.ram]", "[memory.ram]"), "memory.flash.length"),
    (("origin = 0x20000000", "origin = -1"), "memory.ram.origin"),
    (("uart = \"cmsdk\"", "uart = \"spi\""), "console.uart"),
    (("base = 0x40004000", ""), "console.base"),
    (("method = \"pyocd\"", "method = \"jtag-magic\""), "flash.method"),
    (("emulated = false", "emulated = true"), "emulator"),
    (("[cpu]\ncore = \"cortex-m4\"", "[cpu]"), "cpu.core"),
])
def test_bad_board_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, change: tuple[str, str],
                         field: str) -> None:
    monkeypatch.setattr(boards, "BOARDS_DIR", tmp_path)
    (tmp_path / "ok.toml").write_text(GOOD.format(id="ok"))
    assert load_board("ok").flash_region.length == 4096
    old, new = change
    text = GOOD.format(id="bad")
    assert old in text
    (tmp_path / "bad.toml").write_text(text.replace(old, new, 1))
    with pytest.raises(EdgeqError) as e:
        load_board("bad")
    assert "bad.toml" in str(e.value) and repr(field) in str(e.value)


def test_unknown_board() -> None:
    with pytest.raises(EdgeqError, match="unknown board 'nope'"):
        load_board("nope")
