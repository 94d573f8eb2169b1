"""Board files: boards/<id>.toml, loaded into a typed Board."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edgeq.errors import EdgeqError

BOARDS_DIR = Path(__file__).resolve().parent.parent / "boards"
DEFAULT_BOARD = "qemu-cortex-m4"


@dataclass(frozen=True)
class Board:
    id: str
    name: str
    vendor: str
    core: str
    features: tuple[str, ...] = ()
    raw: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @property
    def is_native(self) -> bool:
        return self.core == "host"


def board_ids() -> list[str]:
    return sorted(p.stem for p in BOARDS_DIR.glob("*.toml"))


def load_board(board_id: str) -> Board:
    path = BOARDS_DIR / f"{board_id}.toml"
    if not path.is_file():
        raise EdgeqError(f"unknown board {board_id!r}; known boards: {', '.join(board_ids())} (see `edgeq boards`)")
    try:
        raw = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as e:
        raise EdgeqError(f"board file {path}: {e}") from None
    cpu = raw.get("cpu", {})
    return Board(id=raw["id"], name=raw.get("name", raw["id"]), vendor=raw.get("vendor", ""),
                 core=cpu.get("core", "host"), features=tuple(cpu.get("features", ())), raw=raw)
