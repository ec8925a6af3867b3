"""SIGINT/SIGTERM become KeyboardInterrupt, so every stage's teardown runs.

A signal sent to the harness alone (not its process group) is forwarded as
SIGINT to running terraform children, which then stop gracefully and release
their state lock before the teardown's destroy.
"""
from __future__ import annotations

import os
import signal
from pathlib import Path
from types import FrameType
from typing import Optional

FORWARD_TO = ("terraform",)


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
        ppid = int(text[text.rindex(")") + 2 :].split()[1])
        if ppid == me and comm.startswith(names):
            found.append(int(stat.parent.name))
    return found


def _handler(signum: int, frame: Optional[FrameType]) -> None:
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
