"""Serial-link faults injected by a pty proxy between the runner and the fake device: every run
ends with correct outputs or an explicit failure naming the sample, and none hangs.

Frame numbering through the proxy: host->device 1 = EXIT (sent while syncing), 2 = INFO,
3 + i = INFER of sample i on a clean run; device->host 1 = INFO, 2 + i = RESULT of sample i."""

import random

import numpy as np
import pytest

from edgeq.runner.fake_device import Faults
from edgeq.runner.link import SerialConnector
from edgeq.runner.target import InferenceResult, Target
from tests.runner.harness import Fault, Proxy, deadline, make_device, reference, samples

N = 8
FAKE_MAGIC = b"\xeb\x90\x81\x0c\x00\x00\x00"


def run(faults: list[Fault], device_faults: Faults | None = None, retries: int = 2,
        timeout: float = 0.5) -> tuple[InferenceResult, Proxy]:
    x = samples(N)
    with deadline(40), Proxy(make_device(device_faults), faults) as proxy:
        with Target(SerialConnector(proxy.port), timeout=timeout, retries=retries, boot_timeout=3,
                    recover_timeout=2.5) as t:
            result = t.infer(x)
            # the session is still usable afterwards
            again = t.infer(x[:2])
            assert again.failures == {} and np.array_equal(again.outputs, reference(x[:2]))
    return result, proxy


def assert_all_correct(result: InferenceResult) -> None:
    assert result.failures == {}
    assert np.array_equal(result.outputs, reference(samples(N)))


@pytest.mark.parametrize("fault", [
    Fault("d2h", 4, 15, "corrupt"),  # payload byte of sample 2's RESULT -> CRC error
    Fault("d2h", 4, 2, "corrupt"),  # frame type
    Fault("d2h", 4, 5, "corrupt"),  # length -> impossible
    Fault("d2h", 4, 3, "corrupt"),  # length -> longer than the frame: waits, then resyncs
    Fault("d2h", 4, 1, "corrupt"),  # magic
    Fault("h2d", 5, 9, "corrupt"),  # input byte -> device replies ERROR bad CRC
    Fault("h2d", 5, 3, "corrupt"),  # request length -> device replies ERROR bad length
], ids=["result-payload", "result-type", "result-length-huge", "result-length-long", "result-magic",
        "request-payload", "request-length"])
def test_corrupted_bytes(fault: Fault) -> None:
    result, proxy = run([fault])
    assert proxy.fired() == [fault]
    assert_all_correct(result)


@pytest.mark.parametrize("fault", [
    Fault("d2h", 4, 10, "drop"),
    Fault("d2h", 4, 1, "drop"),
    Fault("h2d", 5, 9, "drop"),  # the device waits inside a frame
    Fault("h2d", 5, 1, "drop"),  # the device never sees the request
], ids=["result-payload", "result-magic", "request-payload", "request-magic"])
def test_dropped_bytes(fault: Fault) -> None:
    result, proxy = run([fault])
    assert proxy.fired() == [fault]
    assert_all_correct(result)


@pytest.mark.parametrize("fault", [
    Fault("d2h", 4, 0, "garbage", garbage=b"\x00\xffnoise\r\n" + FAKE_MAGIC + b"\x01\x02"),
    Fault("d2h", 4, 1, "garbage", garbage=b"\xeb\xeb\x90\x90"),
    Fault("d2h", 4, 12, "garbage", garbage=bytes(range(256))),
    Fault("h2d", 5, 0, "garbage", garbage=b"\xeb\x90\x01\x08\x00\x00\x00junk"),
], ids=["before-result", "inside-magic", "inside-result", "before-request"])
def test_garbage_bytes(fault: Fault) -> None:
    result, proxy = run([fault])
    assert proxy.fired() == [fault]
    assert_all_correct(result)


def test_reply_delayed_past_the_timeout_is_not_misattributed() -> None:
    result, proxy = run([Fault("d2h", 4, 1, "delay", delay=1.2)])
    assert len(proxy.fired()) == 1
    assert_all_correct(result)


def test_device_reset_mid_run() -> None:
    result, _ = run([], Faults(reset_on={3}))
    assert_all_correct(result)


def test_device_reset_twice() -> None:
    result, _ = run([], Faults(reset_on={2, 6}))
    assert_all_correct(result)


def test_sample_that_never_answers_fails_by_name_and_others_are_kept() -> None:
    result, _ = run([], Faults(hang_on={3, 4, 5}))
    assert set(result.failures) == {2}
    msg = result.failures[2]
    assert msg.startswith("sample 2: timeout") and "3 attempts" in msg and "\n" not in msg
    ok = [i for i in range(N) if i != 2]
    assert np.array_equal(result.outputs[ok], reference(samples(N))[ok])


def test_sample_with_device_errors_fails_by_name() -> None:
    result, _ = run([], Faults(error_on={5, 6, 7}))
    assert set(result.failures) == {4}
    assert result.failures[4].startswith("sample 4: device error 1")


def test_device_gone_keeps_received_results() -> None:
    x = samples(N)
    with deadline(40), Proxy(make_device(Faults(exit_on={4})), []) as proxy:
        with Target(SerialConnector(proxy.port), timeout=0.4, retries=1, boot_timeout=0.8,
                    recover_timeout=0.8) as t:
            result = t.infer(x)
    assert np.array_equal(result.outputs[:3], reference(x)[:3])
    assert set(result.failures) == set(range(3, N))
    assert result.failures[3].startswith("sample 3:") and "lost" in result.failures[3]
    assert result.failures[5].startswith("sample 5: not run")


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_many_random_faults(seed: int) -> None:
    rng = random.Random(seed)
    faults = []
    for k, frame in enumerate(range(4, 4 + 6 * 3, 3)):
        direction = "d2h" if k % 2 else "h2d"
        action = rng.choice(["corrupt", "drop", "garbage"])
        faults.append(Fault(direction, frame, rng.randrange(1, 18), action, garbage=rng.randbytes(20)))
    result, proxy = run(faults, retries=4)
    assert len(proxy.fired()) >= 3
    assert_all_correct(result)
