"""UF2 images (the RP2040's USB mass-storage bootloader format) from a flat binary.

Each 512-byte block carries 256 bytes of payload for one flash address:
magic, magic, flags, address, payload size, block number, block count, family id,
476 data bytes (payload then zero padding), final magic; all little endian.
"""

from __future__ import annotations

import struct

MAGIC_START0 = 0x0A324655
MAGIC_START1 = 0x9E5D5157
MAGIC_END = 0x0AB16F30
FLAG_FAMILY_ID_PRESENT = 0x00002000
FAMILIES = {"rp2040": 0xE48BFF56}
PAYLOAD = 256


def bin_to_uf2(image: bytes, base_address: int, family: str = "rp2040") -> bytes:
    if family not in FAMILIES:
        raise ValueError(f"unknown UF2 family {family!r}; known: {', '.join(FAMILIES)}")
    chunks = [image[i : i + PAYLOAD] for i in range(0, len(image), PAYLOAD)] or [b""]
    blocks = []
    for n, chunk in enumerate(chunks):
        header = struct.pack("<8I", MAGIC_START0, MAGIC_START1, FLAG_FAMILY_ID_PRESENT, base_address + n * PAYLOAD,
                             PAYLOAD, n, len(chunks), FAMILIES[family])
        data = chunk.ljust(476, b"\x00")
        blocks.append(header + data + struct.pack("<I", MAGIC_END))
    return b"".join(blocks)
