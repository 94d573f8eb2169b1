"""Markdown and HTML renderings of report.json, from Jinja templates in templates/report/.
The HTML page is self-contained: inline CSS and inline SVG charts, no scripts, no external
assets."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import jinja2

from edgeq.codegen.env import environment
from edgeq.report.view import build_view


def _environment(html: bool) -> jinja2.Environment:
    return environment(autoescape=html)


def _md_cell(text: Any) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def render_markdown(report: dict[str, Any], comparison: dict[str, Any] | None = None,
                    gates: list[dict[str, Any]] | None = None) -> str:
    view = build_view(report, comparison, gates)
    for row in view["layers"]:
        row["name"] = _md_cell(row["name"])
    if view["validation"]:
        for row in view["validation"]["sqnr"]:
            row["label"] = _md_cell(row["label"])
    text = _environment(False).get_template("report/report.md.j2").render(v=view)
    while "\n\n\n" in text:
        text = text.replace("\n\n\n", "\n\n")
    return text


def render_html(report: dict[str, Any], comparison: dict[str, Any] | None = None,
                gates: list[dict[str, Any]] | None = None) -> str:
    return _environment(True).get_template("report/report.html.j2").render(v=build_view(report, comparison, gates))


def write_text_atomic(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)
