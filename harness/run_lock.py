"""A live run holds a lock named after its run id, for as long as its process lives.

A sweep (``make clean``, the clean-up before a run) removes the sandbox resources of runs that have
no folder in its runs folder and no live owner. Runs of other runs folders (another checkout, a
test's own run, a parallel test worker) have no folder there either; until their container runs,
nothing else showed that they were alive, so a sweep could remove the network of a run that was
still copying its image. Every process that takes a run id now holds an exclusive ``flock`` on
``<LOCK_DIR>/<run id>.lock`` (the kernel lets it go when the process ends, however it ends), and a
sweep leaves alone every run whose lock is held.
"""
from __future__ import annotations

import fcntl
import os
import threading
from pathlib import Path

LOCK_DIR = Path("/run/lock/inventory-tracker-runs")  # machine-wide, gone at reboot (as the runs' resources)
FALLBACK_LOCK_DIR = Path("/tmp/inventory-tracker-runs")

_held: dict[str, int] = {}  # run id -> the open descriptor holding its lock
_holding = threading.Lock()


def lock_dir() -> Path:
    """The folder of the run locks (created when missing)."""
    for folder in (LOCK_DIR, FALLBACK_LOCK_DIR):
        try:
            folder.mkdir(parents=True, exist_ok=True)
            if os.access(folder, os.W_OK):
                return folder
        except OSError:
            continue
    return FALLBACK_LOCK_DIR


def hold(run_id: str) -> None:
    """Hold ``run_id``'s lock until this process ends (again: nothing)."""
    with _holding:
        if run_id in _held:
            return
        path = lock_dir() / f"{run_id}.lock"
        while True:
            descriptor = os.open(path, os.O_CREAT | os.O_RDWR | os.O_CLOEXEC, 0o644)
            fcntl.flock(descriptor, fcntl.LOCK_EX)
            # A prune (held() of another process) may have unlinked the file between the open and the flock:
            # a lock on a file no longer at the path shows nobody. Lock the file that is there.
            try:
                if os.stat(path).st_ino == os.fstat(descriptor).st_ino:
                    break
            except FileNotFoundError:
                pass
            os.close(descriptor)
        _held[run_id] = descriptor


def held(run_id: str) -> bool:
    """Whether a live process (this one included) holds ``run_id``'s lock."""
    with _holding:
        if run_id in _held:
            return True
    path = lock_dir() / f"{run_id}.lock"
    try:
        descriptor = os.open(path, os.O_RDWR | os.O_CLOEXEC)
    except OSError:
        return False
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(descriptor)
        return True
    path.unlink(missing_ok=True)  # its owner is gone: nobody takes that run id again
    os.close(descriptor)
    return False


def prune() -> None:
    """Remove the lock files of run ids no live process holds (each process's ends with it, the file stays)."""
    for path in lock_dir().glob("*.lock"):
        held(path.stem)
