"""SIGINT/SIGTERM become KeyboardInterrupt, so every stage's teardown runs.

A signal sent to the harness alone (not its process group) is forwarded as
SIGINT to running terraform children, which then stop gracefully and release
their state lock before the teardown's destroy. Once the teardown itself has
begun, a signal no longer interrupts it (an exception would skip the steps after
the one it hit: the moto server, the run folder); it is noted, the teardown ends,
and the run ends as interrupted.

A signal that arrives while the main thread is inside the logging module is taken
again a moment later instead: an exception raised between a handler's lock acquire
and its ``try`` leaves that lock held, and every later log line, from any thread
(the terraform apply's), waits for it forever.
"""
from __future__ import annotations

import logging
import os
import signal
import threading
import time
from pathlib import Path
from types import FrameType
from typing import Optional

FORWARD_TO = ("terraform",)
log = logging.getLogger("harness.interrupt")
_deferred: list[str] = []  # signals received during the teardown, by name


def child_pids(names: tuple[str, ...] = FORWARD_TO) -> list[int]:
    """Direct children of this process whose command name starts with one of ``names``."""
    me = os.getpid()
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue
        comm = text[text.index("(") + 1 : text.rindex(")")]
        state, ppid = text[text.rindex(")") + 2 :].split()[:2]
        # A zombie has exited already (nobody reaped it yet): nothing to signal or wait for.
        if int(ppid) == me and state != "Z" and comm.startswith(names):
            found.append(int(stat.parent.name))
    return found


def wait_for_children(timeout: float = 180, names: tuple[str, ...] = FORWARD_TO) -> list[int]:
    """After an interrupt, wait until interrupted terraform children have written their state and exited.

    Returns the pids still running at the timeout (none normally).
    """
    deadline = time.monotonic() + timeout
    while (pids := child_pids(names)) and time.monotonic() < deadline:
        time.sleep(0.2)
    return pids


REDELIVER_AFTER = 0.05  # seconds before a signal that came inside the logging module is sent again


def _inside_logging(frame: Optional[FrameType]) -> bool:
    """True when ``frame`` or one of its callers runs the logging module's code."""
    while frame is not None:
        if frame.f_code.co_filename == logging.__file__:
            return True
        frame = frame.f_back
    return False


def _handler(signum: int, frame: Optional[FrameType]) -> None:
    if _inside_logging(frame):
        # Not forwarded yet either: terraform takes a second SIGINT as "exit now, state unwritten".
        threading.Timer(REDELIVER_AFTER, os.kill, (os.getpid(), signum)).start()
        return
    for pid in child_pids():
        try:
            os.kill(pid, signal.SIGINT)
        except ProcessLookupError:
            pass
    # Ignore repeats while the teardown runs; a second Ctrl-C must not skip the cleanup.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    raise KeyboardInterrupt(f"signal {signal.Signals(signum).name}")


def install() -> None:
    """Install the handler for SIGINT and SIGTERM (main thread only)."""
    signal.signal(signal.SIGINT, _handler)
    signal.signal(signal.SIGTERM, _handler)


def _defer(signum: int, frame: Optional[FrameType]) -> None:
    name = signal.Signals(signum).name
    if not _deferred:
        log.warning("%s during the teardown: the teardown goes on to its end (nothing may be left behind), "
                    "then the run ends as interrupted", name)
    _deferred.append(name)


def defer_during_teardown() -> None:
    """From now on (the teardown begins) a signal ends the run after the teardown, not inside it. A run already
    interrupted keeps ignoring repeats."""
    if signal.getsignal(signal.SIGINT) is _handler:
        signal.signal(signal.SIGINT, _defer)
        signal.signal(signal.SIGTERM, _defer)


def deferred() -> Optional[str]:
    """The name of the first signal received during the teardown, or None."""
    return _deferred[0] if _deferred else None
