"""Smoke test of the benchmark: one small model on the native board; shape of the table and
JSON only, never a timing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from edgeq import bench

AD = Path(__file__).resolve().parent.parent.parent / "shared" / "models" / "mlperf_tiny" / "ad01_int8.tflite"


def test_model_list_parses() -> None:
    models = bench.load_models(bench.DEFAULT_MODELS)
    assert {"ic", "vww", "ad"} <= {m["name"] for m in models}
    assert all(Path(m["path"]).is_absolute() for m in models)


@pytest.mark.skipif(not AD.is_file(), reason="MLPerf Tiny models not present")
def test_bench_smoke_native(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out_json = tmp_path / "bench.json"
    assert bench.main(["--board", "native", "--model", str(AD), "--out", str(tmp_path / "b"),
                       "--json-out", str(out_json)]) == 0
    text = capsys.readouterr().out
    assert "per MAC" in text and "ad01_int8" in text and "per layer" in text
    data = json.loads(out_json.read_text())
    (row,) = data["models"]
    assert row["count_unit"] == "ns" and row["macs"] > 0
    assert set(row["flash"]) >= {"total", "weights", "code"} and set(row["ram"]) >= {"arena", "stack", "other"}
    assert len(row["layers"]) > 0 and all({"op", "count", "macs"} <= set(x) for x in row["layers"])


def test_no_models_is_an_error(tmp_path: Path) -> None:
    empty = tmp_path / "models.toml"
    empty.write_text("")
    assert bench.main(["--models", str(empty), "--out", str(tmp_path)]) == 1


@pytest.mark.parametrize("content, args, message", [
    (None, [], "model list not found"),
    ("x = [", [], "not a readable TOML model list"),
    ('[[model]]\nname = "a"\n', [], "model 1 has no 'path'"),
    ('[[model]]\nname = "a"\npath = "a.tflite"\n', ["--only", "a,zz"], "no model named zz (the list has a)"),
    ('[[model]]\nname = "a"\npath = "missing.tflite"\n', [], "none of the models to benchmark was found"),
])
def test_bad_model_list_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str], content: str | None,
                                    args: list[str], message: str) -> None:
    models = tmp_path / "models.toml"
    if content is not None:
        models.write_text(content)
    out = tmp_path / "out"
    assert bench.main(["--models", str(models), "--out", str(out), *args]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert message in err[-1] and "Traceback" not in "".join(err)
    assert not (out / "bench.json").exists()
