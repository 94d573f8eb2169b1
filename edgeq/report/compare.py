"""`edgeq report --compare BASELINE.json` and the CI gates (`--max-*`).

Gates:
- `--max-accuracy-drop PP`: percentage points. With a baseline, the drop of this build's
  accuracy (the target's, else the int8 reference's) from the baseline's; without one, the
  drop from this build's own float model (what quantization cost).
- `--max-flash`, `--max-ram` (bytes), `--max-latency` (the report's count per inference:
  cycles, instructions or ns): a plain number is an absolute limit on this build; a number
  with `%` (e.g. `5%`) is the allowed growth over the baseline and needs `--compare`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edgeq.builddir import read_json
from edgeq.errors import EdgeqError
from edgeq.report.view import fmt_bytes, fmt_count, latency_of, main_accuracy


def check_report(report: Any, where: str) -> dict[str, Any]:
    """A report.json's minimal shape, or a one-line error naming the file."""
    if not isinstance(report, dict) or not isinstance(report.get("model"), dict) or \
            not isinstance(report.get("size"), dict) or "board" not in report:
        raise EdgeqError(f"{where} is not an edgeq report (no model, board and size)")
    return report


def load_baseline(path: str | Path) -> dict[str, Any]:
    p = Path(path)
    if p.is_dir():
        p = p / "report.json"
    if not p.is_file():
        raise EdgeqError(f"baseline {p} does not exist")
    data = read_json(p, f"baseline {p}")
    return check_report(data, f"baseline {p}")


def differences(current: dict[str, Any], baseline: dict[str, Any]) -> list[str]:
    """What makes the two reports incomparable (different model or board)."""
    diffs = []
    cm, bm = current.get("model", {}), baseline.get("model", {})
    if cm.get("sha256") != bm.get("sha256"):
        diffs.append(f"model sha256 {str(bm.get('sha256'))[:12]} ({bm.get('name')}) in the baseline, "
                     f"{str(cm.get('sha256'))[:12]} ({cm.get('name')}) here")
    if current.get("board") != baseline.get("board"):
        diffs.append(f"board {baseline.get('board')} in the baseline, {current.get('board')} here")
    return diffs


def _metrics(report: dict[str, Any]) -> dict[str, tuple[float | None, str]]:
    size = report.get("size", {})
    acc = (report.get("validation") or {}).get("accuracy") or {}
    count, unit = latency_of(report)
    return {
        "accuracy (target)": (acc.get("target"), "pp"),
        "accuracy (int8 reference)": (acc.get("int8_reference"), "pp"),
        "accuracy (float)": (acc.get("float"), "pp"),
        "flash": (size.get("flash_bytes"), "bytes"),
        "RAM": (size.get("ram_bytes"), "bytes"),
        "weights": (size.get("weights_bytes"), "bytes"),
        "arena": (size.get("arena_bytes"), "bytes"),
        f"latency ({unit or 'count'}/inference)": (count, unit or "count"),
    }


def _fmt(v: float | None, unit: str) -> str:
    if v is None:
        return "-"
    if unit == "pp":
        return f"{100 * v:.2f}%"
    return fmt_bytes(int(v)) if unit == "bytes" else fmt_count(int(v))


def compare(current: dict[str, Any], baseline: dict[str, Any], source: str) -> dict[str, Any]:
    """Deltas of accuracy, size and latency, after checking the reports are comparable."""
    diffs = differences(current, baseline)
    if diffs:
        raise EdgeqError(f"cannot compare with baseline {source}: " + "; ".join(diffs))
    cur, base = _metrics(current), _metrics(baseline)
    rows = []
    for name, (value, unit) in cur.items():
        before = base.get(name, (None, unit))[0]
        if value is None and before is None:
            continue
        delta = pct = None
        if value is not None and before is not None:
            delta = (value - before) * (100 if unit == "pp" else 1)
            pct = None if unit == "pp" or not before else 100.0 * (value - before) / before
        if unit == "pp":
            delta_text = "-" if delta is None else f"{delta:+.2f} pp"
        else:
            delta_text = "-" if delta is None else f"{int(delta):+,}" + ("" if pct is None else f" ({pct:+.1f}%)")
        rows.append({"metric": name, "unit": unit, "baseline": before, "current": value, "delta": delta,
                     "delta_pct": pct, "baseline_text": _fmt(before, unit), "current_text": _fmt(value, unit),
                     "delta_text": delta_text})
    notes = []
    if baseline.get("edgeq_version") != current.get("edgeq_version"):
        notes.append(f"baseline written by edgeq {baseline.get('edgeq_version')}, "
                     f"this report by {current.get('edgeq_version')}")
    return {"baseline": source, "rows": rows, "notes": notes}


