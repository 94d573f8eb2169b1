"""Turning user-chosen names (models, layers) into safe C identifiers and comments.

Names come from the user's model: they may hold quotes, newlines or `*/`. Nothing from
them reaches the generated sources except through these functions.
"""

from __future__ import annotations

import re

_C_KEYWORDS = frozenset(
    "auto break case char const continue default do double else enum extern float for goto if inline int "
    "long register restrict return short signed sizeof static struct switch typedef union unsigned void "
    "volatile while _Bool _Complex _Imaginary".split()
)


def c_identifier(name: str, max_len: int = 40) -> str:
    """A lowercase C identifier fragment: [a-z0-9_], not starting with a digit, never empty."""
    ident = re.sub(r"[^A-Za-z0-9]+", "_", name).strip("_").lower()[:max_len].strip("_")
    if not ident:
        ident = "model"
    if ident[0].isdigit():
        ident = "m_" + ident
    if ident in _C_KEYWORDS:
        ident += "_"
    return ident


def c_comment(text: str, max_len: int = 120) -> str:
    """Text safe inside a /* */ comment on one line: printable ASCII, no comment delimiters."""
    text = "".join(ch if 32 <= ord(ch) < 127 else "?" for ch in text)
    text = text.replace("*/", "* /").replace("/*", "/ *").replace("\\", "/")
    return text[:max_len]


def c_string(text: str, max_len: int = 64) -> str:
    """Contents for a C string literal: printable ASCII without quotes or backslashes."""
    return "".join(ch if 32 <= ord(ch) < 127 and ch not in '"\\?' else "_" for ch in text)[:max_len]
