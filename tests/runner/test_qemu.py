import pytest

from edgeq.errors import EdgeqError
from edgeq.runner import open_qemu
from edgeq.runner.qemu import QemuProcess, pty_argv


def test_pty_argv_replaces_serial_display_and_monitor() -> None:
    argv = ["qemu-system-arm", "-machine", "mps2-an386", "-nographic", "-monitor", "none", "-serial", "stdio",
            "-icount", "shift=0", "-kernel", "fw.elf"]
    out = pty_argv(argv)
    assert out[:3] == ["qemu-system-arm", "-machine", "mps2-an386"]
    assert "-nographic" not in out and "stdio" not in out
    assert out.count("-serial") == 1 and out[out.index("-serial") + 1] == "pty"
    assert out.count("-monitor") == 1 and ["-icount", "shift=0"] == out[3:5]


def test_missing_qemu_says_what_to_install() -> None:
    with pytest.raises(EdgeqError, match="apt-get install qemu-system-arm"):
        open_qemu(["/nonexistent/qemu-system-arm", "-machine", "mps2-an386"])


@pytest.mark.qemu
def test_qemu_that_fails_to_start_is_a_one_line_error() -> None:
    import shutil
    if shutil.which("qemu-system-arm") is None:
        pytest.skip("needs qemu-system-arm")
    with pytest.raises(EdgeqError, match="QEMU exited") as e:
        QemuProcess(["qemu-system-arm", "-machine", "no-such-machine"])
    assert "\n" not in str(e.value)