@dataclass(frozen=True)
class Limit:
    value: float
    relative: bool  # a % growth over the baseline

    @classmethod
    def parse(cls, text: str) -> Limit:
        t = text.strip().replace("_", "").replace(",", "")
        rel = t.endswith("%")
        try:
            v = float(t[:-1] if rel else t)
        except ValueError:
            raise ValueError(f"not a number or percentage: {text!r}") from None
        if v < 0:
            raise ValueError(f"must be >= 0: {text!r}")
        return cls(v, rel)


def evaluate_gates(current: dict[str, Any], baseline: dict[str, Any] | None, *,
                   max_accuracy_drop: float | None = None, max_flash: Limit | None = None,
                   max_ram: Limit | None = None, max_latency: Limit | None = None) -> list[dict[str, Any]]:
    """Each requested gate with its value, limit and whether it passed. A gate whose number is
    missing from the report (e.g. accuracy before `edgeq validate` with labels) is an error."""
    gates: list[dict[str, Any]] = []
    if max_accuracy_drop is not None:
        acc, which = main_accuracy(current)
        if acc is None:
            raise EdgeqError("--max-accuracy-drop: the report has no accuracy; run `edgeq validate` with labels (y)")
        if baseline is not None:
            ref, ref_which = main_accuracy(baseline)
            if ref is None:
                raise EdgeqError("--max-accuracy-drop: the baseline has no accuracy")
            against = f"baseline {ref_which}"
        else:
            ref = ((current.get("validation") or {}).get("accuracy") or {}).get("float")
            if ref is None:
                raise EdgeqError("--max-accuracy-drop without --compare needs the float model's accuracy "
                                 "(an imported int8 model has none): pass --compare BASELINE.json")
            against = "float model"
        drop = round(100 * (ref - acc), 4)
        gates.append({"gate": "accuracy drop", "value": drop, "limit": max_accuracy_drop,
                      "passed": drop <= max_accuracy_drop,
                      "text": f"accuracy drop {drop:.2f} pp (max {max_accuracy_drop:g} pp): {which} "
                              f"{100 * acc:.2f}% vs {against} {100 * ref:.2f}%"})
    count, unit = latency_of(current)
    for name, limit, value, base_value, what in [
        ("flash", max_flash, current["size"].get("flash_bytes"),
         (baseline or {}).get("size", {}).get("flash_bytes"), "bytes"),
        ("RAM", max_ram, current["size"].get("ram_bytes"), (baseline or {}).get("size", {}).get("ram_bytes"), "bytes"),
        ("latency", max_latency, count, latency_of(baseline)[0] if baseline else None, unit or "count"),
    ]:
        if limit is None:
            continue
        if value is None:
            raise EdgeqError(f"--max-{name.lower()}: the report has no {name}"
                             + ("; run `edgeq validate` first" if name == "latency" else ""))
        if limit.relative:
            if baseline is None:
                raise EdgeqError(f"--max-{name.lower()} {limit.value:g}% is relative to a baseline: "
                                 "pass --compare BASELINE.json")
            if base_value is None:
                raise EdgeqError(f"--max-{name.lower()}: the baseline has no {name}")
            bound = base_value * (1 + limit.value / 100)
            desc = f"baseline {fmt_count(int(base_value))} + {limit.value:g}%"
        else:
            bound, desc = limit.value, f"max {fmt_count(int(limit.value))}"
        gates.append({"gate": name, "value": value, "limit": bound, "passed": value <= bound,
                      "text": f"{name} {fmt_count(int(value))} {what} ({desc})"})
    return gates


def broken_message(gates: list[dict[str, Any]]) -> str | None:
    broken = [g for g in gates if not g["passed"]]
    if not broken:
        return None
    return f"{len(broken)} threshold(s) broken: " + "; ".join(g["text"] for g in broken)
