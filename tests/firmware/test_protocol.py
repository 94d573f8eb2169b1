"""The firmware protocol (firmware/PROTOCOL.md) on the native build and on the default
emulated board: ASCII commands, malformed input, binary frames; outputs bit-exact with
the numpy int8 reference."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from edgeq.boards import load_board
from edgeq.toolchain.firmware import FirmwareArtifact, build_firmware, qemu_command

from .conftest import HAVE_ARM, HAVE_QEMU, Link, TinyModel, encode_frame, results_of

TARGETS = [
    pytest.param("native", id="native"),
    pytest.param("qemu-cortex-m4", id="qemu-cortex-m4", marks=[
        pytest.mark.arm, pytest.mark.qemu,
        pytest.mark.skipif(not (HAVE_ARM and HAVE_QEMU), reason="arm-none-eabi-gcc or qemu-system-arm missing")]),
]


@pytest.fixture(scope="module", params=TARGETS)
def artifact(request: pytest.FixtureRequest, tiny_model: TinyModel,
             tmp_path_factory: pytest.TempPathFactory) -> FirmwareArtifact:
    board = load_board(request.param)
    return build_firmware(tiny_model.src, board, tmp_path_factory.mktemp(board.id))


def launch(artifact: FirmwareArtifact) -> Link:
    if artifact.is_native:
        return Link([str(artifact.executable)])
    return Link(qemu_command(artifact, load_board(artifact.board_id), serial="stdio"))


@pytest.fixture
def link(artifact: FirmwareArtifact) -> Iterator[Link]:
    ln = launch(artifact)
    assert ln.reply() == ["m-ready"]  # the boot banner
    yield ln
    ln.close(wait=2.0 if artifact.is_native else 0.0)  # QEMU does not exit at the end of its input


def load(link: Link, x: np.ndarray, chunk: int = 62) -> None:
    lines = link.command(f"db load {x.size}%")
    assert lines == [f"m-[Expecting {x.size} bytes]", "m-ready"]
    data = x.astype(np.int8).tobytes().hex()
    for i in range(0, len(data), 2 * chunk):
        lines = link.command(f"db {data[i:i + 2 * chunk]}%")
    assert lines == ["m-load-done", "m-ready"]


def test_ascii_session(link: Link, tiny_model: TinyModel, artifact: FirmwareArtifact) -> None:
    assert link.command("name%") == ["m-name-edgeq-tiny net", "m-ready"]
    unit = "ns" if artifact.is_native else "instructions"
    assert link.command("profile%") == [
        "m-profile-[edgeq]", "m-model-[tiny net]", f"m-input-[{tiny_model.input_size}]",
        f"m-output-[{tiny_model.output_size}]", f"m-layers-[{tiny_model.num_layers}]",
        f"m-count-unit-[{unit}]", "m-ready"]
    ts = link.command("timestamp%")
    assert ts[0].startswith("m-lap-us-") and int(ts[0][9:]) >= 0
    rng = np.random.default_rng(1)
    x = rng.integers(-128, 128, tiny_model.input_size, dtype=np.int8)
    load(link, x)
    printed = link.command("db print%")
    assert printed == [f"m-buffer-{x.tobytes().hex()}", "m-ready"]
    lines = link.command("infer 1 0%")
    assert lines[:3] == ["m-warmup-start-0", "m-warmup-done", "m-infer-start-1"]
    start, end = int(lines[3][9:]), int(lines[4][9:])
    assert lines[3].startswith("m-lap-us-") and end >= start
    assert lines[5] == "m-infer-done"
    expected = tiny_model.reference(x).tolist()
    assert results_of(lines) == expected
    assert link.command("results%") == [f"m-results-[{','.join(map(str, expected))}]", "m-ready"]
    # The tiny model's arena reuses the input's bytes: a run consumes the loaded input.
    assert "#define EDGEQ_MODEL_INPUT_KEPT EDGEQ_TINY_NET_INPUT_KEPT" in (tiny_model.src / "edgeq_target.h").read_text()
    assert "#define EDGEQ_TINY_NET_INPUT_KEPT 0" in (tiny_model.src / "model.h").read_text()
    # no input buffer and no command line buffer of the firmware's own: both are in the arena
    assert "#define EDGEQ_TINY_NET_IDLE_SIZE 144" in (tiny_model.src / "model.h").read_text()
    nm = shutil.which("nm" if artifact.is_native else "arm-none-eabi-nm")
    if nm:
        symbols = subprocess.run([nm, str(artifact.executable)], capture_output=True, text=True).stdout.split()
        assert "edgeq_cmd" not in symbols and "edgeq_input" not in symbols
        assert "edgeq_tiny_net_arena" in symbols
    assert link.command("infer 1 0%") == ["e-[no input loaded (db load N, then db <hex>)]", "m-ready"]
    assert link.command("db print%") == ["m-buffer-", "m-ready"]
    load(link, x)
    assert link.command("infer 3 2%") == [
        "e-[this model's arena reuses the input: one run per db load (infer 1 0)]", "m-ready"]
    assert link.command("infer 1 1%")[0].startswith("e-[this model's arena reuses the input")
    assert results_of(link.command("infer 1%")) == expected  # the load is still there
    assert link.command("help%")[-1] == "m-ready"


@pytest.fixture(scope="module")
def kept_artifact(request: pytest.FixtureRequest, kept_model: TinyModel,
                  tmp_path_factory: pytest.TempPathFactory, artifact: FirmwareArtifact) -> FirmwareArtifact:
    board = load_board(artifact.board_id)
    return build_firmware(kept_model.src, board, tmp_path_factory.mktemp(board.id + "-kept"))


def test_input_kept_serves_several_runs(kept_artifact: FirmwareArtifact, kept_model: TinyModel) -> None:
    """A model whose input stays intact through an inference: `infer N W` runs N + W times on
    one load, db print still shows the input, and every run gives the reference output."""
    assert "#define EDGEQ_KEPT_NET_INPUT_KEPT 1" in (kept_model.src / "model.h").read_text()
    link = launch(kept_artifact)
    try:
        assert link.reply() == ["m-ready"]
        x = np.random.default_rng(3).integers(-128, 128, kept_model.input_size, dtype=np.int8)
        load(link, x)
        expected = kept_model.reference(x).tolist()
        for _ in range(2):
            lines = link.command("infer 3 2%")
            assert lines[0] == "m-warmup-start-2" and results_of(lines) == expected
        assert link.command("db print%") == [f"m-buffer-{x.tobytes().hex()}", "m-ready"]
    finally:
        link.close(wait=2.0 if kept_artifact.is_native else 0.0)


@pytest.mark.parametrize("cmd,error", [
    ("frobnicate%", "e-[unknown command: frobnicate]"),
    ("name extra%", "e-[unknown command: name extra]"),
    ("%", "e-[unknown command: ]"),
    ("db load 100000%", "e-[db load 100000 out of range 1..243]"),
    ("db load 0%", "e-[db load 0 out of range 1..243]"),
    ("db load x1%", "e-[db load needs one decimal byte count]"),
    ("db load 99999999999%", "e-[db load needs one decimal byte count]"),
    ("db abc%", "e-[odd hex length]"),
    ("db 0g%", "e-[bad hex digit]"),
    ("db%", "e-[db needs an argument: load N, print or hex bytes]"),
    ("infer%", "e-[infer needs N >= 1 runs and optional W warm-up runs]"),
    ("infer 0 1%", "e-[infer needs N >= 1 runs and optional W warm-up runs]"),
    ("infer -1%", "e-[infer needs N >= 1 runs and optional W warm-up runs]"),
    ("\x00\xff\x01%", "e-[unknown command: ???]"),
])
def test_malformed_commands(link: Link, cmd: str, error: str) -> None:
    link.send(cmd.encode("latin-1"))
    assert link.reply() == [error, "m-ready"]
    assert link.command("name%") == ["m-name-edgeq-tiny net", "m-ready"]  # still serving


def test_malformed_sequences(link: Link, tiny_model: TinyModel) -> None:
    # before any load or inference
    assert link.command("results%") == ["e-[no results yet: run infer first]", "m-ready"]
    assert link.command("db 00%") == ["e-[no db load in progress]", "m-ready"]
    assert link.command("infer 1 0%") == ["e-[no input loaded (db load N, then db <hex>)]", "m-ready"]
    # more bytes than announced: rejected, nothing appended
    link.command("db load 2%")
    assert link.command("db 010203%") == ["e-[more bytes than db load announced]", "m-ready"]
    assert link.command("db 0102%") == ["m-load-done", "m-ready"]
    # a too-long line is dropped up to its '%'
    link.send("x" * 600 + "%")
    assert link.reply() == ["e-[command too long]", "m-ready"]
    # the line buffer holds 128 characters (PROTOCOL.md): 128 pass, 129 are discarded
    link.command("db load 62%")
    assert link.command("db   " + "01" * 62 + "%") == ["e-[command too long]", "m-ready"]  # 129
    assert link.command("db  " + "01" * 62 + "%") == ["m-load-done", "m-ready"]  # 128
    assert link.command("name%") == ["m-name-edgeq-tiny net", "m-ready"]
    # a partial load then an inference attempt
    link.command(f"db load {tiny_model.input_size}%")
    assert link.command("db 00%") == ["m-ready"]
    assert link.command("infer 1 0%")[0].startswith("e-[no input loaded")
    x = np.arange(tiny_model.input_size).astype(np.int8)
    load(link, x)
    assert results_of(link.command("infer 1 0%")) == tiny_model.reference(x).tolist()
    # a binary INFER frame replaces the loaded input; its run consumes it (tiny reuses it)
    load(link, x)
    enter_binary(link)
    link.send(encode_frame(0x01, x.tobytes()))
    assert link.frame()[0] == 0x81
    link.send(encode_frame(0x04, b""))
    assert link.frame()[0] == 0x85
    assert link.reply() == ["m-ready"]
    assert link.command("infer 1 0%") == ["e-[no input loaded (db load N, then db <hex>)]", "m-ready"]


def enter_binary(link: Link) -> None:
    link.send("bin%")
    link.take(lambda b: (b.find(b"m-bin-ready\r\n") + 13) if b"m-bin-ready\r\n" in b else None)


def test_binary_mode(link: Link, tiny_model: TinyModel, artifact: FirmwareArtifact) -> None:
    enter_binary(link)
    link.send(encode_frame(0x03))
    t, p = link.frame()
    unit = 2 if artifact.is_native else 1
    assert t == 0x83
    assert p == (tiny_model.input_size.to_bytes(4, "little") + tiny_model.output_size.to_bytes(4, "little")
                 + tiny_model.num_layers.to_bytes(4, "little") + bytes([unit]) + b"tiny net")
    link.send(encode_frame(0x05, b"hello"))
    assert link.frame() == (0x84, b"hello")
    rng = np.random.default_rng(2)
    xs = rng.integers(-128, 128, (4, tiny_model.input_size), dtype=np.int8)
    for x in xs:
        link.send(encode_frame(0x01, x.tobytes()))
        t, p = link.frame()
        assert t == 0x81 and len(p) == 8 + tiny_model.output_size
        assert int.from_bytes(p[:8], "little") > 0
        assert np.array_equal(np.frombuffer(p[8:], np.int8), tiny_model.reference(x))
    # per-layer outputs
    x = xs[0]
    link.send(encode_frame(0x02, x.tobytes()))
    refs = tiny_model.layer_references(x)
    total = 0
    for i, ref in enumerate(refs):
        t, p = link.frame()
        assert t == 0x82 and int.from_bytes(p[:4], "little") == i
        total += int.from_bytes(p[4:12], "little")
        assert np.array_equal(np.frombuffer(p[12:], np.int8), ref), f"layer {i}"
    t, p = link.frame()
    assert t == 0x81 and int.from_bytes(p[:8], "little") == total
    assert np.array_equal(np.frombuffer(p[8:], np.int8), tiny_model.reference(x))
    # back to ASCII
    link.send(encode_frame(0x04))
    assert link.frame() == (0x85, b"")
    assert link.reply() == ["m-ready"]
    assert link.command("results%")[0].startswith("m-results-[")


def test_binary_errors(link: Link, tiny_model: TinyModel) -> None:
    enter_binary(link)
    x = np.full(tiny_model.input_size, 7, np.int8)
    good = encode_frame(0x01, x.tobytes())
    expected = tiny_model.reference(x)

    def check_next_good_infer() -> None:
        link.send(good)
        t, p = link.frame()
        assert t == 0x81 and np.array_equal(np.frombuffer(p[8:], np.int8), expected)

    bad_crc = bytearray(good)
    bad_crc[-1] ^= 0xFF
    link.send(bytes(bad_crc))
    t, p = link.frame()
    assert t == 0xEE and p[0] == 1
    check_next_good_infer()
    corrupted_payload = bytearray(good)
    corrupted_payload[20] ^= 0x01
    link.send(bytes(corrupted_payload))
    assert link.frame()[1][0] == 1
    check_next_good_infer()
    # lengths: too long, too short for INFER, non-empty INFO, huge
    for frame in (encode_frame(0x01, bytes(tiny_model.input_size + 1)), encode_frame(0x01, bytes(3)),
                  encode_frame(0x03, b"x"), encode_frame(0x05, bytes(65)),
                  b"\xeb\x90\x01\xff\xff\xff\xff"):
        link.send(frame)
        t, p = link.frame()
        assert t == 0xEE and p[0] == 2, p
    # the device resynchronises on the next magic
    check_next_good_infer()
    link.send(encode_frame(0x7F, b"abc"))
    t, p = link.frame()
    assert t == 0xEE and p[0] == 3
    check_next_good_infer()
    link.send(b"garbage\x00\xeb\xeb\x13 more garbage")
    check_next_good_infer()


def test_frame_timeout_native(tmp_path: Path, tiny_model: TinyModel, artifact: FirmwareArtifact) -> None:
    """A frame cut short gets ERROR 4 after 1 s, and the device keeps serving. Native only:
    under QEMU -icount, 1 s of busy-polling is 1e9 emulated instructions (about 15 s)."""
    if not artifact.is_native:
        pytest.skip("slow under QEMU; the same main.c code path is covered natively")
    link = launch(artifact)
    try:
        link.reply()
        enter_binary(link)
        link.send(encode_frame(0x01, bytes(tiny_model.input_size))[:50])
        t, p = link.frame(timeout=30)
        assert t == 0xEE and p[0] == 4
        link.send(encode_frame(0x05, b"ok"))
        assert link.frame() == (0x84, b"ok")
    finally:
        link.close()
