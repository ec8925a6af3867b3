"""Interrupt handling: terraform children are found (zombies are not) and awaited; a signal inside logging
does not leave a logging lock held."""
import subprocess
import sys
import textwrap
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


# A handler whose lock acquire sends the process SIGINT once: the signal is handled at the next bytecode, with
# the handler's lock held and Handler.handle's try not entered yet (the window a real Ctrl-C can hit).
SIGNAL_INSIDE_LOGGING = textwrap.dedent("""
    import logging, os, signal, sys, threading, time
    from harness import interrupt

    class SignalOnAcquire(logging.StreamHandler):
        sent = False

        def acquire(self):
            super().acquire()
            if not SignalOnAcquire.sent:
                SignalOnAcquire.sent = True
                os.kill(os.getpid(), signal.SIGINT)

    interrupt.install()
    log = logging.getLogger("interrupt-test")
    log.addHandler(SignalOnAcquire(sys.stdout))
    log.setLevel(logging.INFO)
    try:
        log.info("a line logged as the signal arrives")
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            time.sleep(0.01)
        print("never interrupted")
    except KeyboardInterrupt:
        other = threading.Thread(target=log.info, args=("a line from another thread",), daemon=True)
        other.start()
        other.join(5)
        print("deadlocked" if other.is_alive() else "interrupted, logging works")
""")


def test_a_signal_inside_logging_interrupts_after_it_and_leaves_no_lock_held():
    """SIGINT while the main thread holds a logging handler's lock: the run is still interrupted (a moment
    later), and another thread can log afterwards (the lock was released, not left held by the interrupt)."""
    done = subprocess.run([sys.executable, "-c", SIGNAL_INSIDE_LOGGING], capture_output=True, text=True, timeout=60)
    assert done.stdout.splitlines()[-1:] == ["interrupted, logging works"], done.stdout + done.stderr
    assert "a line from another thread" in done.stdout
