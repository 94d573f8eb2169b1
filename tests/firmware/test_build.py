"""Firmware builds: every physical board builds and fits, every emulated core boots and is
bit-exact, sizes come from the ELF, and failures say what went wrong."""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

import numpy as np
import pytest

from edgeq.boards import MemoryRegion, load_board
from edgeq.errors import EdgeqError
from edgeq.runner import protocol as P
from edgeq.toolchain import firmware as fwbuild
from edgeq.toolchain.firmware import build_firmware, qemu_command

from .conftest import EMULATED, PHYSICAL, Link, TinyModel, encode_frame, needs_arm, needs_qemu, results_of


def _weights_bytes(model: TinyModel, size: fwbuild.FirmwareSize) -> int:
    """The constant arrays model_weights.h declares (the kernels' layouts of the graph's
    constants) plus the per-channel requantization arrays (model constants too)."""
    import re

    width = {"int8_t": 1, "uint8_t": 1, "int16_t": 2, "int32_t": 4}
    decls = re.findall(r"extern const (\w+) \w+\[(\d+)\];", (model.src / "model_weights.h").read_text())
    assert decls
    return sum(width[t] * int(n) for t, n in decls) + size.qparams_bytes


@needs_arm
@pytest.mark.arm
@pytest.mark.parametrize("board_id", PHYSICAL)
def test_physical_board_builds_and_fits(board_id: str, tiny_model: TinyModel, tmp_path: Path) -> None:
    board = load_board(board_id)
    art = build_firmware(tiny_model.src, board, tmp_path)
    assert art.elf and art.elf.is_file() and art.bin and art.bin.stat().st_size > 0
    assert art.hex and art.hex.read_text().startswith(":")
    s = art.size
    assert 0 < s.flash_bytes <= board.flash_region.length
    stack = fwbuild.model_stack_bytes(tiny_model.src, board.stack_bytes)
    assert stack < board.stack_bytes and s.stack_bytes == stack
    assert stack < s.ram_bytes <= board.ram_region.length
    assert s.weights_bytes == _weights_bytes(tiny_model, s)
    assert s.arena_bytes >= 16 and s.code_bytes > 0
    assert s.sections[".stack"] == stack
    script = art.linker_script.read_text()
    assert f"ORIGIN = 0x{board.flash_region.origin:08X}" in script
    assert "__edgeq_stack_reserve" in script


@needs_qemu
@pytest.mark.arm
@pytest.mark.qemu
@pytest.mark.parametrize("board_id", EMULATED)
def test_emulated_core_bit_exact(board_id: str, tiny_model: TinyModel, tmp_path: Path) -> None:
    board = load_board(board_id)
    art = build_firmware(tiny_model.src, board, tmp_path)
    link = Link(qemu_command(art, board, serial="stdio"))
    try:
        assert link.reply() == ["m-ready"]
        assert link.command("name%") == ["m-name-edgeq-tiny net", "m-ready"]
        rng = np.random.default_rng(3)
        xs = rng.integers(-128, 128, (3, tiny_model.input_size), dtype=np.int8)
        xs[0] = -128  # saturation corners
        xs[1] = 127
        replies = [link.command(c.decode()) for c in P.db_commands(xs[2].tobytes())]  # 128-character lines
        assert replies[-1][0] == "m-load-done"
        assert results_of(link.command("infer 1 0%")) == tiny_model.reference(xs[2]).tolist()
        link.send("bin%")
        link.take(lambda b: (b.find(b"m-bin-ready\r\n") + 13) if b"m-bin-ready\r\n" in b else None)
        counts = []
        for x in [*xs, xs[2]]:
            link.send(encode_frame(0x01, x.tobytes()))
            t, p = link.frame()
            assert t == 0x81
            assert np.array_equal(np.frombuffer(p[8:], np.int8), tiny_model.reference(x)), board_id
            counts.append(int.from_bytes(p[:8], "little"))
        assert all(c > 1000 for c in counts)
        # deterministic: -icount makes the same input cost the same count, up to one SysTick tick
        assert abs(counts[3] - counts[2]) <= 2 * 1_000_000_000 // board.clock_hz
    finally:
        link.close(wait=0.0)


@needs_arm
@pytest.mark.arm
def test_qemu_m4_sizes(tiny_model: TinyModel, tmp_path: Path) -> None:
    board = load_board("qemu-cortex-m4")
    art = build_firmware(tiny_model.src, board, tmp_path)
    s = art.size
    sec = s.sections
    assert s.flash_bytes == sum(sec.get(k, 0) for k in (".isr_vector", ".text", ".rodata", ".ARM.exidx", ".data"))
    assert s.ram_bytes == sec.get(".data", 0) + sec[".bss"] + sec[".stack"]
    assert s.weights_bytes == _weights_bytes(tiny_model, s)
    assert s.flash_bytes <= art.bin.stat().st_size <= s.flash_bytes + 64  # + alignment gaps


