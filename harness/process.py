"""Processes: is one alive; stop a group the harness started (moto, nix builds); stop a list of processes."""
from __future__ import annotations

import os
import signal
import time
from typing import Iterable, Protocol


class Stoppable(Protocol):
    """A process known by its pid that can tell whether it is still this very process (pid reuse)."""

    pid: int

    def alive(self) -> bool: ...


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


# A Terraform provider started in debug mode (harness/provider_memo.py) stops cleanly on SIGINT, removing its Unix
# socket file from the temporary folder; on SIGTERM Go ends it at once and the file stays.
PROVIDER_STOP_SIGNAL = signal.SIGINT


def stop_processes(processes: Iterable[Stoppable], timeout: float = 5.0,
                   first: signal.Signals = signal.SIGTERM) -> None:
    """Send ``first`` (SIGTERM) to every process of ``processes`` that is alive; SIGKILL those still alive after
    ``timeout``.

    Each signal is followed by a wait of at most ``timeout`` seconds for all of them to be gone. A
    process is signalled only while its own ``alive()`` says it is still the same process, so a pid
    that was reused by an unrelated process is left alone.
    """
    processes = list(processes)
    for signum in (first, signal.SIGKILL):
        for process in processes:
            if process.alive():
                try:
                    os.kill(process.pid, signum)
                except ProcessLookupError:
                    pass
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and any(p.alive() for p in processes):
            time.sleep(0.05)
