"""Interrupt handling: terraform children are found (zombies are not) and awaited."""
import subprocess
import time

from harness import interrupt


def test_child_pids_finds_running_children_by_name_and_not_zombies():
    child = subprocess.Popen(["sleep", "30"])
    try:
        assert child.pid in interrupt.child_pids(("sleep",))
        assert child.pid not in interrupt.child_pids(("terraform",))
        child.kill()
        time.sleep(0.2)  # exited, not reaped: a zombie
        assert child.pid not in interrupt.child_pids(("sleep",))
    finally:
        child.kill()
        child.wait()


def test_wait_for_children_returns_once_they_exit():
    child = subprocess.Popen(["sleep", "0.5"])
    start = time.monotonic()
    assert interrupt.wait_for_children(timeout=10, names=("sleep",)) == []
    assert time.monotonic() - start < 5
    child.wait()


def test_wait_for_children_gives_up_at_the_timeout():
    child = subprocess.Popen(["sleep", "30"])
    try:
        assert interrupt.wait_for_children(timeout=0.5, names=("sleep",)) == [child.pid]
    finally:
        child.kill()
        child.wait()
