"""`edgeq flash`: the emulator in the background for emulated boards, the board's flash tool
(or a clear error naming it) for physical ones, and UF2 images for the RP2040."""

from __future__ import annotations

import shutil
import struct
from pathlib import Path

import numpy as np
import pytest

import edgeq
from edgeq.cli import main
from edgeq.toolchain.uf2 import MAGIC_END, MAGIC_START0, bin_to_uf2

torch = pytest.importorskip("torch")


def _tiny_build(tmp_path: Path, board: str) -> Path:
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Conv2d(1, 2, 3), torch.nn.ReLU(), torch.nn.Flatten(),
                                torch.nn.Linear(2 * 4 * 4, 3)).eval()
    calib = np.random.default_rng(0).normal(size=(8, 1, 6, 6)).astype(np.float32)
    built = edgeq.build(model, board=board, calib=calib, out=tmp_path / board,
                        example_input=torch.from_numpy(calib[:1]))
    return built.path


def test_uf2_blocks() -> None:
    image = bytes(range(256)) * 3 + b"\x01"
    uf2 = bin_to_uf2(image, 0x10000000)
    assert len(uf2) == 4 * 512
    for n in range(4):
        block = uf2[n * 512 : (n + 1) * 512]
        magic0, _, _, addr, size, number, total, _ = struct.unpack("<8I", block[:32])
        assert (magic0, addr, size, number, total) == (MAGIC_START0, 0x10000000 + 256 * n, 256, n, 4)
        assert struct.unpack("<I", block[-4:])[0] == MAGIC_END
    assert uf2[3 * 512 + 32] == 1


def test_native_has_nothing_to_flash(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = _tiny_build(tmp_path, "native")
    assert main(["flash", str(out)]) == 1
    assert "nothing to flash" in capsys.readouterr().err


@pytest.mark.arm
def test_physical_board_missing_tool_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    if shutil.which("arm-none-eabi-gcc") is None:
        pytest.skip("arm-none-eabi-gcc not installed")
    out = _tiny_build(tmp_path, "nucleo-l4r5zi")
    pico = _tiny_build(tmp_path, "rpi-pico")
    monkeypatch.setenv("PATH", "/nonexistent")
    assert main(["flash", str(out)]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("edgeq: error: pyocd not found") and "\n" not in err
    drive = tmp_path / "RPI-RP2"
    drive.mkdir()
    assert main(["flash", str(pico), "--port", str(drive), "-q"]) == 0
    assert (drive / "firmware.uf2").stat().st_size % 512 == 0


@pytest.mark.qemu
def test_emulated_board_runs_in_background(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    if shutil.which("qemu-system-arm") is None or shutil.which("arm-none-eabi-gcc") is None:
        pytest.skip("qemu-system-arm or arm-none-eabi-gcc not installed")
    out = _tiny_build(tmp_path, "qemu-cortex-m4")
    assert main(["flash", str(out)]) == 0
    text = capsys.readouterr().out
    port = text.split("UART is ")[1].split()[0]
    try:
        x = np.random.default_rng(1).integers(-128, 128, size=(3, 1, 6, 6)).astype(np.int8)
        np.save(tmp_path / "x.npy", x)
        assert main(["run", str(out), "--port", port, "--inputs", str(tmp_path / "x.npy"), "--raw",
                     "-o", str(tmp_path / "y.npy"), "-q"]) == 0
        expected = edgeq.api.BuiltModel(edgeq.builddir.BuildDir.open(out)).run(x, raw=True)
        np.testing.assert_array_equal(np.load(tmp_path / "y.npy"), expected)
    finally:
        assert main(["flash", str(out), "--stop", "-q"]) == 0
