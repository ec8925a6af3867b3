"""Processes the harness starts in their own group (moto, nix builds): is it alive, stop the group."""
from __future__ import annotations

import os
import signal
import time


def pid_alive(pid: int) -> bool:
    """True when a process with ``pid`` exists."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _reaped_or_gone(pid: int) -> bool:
    try:
        return os.waitpid(pid, os.WNOHANG)[0] == pid
    except ChildProcessError:  # not our child (a kept run's server): look at /proc
        return not pid_alive(pid)


def stop_group(pid: int, timeout: float = 10, kill_timeout: float = 5) -> None:
    """SIGTERM the process group led by ``pid``; SIGKILL it if the leader is still there after ``timeout``.

    The leader is reaped when it is this process's child, so no zombie is left.
    """
    for sig, wait in ((signal.SIGTERM, timeout), (signal.SIGKILL, kill_timeout)):
        try:
            os.killpg(pid, sig)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            if _reaped_or_gone(pid):
                return
            time.sleep(0.1)