@needs_arm
@pytest.mark.arm
@pytest.mark.parametrize("region,length", [("ram", 1024), ("flash", 2048)])
def test_model_that_does_not_fit(region: str, length: int, tiny_model: TinyModel, tmp_path: Path) -> None:
    board = load_board("nucleo-f446re")
    memory = tuple(MemoryRegion(r.name, r.origin, length) if r.name == region else r for r in board.memory)
    small = dataclasses.replace(board, memory=memory)
    with pytest.raises(EdgeqError) as e:
        build_firmware(tiny_model.src, small, tmp_path)
    msg = str(e.value)
    label = "RAM" if region == "ram" else "flash"
    assert f"{label} overflowed by" in msg and "largest:" in msg
    over = int(msg.split("overflowed by ")[1].split()[0])
    assert over > 0
    if region == "ram":
        assert "edgeq_tiny_net_arena" in msg or "edgeq_input" in msg


def test_missing_toolchain(tiny_model: TinyModel, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(fwbuild.shutil, "which", lambda name: None)
    with pytest.raises(EdgeqError) as e:
        build_firmware(tiny_model.src, load_board("qemu-cortex-m4"), tmp_path)
    msg = str(e.value)
    assert "\n" not in msg and "apt-get install gcc-arm-none-eabi libnewlib-arm-none-eabi" in msg


def test_missing_qemu(tiny_model: TinyModel, monkeypatch: pytest.MonkeyPatch) -> None:
    art = fwbuild.FirmwareArtifact("qemu-cortex-m4", Path("x.elf"), fwbuild.FirmwareSize(0, 0, 0, 0, 0),
                                   elf=Path("x.elf"))
    monkeypatch.setattr(fwbuild.shutil, "which", lambda name: None)
    with pytest.raises(EdgeqError, match="apt-get install qemu-system-arm"):
        qemu_command(art, load_board("qemu-cortex-m4"))


def test_qemu_command_shape() -> None:
    if shutil.which("qemu-system-arm") is None:
        pytest.skip("qemu-system-arm missing")
    art = fwbuild.FirmwareArtifact("qemu-cortex-m33", Path("/o/firmware.elf"), fwbuild.FirmwareSize(0, 0, 0, 0, 0),
                                   elf=Path("/o/firmware.elf"))
    argv = qemu_command(art, load_board("qemu-cortex-m33"), serial="pty")
    assert argv[1:] == ["-machine", "mps2-an505", "-nographic", "-monitor", "none", "-serial", "pty",
                        "-icount", "shift=0", "-kernel", "/o/firmware.elf"]
    with pytest.raises(EdgeqError, match="no emulator"):
        qemu_command(art, load_board("nucleo-f446re"))


@pytest.mark.parametrize("board_id", ["native", pytest.param("qemu-cortex-m4", marks=[needs_arm, pytest.mark.arm])])
def test_compile_error_reports_first_error(board_id: str, tiny_model: TinyModel, tmp_path: Path) -> None:
    src = tmp_path / "src"
    shutil.copytree(tiny_model.src, src)
    (src / "broken.c").write_text("int edgeq_broken(void) { return undeclared_thing; }\n")
    with pytest.raises(EdgeqError) as e:
        build_firmware(src, load_board(board_id), tmp_path / "out")
    msg = str(e.value)
    assert "failed" in msg and "undeclared_thing" in msg and "\n" not in msg


def test_native_sanitized_build(tiny_model: TinyModel, tmp_path: Path) -> None:
    art = build_firmware(tiny_model.src, load_board("native"), tmp_path, sanitize=True)
    link = Link([str(art.executable)])
    try:
        assert link.reply() == ["m-ready"]
        x = np.arange(tiny_model.input_size).astype(np.int8)
        for c in P.db_commands(x.tobytes()):
            link.command(c.decode())
        assert results_of(link.command("infer 1 0%")) == tiny_model.reference(x).tolist()
        link.send(b"bin%")
        link.take(lambda b: (b.find(b"m-bin-ready\r\n") + 13) if b"m-bin-ready\r\n" in b else None)
        link.send(encode_frame(0x02, x.tobytes()))
        for _ in range(tiny_model.num_layers):
            assert link.frame()[0] == 0x82
        assert link.frame()[0] == 0x81
    finally:
        link.close()
    assert link.proc.returncode == 0, link.proc.stderr.read().decode() if link.proc.stderr else ""
