"""On an emulated board the count is instructions (QEMU -icount), and every rendering names it
so: never cycles."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from edgeq.cli import main

pytestmark = [pytest.mark.qemu, pytest.mark.arm,
              pytest.mark.skipif(shutil.which("qemu-system-arm") is None or shutil.which("arm-none-eabi-gcc") is None,
                                 reason="needs qemu-system-arm and arm-none-eabi-gcc")]


def test_emulator_reports_instructions(main_job: dict[str, Path], tmp_path: Path,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "m4"
    assert main(["build", str(main_job["model"]), "--calib", str(main_job["calib"]), "--board", "qemu-cortex-m4",
                 "-o", str(out), "-q"]) == 0
    data = np.load(main_job["test"])
    np.savez(tmp_path / "few.npz", x=data["x"][:24], y=data["y"][:24])
    assert main(["validate", str(out), "--data", str(tmp_path / "few.npz"), "-q"]) == 0
    report = json.loads((out / "report.json").read_text())
    lat = report["latency"]
    assert lat["count_unit"] == "instructions" and lat["instructions_per_inference"] > report["macs"]
    assert "cycles_per_inference" not in lat and "cycles_per_mac" not in lat and lat["instructions_per_mac"] > 0
    assert len(lat["layers"]) == len(report["layers"]) and all("instructions_per_mac" in r for r in lat["layers"])
    # the emulator is deterministic: per-layer counts add up to about one inference
    assert 0.8 < sum(r["count"] for r in lat["layers"]) / lat["instructions_per_inference"] < 1.2
    size = report["size"]
    assert size["stack_bytes"] > 0 and size["breakdown"]["ram"]["stack"] == size["stack_bytes"]
    assert sum(size["breakdown"]["flash"].values()) == size["flash_bytes"]
    capsys.readouterr()
    assert main(["report", str(out)]) == 0
    text = " ".join(capsys.readouterr().out.split())  # lines wrap at the test console's width
    assert "instructions (emulator, not cycles) per inference, " in text and "/MAC (median" in text
    assert "cycles" not in text.replace("not cycles", "")
    assert main(["report", str(out), "--format", "md", "-o", str(tmp_path / "r.md")]) == 0
    md = (tmp_path / "r.md").read_text()
    assert "instructions (emulator, not cycles)" in md and "cycles" not in md.replace("not cycles", "")
