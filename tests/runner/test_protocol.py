import struct
import zlib

import pytest

from edgeq.runner import protocol as P


def test_frame_layout_and_crc() -> None:
    frame = P.encode_frame(P.INFER, b"\x01\x02\xff")
    assert frame[:2] == b"\xeb\x90"
    assert frame[2] == P.INFER
    assert struct.unpack_from("<I", frame, 3)[0] == 3
    assert frame[7:10] == b"\x01\x02\xff"
    assert struct.unpack_from("<I", frame, 10)[0] == zlib.crc32(frame[2:10])
    assert len(frame) == P.OVERHEAD + 3


@pytest.mark.parametrize("payload", [b"", b"x", bytes(range(256)) * 3, b"\xeb\x90" * 10])
def test_round_trip_byte_by_byte(payload: bytes) -> None:
    parser = P.FrameParser()
    data = P.encode_frame(P.RESULT, payload) + P.encode_frame(P.PONG, b"abc")
    frames = []
    for b in data:
        parser.feed(bytes([b]))
        while (f := parser.next()) is not None:
            frames.append(f)
    assert frames == [P.Frame(P.RESULT, payload), P.Frame(P.PONG, b"abc")]
    assert parser.take_skipped() == b""


def test_resync_after_garbage_keeps_skipped_text() -> None:
    parser = P.FrameParser()
    parser.feed(b"junk\xeb\x00m-ready\r\n" + P.encode_frame(P.OK))
    assert parser.next() == P.Frame(P.OK, b"")
    assert b"m-ready" in parser.take_skipped()


def test_bad_crc_is_reported_and_skipped() -> None:
    bad = bytearray(P.encode_frame(P.RESULT, b"12345678abcd"))
    bad[9] ^= 1
    parser = P.FrameParser()
    parser.feed(bytes(bad) + P.encode_frame(P.PONG, b"z"))
    item = parser.next()
    assert isinstance(item, P.BadFrame) and "CRC" in item.reason
    assert parser.next() == P.Frame(P.PONG, b"z")


def test_impossible_length_does_not_wait_forever() -> None:
    parser = P.FrameParser(max_payload=100)
    parser.feed(b"\xeb\x90\x81\xff\xff\xff\x7f" + P.encode_frame(P.OK))
    item = parser.next()
    assert isinstance(item, P.BadFrame) and "length" in item.reason
    assert parser.next() == P.Frame(P.OK, b"")


def test_payload_codecs() -> None:
    info = P.InfoPayload(243, 10, 5, "instructions", "kws")
    assert P.decode_info(P.encode_info(info)) == info
    assert P.decode_result(P.encode_result(2**40 + 3, b"\x80\x7f")) == (2**40 + 3, b"\x80\x7f")
    assert P.decode_layer(P.encode_layer(4, 99, b"\x01")) == (4, 99, b"\x01")
    assert "bad CRC" in P.decode_error(P.encode_error(1, "x"))
    with pytest.raises(ValueError):
        P.decode_result(b"123")


def test_ascii_helpers() -> None:
    assert P.command("name") == b"name%"
    assert P.command("name%") == b"name%"
    for chunk in (200, 10):
        cmds = P.db_commands(bytes(range(250)), chunk=chunk)
        assert cmds[0] == b"db load 250%"
        assert b"".join(c[3:-1] for c in cmds[1:]) == bytes(range(250)).hex().encode()
        assert all(len(c) - 1 <= P.CMD_MAX for c in cmds)  # the firmware's line buffer
    assert len(P.db_commands(bytes(250))[1]) - 1 == 3 + 2 * P.DB_CHUNK <= P.CMD_MAX
    with pytest.raises(ValueError):
        P.command("db " + "00" * P.CMD_MAX)
    assert P.parse_results("m-results-[1,-2,127]") == [1, -2, 127]
    assert P.parse_profile(["m-input-[243]", "m-count-unit-[cycles]"]) == {"input": "243", "count-unit": "cycles"}
