import os
import sys
from pathlib import Path

import numpy as np
import pytest

from edgeq.errors import EdgeqError
from edgeq.runner import open_native, open_serial, run_sharded
from edgeq.runner.fake_device import Faults
from edgeq.runner.link import FdConnector, SerialConnector
from edgeq.runner.target import Target
from tests.runner.harness import IN, OUT, deadline, make_device, pty_device, raw_pty, reference, samples


def native_script(tmp_path: Path, *args: str) -> Path:
    """An executable that serves the fake device on stdin/stdout, like the native firmware."""
    script = tmp_path / "firmware"
    script.write_text(f"#!/bin/sh\nexec {sys.executable} -m edgeq.runner.fake_device "
                      f"--input-size {IN} --output-size {OUT} --layers {' '.join(args)}\n")
    script.chmod(0o755)
    return script


def test_infer_on_pty_in_order() -> None:
    x = samples(25)
    with deadline(20), pty_device(make_device()) as port, open_serial(port) as t:
        assert (t.info.input_size, t.info.output_size, t.info.num_layers) == (IN, OUT, 2)
        assert t.info.model == "fake" and t.info.count_unit == "cycles"
        seen: list[int] = []
        r = t.infer(x, progress=seen.append)
        assert r.failures == {}
        assert r.outputs.dtype == np.int8 and r.counts.dtype == np.uint64
        assert np.array_equal(r.outputs, reference(x))
        assert list(r.counts) == [1000 + int(np.abs(v.astype(int)).sum()) for v in x]
        assert sum(seen) == 25


def test_infer_layers_and_ascii_on_pty() -> None:
    x = samples(1, seed=3)
    with deadline(20), pty_device(make_device()) as port, open_serial(port) as t:
        layers, counts, out = t.infer_layers(x)
        assert len(layers) == 2 and counts == [100, 101]
        assert np.array_equal(layers[0], np.clip(x[0].astype(np.int16) // 2 + 1, -128, 127).astype(np.int8))
        assert np.array_equal(out, reference(x)[0])
        assert t.ascii("name%") == ["m-name-edgeq-fake"]
        assert t.ascii("stack%") == ["m-stack-[0/0]"]
        profile = t.ascii("profile")
        assert "m-input-[8]" in profile and "m-count-unit-[cycles]" in profile
        assert t.ascii("db load 8%") == ["m-[Expecting 8 bytes]"]
        assert t.ascii(f"db {x[0].tobytes().hex()}%") == ["m-load-done"]
        lines = t.ascii("infer 3 1%")
        assert lines[-1] == "m-results-[" + ",".join(str(v) for v in reference(x)[0]) + "]"
        assert t.ascii("bogus%") == ["e-[unknown command: bogus]"]
        r = t.infer(samples(4))  # back into binary mode
        assert np.array_equal(r.outputs, reference(samples(4)))


def test_fake_device_on_pipes() -> None:
    h2d_r, h2d_w = os.pipe()
    d2h_r, d2h_w = os.pipe()
    dev = make_device().start(h2d_r, d2h_w)
    x = samples(10)
    try:
        with deadline(20), Target(FdConnector(d2h_r, h2d_w, "pipes"), timeout=2) as t:
            assert np.array_equal(t.infer(x).outputs, reference(x))
    finally:
        dev.stop()
        for fd in (h2d_r, h2d_w, d2h_r, d2h_w):
            os.close(fd)


def test_native_process(tmp_path: Path) -> None:
    x = samples(12)
    with deadline(30), open_native(native_script(tmp_path)) as t:
        r = t.infer(x)
        assert r.failures == {} and np.array_equal(r.outputs, reference(x))
        assert t.ascii("name%") == ["m-name-edgeq-fake"]


def test_native_process_exits_mid_run_is_restarted(tmp_path: Path) -> None:
    x = samples(8)
    exe = native_script(tmp_path, "--exit-on", "4", "--once", str(tmp_path / "crashed"))
    with deadline(30), open_native(exe, timeout=2) as t:
        r = t.infer(x)
        assert (tmp_path / "crashed").exists()
        assert r.failures == {} and np.array_equal(r.outputs, reference(x))


def test_run_sharded_keeps_order(tmp_path: Path) -> None:
    x = samples(21)
    exe = native_script(tmp_path)
    seen: list[int] = []
    with deadline(40):
        r = run_sharded(lambda: open_native(exe), x, jobs=2, progress=seen.append)
    assert r.failures == {} and np.array_equal(r.outputs, reference(x)) and sum(seen) == 21
    assert list(r.counts) == [1000 + int(np.abs(v.astype(int)).sum()) for v in x]


def test_run_sharded_maps_failure_indices() -> None:
    x = samples(10)
    with deadline(40):
        devices = [make_device(Faults(hang_on={2, 3, 4})), make_device(Faults(hang_on={2, 3, 4}))]
        ctxs = [pty_device(d) for d in devices]
        ports = iter([c.__enter__() for c in ctxs])
        try:
            r = run_sharded(lambda: Target(SerialConnector(next(ports)), timeout=0.3, recover_timeout=1), x, jobs=2)
        finally:
            for c in ctxs:
                c.__exit__(None, None, None)
    assert set(r.failures) == {1, 6}
    assert r.failures[6].startswith("sample 6: timeout")
    ok = [i for i in range(10) if i not in (1, 6)]
    assert np.array_equal(r.outputs[ok], reference(x)[ok])


def test_wrong_input_size_is_a_user_error() -> None:
    with deadline(20), pty_device(make_device()) as port, open_serial(port) as t:
        with pytest.raises(EdgeqError, match="takes 8"):
            t.infer(np.zeros((2, 5), np.int8))
        with pytest.raises(EdgeqError, match="int8"):
            t.infer(np.zeros((2, 8), np.float32))


def test_missing_port_and_executable_are_one_line_errors(tmp_path: Path) -> None:
    with pytest.raises(EdgeqError, match="does not exist"):
        open_serial("/dev/ttyNOPE0")
    with pytest.raises(EdgeqError, match="does not exist"):
        open_native(tmp_path / "nope")


def test_silent_device_is_a_user_error() -> None:
    master, slave = raw_pty()
    try:
        with deadline(20), pytest.raises(EdgeqError, match="does not answer"):
            Target(SerialConnector(os.ttyname(slave)), boot_timeout=1.5)
    finally:
        os.close(master)
        os.close(slave)
