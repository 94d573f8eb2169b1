"""The Jinja environment: strict about undefined names, templates from templates/."""

from __future__ import annotations

from pathlib import Path

import jinja2

TEMPLATES_DIR = Path(__file__).resolve().parent.parent.parent / "templates"
RUNTIME_DIR = TEMPLATES_DIR / "runtime"


def environment(autoescape: bool = False) -> jinja2.Environment:
    """Templates from templates/; `autoescape` for HTML reports (never for C)."""
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATES_DIR)),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        autoescape=autoescape,
    )
