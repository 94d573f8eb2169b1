"""The HTML report in a real browser: headless Chromium renders it, the screenshot shows the
charts' colours and the DOM holds the four SVG charts. Skipped when chromium is not installed
(scripts/setup installs Debian's `chromium`; CI runs it)."""

from __future__ import annotations

import shutil
import struct
import subprocess
import zlib
from pathlib import Path

import numpy as np
import pytest

from edgeq.cli import main
from edgeq.report.view import COLORS

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="chromium not installed (scripts/setup installs it)")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def read_png(data: bytes) -> np.ndarray:
    """RGB(A) pixels of a non-interlaced 8-bit PNG (what Chromium writes), decoded with zlib."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, chunks, header = 8, [], None
    while pos < len(data):
        (length,), kind = struct.unpack(">I", data[pos:pos + 4]), data[pos + 4:pos + 8]
        body = data[pos + 8:pos + 8 + length]
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            chunks.append(body)
        pos += 12 + length
    assert header is not None
    w, h, depth, color, _, _, interlace = header
    assert depth == 8 and color in (2, 6) and interlace == 0, header
    bpp = 3 if color == 2 else 4
    stride = w * bpp
    raw = zlib.decompress(b"".join(chunks))
    out = np.zeros((h, stride), dtype=np.uint8)
    prev = np.zeros(stride, dtype=np.uint8)
    for y in range(h):
        ftype = raw[y * (stride + 1)]
        line = np.frombuffer(raw, dtype=np.uint8, count=stride, offset=y * (stride + 1) + 1)
        if ftype == 0:
            cur = line.copy()
        elif ftype == 1:  # sub: a running sum per channel
            cur = (np.cumsum(line.reshape(w, bpp).astype(np.int64), axis=0) % 256).astype(np.uint8).reshape(-1)
        elif ftype == 2:
            cur = line + prev  # uint8 wraps around
        else:  # 3 average, 4 paeth: sequential, on Python ints (fast enough for a few hundred rows)
            lst, up, c = line.tolist(), prev.tolist(), [0] * stride
            for i in range(stride):
                a = c[i - bpp] if i >= bpp else 0
                b = up[i]
                if ftype == 3:
                    pred = (a + b) >> 1
                else:
                    cc = up[i - bpp] if i >= bpp else 0
                    pa, pb, pc = abs(b - cc), abs(a - cc), abs(a + b - 2 * cc)
                    pred = a if pa <= pb and pa <= pc else (b if pb <= pc else cc)
                c[i] = (lst[i] + pred) & 0xFF
            cur = np.array(c, dtype=np.uint8)
        out[y] = cur
        prev = cur
    return out.reshape(h, w, bpp)[:, :, :3]


def _pixels_of(img: np.ndarray, hex_color: str, tol: int = 6) -> int:
    rgb = np.array([int(hex_color[i:i + 2], 16) for i in (1, 3, 5)])
    return int(np.sum(np.all(np.abs(img.astype(int) - rgb) <= tol, axis=2)))


def _chromium(args: list[str], tmp_path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([CHROMIUM, *FLAGS, f"--user-data-dir={tmp_path / 'profile'}", *args],
                          capture_output=True, text=True, timeout=120)


def test_html_report_in_headless_chromium(build_copy: Path, tmp_path: Path) -> None:
    html = tmp_path / "report.html"
    assert main(["report", str(build_copy), "--format", "html", "-o", str(html), "-q"]) == 0
    dom = _chromium(["--dump-dom", html.as_uri()], tmp_path)
    assert dom.returncode == 0, dom.stderr[-2000:]
    for chart in ("chart-size", "chart-sqnr", "chart-latency", "chart-confusion"):
        assert f'id="{chart}"' in dom.stdout, chart
    assert dom.stdout.count('class="seg ') == 7 and dom.stdout.count('class="cell"') == 100
    png = tmp_path / "shot.png"
    shot = _chromium([f"--screenshot={png}", "--window-size=1200,2000", html.as_uri()], tmp_path)
    assert png.is_file(), shot.stderr[-2000:]
    img = read_png(png.read_bytes())
    assert img.shape[:2] == (2000, 1200)
    assert len(np.unique(img.reshape(-1, 3), axis=0)) > 20  # not blank
    for key in ("weights", "kernel_code", "runtime_startup", "arena", "sqnr", "latency", "confusion"):
        assert _pixels_of(img, COLORS[key]) > 200, key
