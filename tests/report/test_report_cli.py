"""`edgeq report`: terminal, json, md and html; --compare and the CI gates (exit 3); bad input
(one line, non-zero exit); --quiet/--json; progress bars on a terminal."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from edgeq.cli import main


def _run(capsys: pytest.CaptureFixture[str], argv: list[str]) -> tuple[int, str, str]:
    code = main(argv)
    cap = capsys.readouterr()
    return code, cap.out, cap.err


def _one_line_error(err: str) -> str:
    err = err.strip()
    assert err.startswith("edgeq: error: ") and "\n" not in err and "Traceback" not in err, err
    return err


def test_terminal_report(main_job: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = _run(capsys, ["report", str(main_job["build"])])
    assert code == 0 and not err
    out = " ".join(out.split())  # lines wrap at the test console's width
    for text in ("Size (read from the built binary)", "kernel code", "runtime + startup", "stack reserve",
                 "arena", "Layers", "ns (host) per inference, ", "/MAC (", "bit-exact", "Accuracy: float model",
                 "Top-1 agreement", "RMSE", "Per-layer SQNR", "Per-class accuracy", "Confusion matrix"):
        assert text in out, text


def test_json_is_report_json(main_job: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    for argv in (["--format", "json"], ["--json"], ["--format", "json", "-q"]):
        code, out, _ = _run(capsys, ["report", str(main_job["build"]), *argv])
        assert code == 0
        assert json.loads(out) == json.loads((main_job["build"] / "report.json").read_text())


def test_markdown(build_copy: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _run(capsys, ["report", str(build_copy), "--format", "md"])
    assert code == 0 and out.strip() == f"wrote {build_copy / 'report.md'}"
    md = (build_copy / "report.md").read_text()
    for text in ("# digits on native", "## Accuracy", "## Size", "## Latency", "## Layers", "| weights |",
                 "| runtime + startup |", "Per-layer SQNR", "Confusion matrix", "float model"):
        assert text in md, text
    assert "\n\n\n" not in md
    code, out, _ = _run(capsys, ["report", str(build_copy), "--format", "md", "-o", str(tmp_path / "r.md"), "-q"])
    assert code == 0 and out == "" and (tmp_path / "r.md").read_text() == md
    base = _baseline(build_copy, tmp_path)
    code, _, _ = _run(capsys, ["report", str(build_copy), "--format", "md", "--compare", str(base),
                               "--max-ram", "1", "-o", str(tmp_path / "c.md")])
    md = (tmp_path / "c.md").read_text()
    assert code == 3 and "## Compared with" in md and "| flash |" in md and "**FAIL**: RAM" in md
    code, _, _ = _run(capsys, ["report", str(build_copy), "--format", "html", "--compare", str(base),
                               "--max-ram", "1", "-o", str(tmp_path / "c.html")])
    html = (tmp_path / "c.html").read_text()
    assert code == 3 and "Compared with" in html and '<span class="bad">FAIL</span>: RAM' in html


def test_html_is_self_contained(build_copy: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, _ = _run(capsys, ["report", str(build_copy), "--format", "html", "-q"])
    assert code == 0
    html = (build_copy / "report.html").read_text()
    assert html.startswith("<!DOCTYPE html>") and "<style>" in html
    for chart in ("chart-size", "chart-sqnr", "chart-latency", "chart-confusion"):
        assert f'<svg id="{chart}"' in html, chart
    assert "<script" not in html and "<link" not in html and "src=" not in html and "@import" not in html
    assert not [u for u in re.findall(r"https?://[^\"' )]+", html) if u != "http://www.w3.org/2000/svg"]


def _baseline(build: Path, tmp_path: Path, **changes: object) -> Path:
    report = json.loads((build / "report.json").read_text())
    for path, value in changes.items():
        node = report
        keys = path.split("__")
        for k in keys[:-1]:
            node = node[k]
        node[keys[-1]] = value
    p = tmp_path / "baseline.json"
    p.write_text(json.dumps(report))
    return p


def test_compare_shows_deltas(main_job: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    b = main_job["build"]
    size = json.loads((b / "report.json").read_text())["size"]
    base = _baseline(b, tmp_path, size__flash_bytes=size["flash_bytes"] - 1000, size__ram_bytes=size["ram_bytes"] + 16)
    code, out, _ = _run(capsys, ["report", str(b), "--compare", str(base)])
    assert code == 0
    assert "Compared with" in out and "+1,000 (" in out and "-16 (" in out and "+0.00 pp" in out
    code, out, _ = _run(capsys, ["report", str(b), "--compare", str(base), "--json"])
    rows = {r["metric"]: r for r in json.loads(out)["comparison"]["rows"]}
    assert rows["flash"]["delta"] == 1000 and rows["RAM"]["delta"] == -16
    assert rows["accuracy (target)"]["delta"] == 0
    assert any(k.startswith("latency (ns/inference)") for k in rows)


def test_gates_exit_3(main_job: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    b = str(main_job["build"])
    r = json.loads((main_job["build"] / "report.json").read_text())
    flash, ram = r["size"]["flash_bytes"], r["size"]["ram_bytes"]
    lat = r["latency"]["ns_per_inference"]
    assert _run(capsys, ["report", b, "--max-flash", str(flash), "--max-ram", str(ram), "--max-latency", str(lat),
                         "--max-accuracy-drop", "5"])[0] == 0
    code, out, err = _run(capsys, ["report", b, "--max-flash", str(flash - 1), "--max-ram", str(ram)])
    assert code == 3 and "gate FAIL: flash" in out and "gate pass: RAM" in out
    assert "threshold(s) broken: flash" in _one_line_error(err)
    assert _run(capsys, ["report", b, "--max-ram", str(ram - 1), "-q", "--format", "md",
                         "-o", str(tmp_path / "r.md")])[0] == 3
    assert _run(capsys, ["report", b, "--max-latency", str(lat - 1), "--json"])[0] == 3
    # relative limits, against a baseline
    base = _baseline(main_job["build"], tmp_path, size__flash_bytes=flash - 100)
    assert _run(capsys, ["report", b, "--compare", str(base), "--max-flash", "1%"])[0] == 0
    base = _baseline(main_job["build"], tmp_path, size__flash_bytes=flash // 2)
    code, _, err = _run(capsys, ["report", b, "--compare", str(base), "--max-flash", "10%"])
    assert code == 3 and "baseline" in err
    # accuracy drop: against the baseline with --compare
    acc = r["validation"]["accuracy"]["target"]
    base = _baseline(main_job["build"], tmp_path, validation__accuracy__target=min(acc + 0.02, 1.0))
    drop_pp = 100 * (min(acc + 0.02, 1.0) - acc)
    assert _run(capsys, ["report", b, "--compare", str(base), "--max-accuracy-drop", str(drop_pp + 0.1)])[0] == 0
    code, _, err = _run(capsys, ["report", b, "--compare", str(base), "--max-accuracy-drop", str(drop_pp / 2)])
    assert code == 3 and "accuracy" in err


def test_gate_usage_and_errors(main_job: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    b = str(main_job["build"])
    with pytest.raises(SystemExit) as e:
        main(["report", b, "--max-flash", "lots"])
    assert e.value.code == 2 and "--max-flash: not a number" in capsys.readouterr().err
    code, _, err = _run(capsys, ["report", b, "--max-flash", "5%"])
    assert code == 1 and "--compare" in _one_line_error(err)


def test_compare_refuses_other_model_or_board(main_job: dict[str, Path], tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    b = str(main_job["build"])
    for changes, what in [({"model__sha256": "0" * 64}, "model sha256"), ({"board": "qemu-cortex-m4"}, "board"),
                          ({"board": "nucleo-l4r5zi", "model__sha256": "f" * 64}, "board")]:
        base = _baseline(main_job["build"], tmp_path, **changes)
        code, out, err = _run(capsys, ["report", b, "--compare", str(base)])
        assert code == 1 and out == ""
        assert "cannot compare" in _one_line_error(err) and what in err


@pytest.mark.parametrize("content, message", [(None, "does not exist"), ("{not json", "corrupt"),
                                              ("[1, 2]", "not an edgeq report")])
def test_bad_baseline(main_job: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str],
                      content: str | None, message: str) -> None:
    base = tmp_path / "base.json"
    if content is not None:
        base.write_text(content)
    code, _, err = _run(capsys, ["report", str(main_job["build"]), "--compare", str(base)])
    assert code == 1 and message in _one_line_error(err)


def test_bad_build_directory(build_copy: Path, capsys: pytest.CaptureFixture[str]) -> None:
    report = json.loads((build_copy / "report.json").read_text())
    (build_copy / "report.json").write_text(json.dumps({**report, "edgeq_version": "0.0.1"}))
    code, _, err = _run(capsys, ["report", str(build_copy)])
    assert code == 1 and "edgeq 0.0.1" in _one_line_error(err)
    (build_copy / "report.json").write_text('{"board": "native"')
    assert _run(capsys, ["report", str(build_copy)])[0] == 1
    assert "corrupt" in _one_line_error(capsys.readouterr().err or _run(capsys, ["report", str(build_copy)])[2])
    (build_copy / "report.json").unlink()
    code, _, err = _run(capsys, ["report", str(build_copy), "--format", "html"])
    assert code == 1 and "missing" in _one_line_error(err)
    meta = json.loads((build_copy / "build.json").read_text())
    (build_copy / "build.json").write_text(json.dumps({**meta, "edgeq_version": "9.9"}))
    code, _, err = _run(capsys, ["report", str(build_copy)])
    assert code == 1 and "built by edgeq 9.9" in _one_line_error(err)


def test_validate_quiet_and_json(main_job: dict[str, Path], build_copy: Path,
                                 capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = _run(capsys, ["validate", str(build_copy), "--data", str(main_job["test"]), "-q"])
    assert code == 0 and out == "" and err == ""
    code, out, err = _run(capsys, ["validate", str(build_copy), "--data", str(main_job["test"]), "--json"])
    assert code == 0 and err == ""
    result = json.loads(out)
    assert result["validation"]["bit_exact"] and result["latency"]["count_unit"] == "ns"
    code, out, _ = _run(capsys, ["validate", str(build_copy), "--data", str(main_job["test"]), "--no-layers"])
    assert code == 0 and "bit-exact" in out and "Per-layer SQNR" in out
    assert "layers" not in json.loads((build_copy / "report.json").read_text())["latency"]


def _on_a_terminal(argv: list[str]) -> str:
    """Run edgeq with stderr on a pty (so rich shows progress bars); return what reached it."""
    master, slave = os.openpty()
    env = {**os.environ, "COLUMNS": "120", "TERM": "xterm"}
    proc = subprocess.Popen([sys.executable, "-m", "edgeq.cli", *argv], stdout=subprocess.DEVNULL, stderr=slave,
                            env=env)
    os.close(slave)
    chunks = []
    while True:
        try:
            data = os.read(master, 65536)
        except OSError:
            break
        if not data:
            break
        chunks.append(data)
    os.close(master)
    text = b"".join(chunks).decode(errors="replace")
    assert proc.wait(timeout=120) == 0, text[-2000:]
    return text


def test_progress_bars_on_a_terminal(main_job: dict[str, Path], build_copy: Path, tmp_path: Path) -> None:
    text = _on_a_terminal(["validate", str(build_copy), "--data", str(main_job["test"])])
    counts = [int(m) for m in re.findall(r"(\d+)/360", text)]
    assert "validating" in text and counts and max(counts) == 360 and min(counts) < 360  # it advanced
    text = _on_a_terminal(["build", str(main_job["model"]), "--calib", str(main_job["calib"]), "--board", "native",
                           "-o", str(tmp_path / "b2")])
    assert "calibrating" in text
    quiet = _on_a_terminal(["validate", str(build_copy), "--data", str(main_job["test"]), "-q"])
    assert quiet == ""


def test_before_validate(build_copy: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A fresh build (no validation, no latency yet) renders everywhere; gates that need them say so."""
    report = json.loads((build_copy / "report.json").read_text())
    report.pop("validation")
    report.pop("latency")
    (build_copy / "report.json").write_text(json.dumps(report))
    code, out, _ = _run(capsys, ["report", str(build_copy)])
    assert code == 0 and "Layers" in out and "Latency" not in out
    for fmt in ("md", "html"):
        assert _run(capsys, ["report", str(build_copy), "--format", fmt, "-q"])[0] == 0
    assert "No latency yet" in (build_copy / "report.html").read_text()
    code, _, err = _run(capsys, ["report", str(build_copy), "--max-accuracy-drop", "1"])
    assert code == 1 and "edgeq validate" in _one_line_error(err)
    code, _, err = _run(capsys, ["report", str(build_copy), "--max-latency", "1000"])
    assert code == 1 and "edgeq validate" in _one_line_error(err)
