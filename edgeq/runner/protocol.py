"""The wire protocol of firmware/PROTOCOL.md: binary frames (magic, type, length, payload,
CRC-32) with a resynchronising incremental parser, and helpers for the ASCII commands."""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass

MAGIC = b"\xeb\x90"
HEADER_SIZE = 7  # magic (2) + type (1) + length (4)
OVERHEAD = HEADER_SIZE + 4  # + crc

# host -> device
INFER = 0x01
INFER_LAYERS = 0x02
INFO = 0x03
EXIT = 0x04
PING = 0x05
# device -> host
RESULT = 0x81
LAYER = 0x82
INFO_REPLY = 0x83
PONG = 0x84
OK = 0x85
ERROR = 0xEE

ERR_BAD_CRC = 1
ERR_BAD_LENGTH = 2
ERR_UNKNOWN_TYPE = 3
ERR_TIMEOUT = 4
ERROR_NAMES = {ERR_BAD_CRC: "bad CRC", ERR_BAD_LENGTH: "bad length", ERR_UNKNOWN_TYPE: "unknown type",
               ERR_TIMEOUT: "timeout inside a frame"}

COUNT_UNITS = ("cycles", "instructions", "ns")
MAX_PING = 64


def crc32(data: bytes) -> int:
    return zlib.crc32(data) & 0xFFFFFFFF


def encode_frame(ftype: int, payload: bytes = b"") -> bytes:
    body = struct.pack("<BI", ftype, len(payload)) + bytes(payload)
    return MAGIC + body + struct.pack("<I", crc32(body))


@dataclass(frozen=True)
class Frame:
    type: int
    payload: bytes


@dataclass(frozen=True)
class BadFrame:
    """A frame whose CRC did not match or whose length was impossible: the parser skipped its magic."""

    reason: str


class FrameParser:
    """Incremental frame parser. Bytes that are not part of a frame (garbage, ASCII text from a
    device that reset) are kept in `skipped` so the caller can look for boot text."""

    def __init__(self, max_payload: int = 1 << 24) -> None:
        self.max_payload = max_payload
        self.buf = bytearray()
        self.skipped = bytearray()

    def feed(self, data: bytes) -> None:
        self.buf += data

    def take_skipped(self) -> bytes:
        out = bytes(self.skipped)
        self.skipped.clear()
        return out

    def next(self) -> Frame | BadFrame | None:
        """The next complete frame (or a bad one), or None when more bytes are needed."""
        while True:
            i = self.buf.find(MAGIC)
            if i < 0:
                keep = 1 if self.buf[-1:] == MAGIC[:1] else 0
                cut = len(self.buf) - keep
                self.skipped += self.buf[:cut]
                del self.buf[:cut]
                return None
            if i:
                self.skipped += self.buf[:i]
                del self.buf[:i]
            if len(self.buf) < HEADER_SIZE:
                return None
            ftype, length = struct.unpack_from("<BI", self.buf, 2)
            if length > self.max_payload:
                self._skip_magic()
                return BadFrame(f"impossible frame length {length}")
            total = OVERHEAD + length
            if len(self.buf) < total:
                return None
            body = bytes(self.buf[2:HEADER_SIZE + length])
            (crc,) = struct.unpack_from("<I", self.buf, HEADER_SIZE + length)
            if crc != crc32(body):
                self._skip_magic()
                return BadFrame(f"CRC error in a frame of type 0x{ftype:02x}")
            del self.buf[:total]
            return Frame(ftype, body[5:])

    def _skip_magic(self) -> None:
        self.skipped += self.buf[:1]
        del self.buf[:1]


@dataclass(frozen=True)
class InfoPayload:
    input_size: int
    output_size: int
    num_layers: int
    count_unit: str
    model: str


def decode_info(payload: bytes) -> InfoPayload:
    if len(payload) < 13:
        raise ValueError(f"INFO payload too short ({len(payload)} bytes)")
    inp, out, layers, unit = struct.unpack_from("<IIIB", payload)
    unit_name = COUNT_UNITS[unit] if unit < len(COUNT_UNITS) else f"unit{unit}"
    return InfoPayload(inp, out, layers, unit_name, payload[13:].decode("ascii", "replace"))


def encode_info(info: InfoPayload) -> bytes:
    return struct.pack("<IIIB", info.input_size, info.output_size, info.num_layers,
                       COUNT_UNITS.index(info.count_unit)) + info.model.encode("ascii")


def decode_result(payload: bytes) -> tuple[int, bytes]:
    if len(payload) < 8:
        raise ValueError(f"RESULT payload too short ({len(payload)} bytes)")
    (count,) = struct.unpack_from("<Q", payload)
    return count, payload[8:]


def encode_result(count: int, output: bytes) -> bytes:
    return struct.pack("<Q", count) + output


def decode_layer(payload: bytes) -> tuple[int, int, bytes]:
    if len(payload) < 12:
        raise ValueError(f"LAYER payload too short ({len(payload)} bytes)")
    index, count = struct.unpack_from("<IQ", payload)
    return index, count, payload[12:]


def encode_layer(index: int, count: int, output: bytes) -> bytes:
    return struct.pack("<IQ", index, count) + output


def decode_error(payload: bytes) -> str:
    if not payload:
        return "device error (no code)"
    code = payload[0]
    msg = payload[1:].decode("ascii", "replace").strip()
    name = ERROR_NAMES.get(code, f"code {code}")
    return f"device error {code} ({name}){': ' + msg if msg else ''}"


def encode_error(code: int, message: str) -> bytes:
    return bytes([code]) + message.encode("ascii", "replace")


# ----------------------------------------------------------------------------- ASCII helpers

READY = "m-ready"
BIN_READY = "m-bin-ready"
CMD_MAX = 128  # the firmware's command line buffer: characters before the '%' (PROTOCOL.md)
DB_CHUNK = (CMD_MAX - len("db ")) // 2  # input bytes per `db <hex>%` command


def command(text: str) -> bytes:
    """An ASCII command as bytes, with the terminating `%` added when missing. A command the
    firmware's line buffer cannot hold is a ValueError (the firmware would discard it)."""
    text = text.strip()
    if not text.endswith("%"):
        text += "%"
    if len(text) - 1 > CMD_MAX:
        raise ValueError(f"command longer than {CMD_MAX} characters: {text[:24]}...")
    return text.encode("ascii")


def db_commands(data: bytes, chunk: int = DB_CHUNK) -> list[bytes]:
    """`db load N%` followed by `db <hex>%` commands, each within the CMD_MAX line buffer."""
    chunk = min(chunk, DB_CHUNK)
    cmds = [command(f"db load {len(data)}")]
    for i in range(0, len(data), chunk):
        cmds.append(command("db " + data[i:i + chunk].hex()))
    return cmds


def parse_results(line: str) -> list[int]:
    """`m-results-[1,-2,3]` -> [1, -2, 3]."""
    start, end = line.find("["), line.rfind("]")
    if not line.startswith("m-results-") or start < 0 or end < start:
        raise ValueError(f"not a results line: {line!r}")
    body = line[start + 1:end].strip()
    return [int(v) for v in body.split(",")] if body else []


def parse_profile(lines: list[str]) -> dict[str, str]:
    """`m-input-[243]` ... -> {"input": "243", ...}."""
    out: dict[str, str] = {}
    for line in lines:
        if line.startswith("m-") and line.endswith("]") and "-[" in line:
            key, _, value = line[2:].partition("-[")
            out[key] = value[:-1]
    return out
