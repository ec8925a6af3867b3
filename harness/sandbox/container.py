"""The sandbox instance's container: a per-run copy of the image booted by systemd-nspawn.

The copy is an overlayfs over the cached image, or, where overlayfs is unavailable,
``cp --reflink=auto -a``. The overlay's writable layer is a tmpfs as large as the
instance's root volume (the instance's disk held in memory, like the sandbox cloud's
S3): on the machine's disk, the instances of a `make test` wrote 6.6 GB (PostgreSQL's
16 MB WAL segments, zero-filled and synced, the WAL spools of restores, journals),
40-60 CPU-s of kernel time and up to 156 s of I/O wait. ``HARNESS_INSTANCE_DISK=disk``, or
less than ``MEMORY_LAYER_MIN_AVAILABLE`` free memory, keeps it in the run's folder on
disk. systemd runs as PID 1,
in the network namespace prepared by :mod:`harness.sandbox.network`. The host has
no systemd, so no machinectl: stop with SIGTERM to systemd-nspawn (the container
halts), SIGKILL after a timeout.
"""
from __future__ import annotations

import logging
import os
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from harness.errors import HarnessError
from harness.sandbox.state import ProcessRecord, proc_starttime

log = logging.getLogger("harness.sandbox.container")


DISK_ENV = "HARNESS_INSTANCE_DISK"  # "disk": the writable layer on the run's folder's disk; "memory" (default)
MEMORY_LAYER_MIN_AVAILABLE = 2 << 30  # bytes of MemAvailable below which the layer goes on disk
LAYER = "layer"  # the tmpfs mount, in the copy's folder, that holds the overlay's upper and work directories


@dataclass(frozen=True)
class RootfsCopy:
    folder: Path  # everything of the copy lives here (removed at cleanup)
    rootfs: Path  # the directory the container boots from
    mounted: bool  # True for an overlay (unmount before removing)


def _overlay_supported() -> bool:
    try:
        return "overlay" in Path("/proc/filesystems").read_text()
    except OSError:
        return False


def _memory_available() -> int:
    """MemAvailable from /proc/meminfo, in bytes (0 when unreadable)."""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return 0


def disk_choice() -> str:
    """``HARNESS_INSTANCE_DISK``: "memory" (the default) or "disk"; any other value is a HarnessError naming both."""
    asked = os.environ.get(DISK_ENV, "") or "memory"
    if asked not in ("memory", "disk"):
        raise HarnessError(f"{DISK_ENV}={asked!r} is not a choice: set it to 'disk' (the instance's writable layer "
                           "in the run's folder) or 'memory' (the default), or unset it")
    return asked


def memory_layer_wanted() -> bool:
    """Whether the overlay's writable layer goes in memory: not asked off, and the memory is there."""
    if disk_choice() == "disk":
        return False
    available = _memory_available()
    if available < MEMORY_LAYER_MIN_AVAILABLE:
        log.info("%.1f GiB of memory available (under %d GiB): the instance's writable layer goes on disk",
                 available / (1 << 30), MEMORY_LAYER_MIN_AVAILABLE >> 30)
        return False
    return True


def _mount_memory_layer(layer: Path, size_gb: int) -> bool:
    """Mount a tmpfs of ``size_gb`` at ``layer`` (only what is written uses memory); False when it cannot be."""
    layer.mkdir(exist_ok=True)
    result = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size_gb}g,mode=0755", "sandbox-layer", str(layer)],
                            capture_output=True, text=True)
    if result.returncode != 0:
        log.info("no tmpfs for the instance's writable layer (%s): it goes on disk", result.stderr.strip()[-200:])
    return result.returncode == 0


def make_rootfs_copy(image_rootfs: Path, folder: Path, *, prefer_overlay: bool = True,
                     memory_gb: int | None = None) -> RootfsCopy:
    """Make the run's copy-on-write copy of the image under ``folder``; with ``memory_gb``, its writable layer in a
    tmpfs of that size (see the module's docstring)."""
    folder.mkdir(parents=True, exist_ok=True)
    rootfs = folder / "rootfs"
    rootfs.mkdir(exist_ok=True)
    if prefer_overlay and _overlay_supported():
        base = folder
        if memory_gb and memory_layer_wanted() and _mount_memory_layer(folder / LAYER, memory_gb):
            base = folder / LAYER
        upper, work = base / "upper", base / "work"
        upper.mkdir(exist_ok=True)
        work.mkdir(exist_ok=True)
        options = f"lowerdir={image_rootfs},upperdir={upper},workdir={work}"
        result = subprocess.run(["mount", "-t", "overlay", "overlay", "-o", options, str(rootfs)],
                                capture_output=True, text=True)
        if result.returncode == 0:
            return RootfsCopy(folder, rootfs, True)
        _unmount(folder / LAYER)  # the copy below goes in the folder
    result = subprocess.run(["cp", "--reflink=auto", "-a", f"{image_rootfs}/.", str(rootfs)],
                            capture_output=True, text=True)
    if result.returncode != 0:
        raise HarnessError(f"copying the sandbox image to {rootfs} failed: {result.stderr.strip()[-500:]}")
    return RootfsCopy(folder, rootfs, False)


def is_mounted(path: Path) -> bool:
    """True when ``path`` is a mount point (per /proc/self/mountinfo)."""
    target = str(path)
    try:
        lines = Path("/proc/self/mountinfo").read_text().splitlines()
    except OSError:
        return False
    return any(line.split()[4] == target for line in lines)


def _unmount(path: Path) -> None:
    for _ in range(3):
        if not is_mounted(path):
            return
        subprocess.run(["umount", str(path)], capture_output=True)
        if is_mounted(path):
            time.sleep(0.5)
            subprocess.run(["umount", "-l", str(path)], capture_output=True)
    if is_mounted(path):
        raise HarnessError(f"cannot unmount the sandbox's {path}; unmount it by hand, then `make clean`")


def remove_rootfs_copy(folder: Path) -> None:
    """Unmount (if mounted) the overlay, then its memory layer, and delete a rootfs copy folder; missing parts are
    fine."""
    _unmount(folder / "rootfs")
    _unmount(folder / LAYER)
    shutil.rmtree(folder, ignore_errors=True)


def nspawn_command(rootfs: Path, machine: str, netns: str) -> list[str]:
    """The systemd-nspawn command line that boots ``rootfs`` in the network namespace ``netns``."""
    return [
        "systemd-nspawn",
        "--quiet",
        "--register=no",
        "--keep-unit",
        "--boot",
        f"--directory={rootfs}",
        f"--machine={machine}",
        f"--network-namespace-path=/run/netns/{netns}",
        "--capability=CAP_NET_ADMIN",  # the namespace is private; systemd-networkd needs it to set the address
        "--console=read-only",
        "--resolv-conf=off",
        "--timezone=off",
        "--link-journal=no",
    ]


def start(rootfs: Path, machine: str, netns: str, console_log: Path) -> subprocess.Popen:
    """Boot the container in the background; its console goes to ``console_log``."""
    if shutil.which("systemd-nspawn") is None:
        raise HarnessError("systemd-nspawn is not installed; run `make setup` (apt-get install systemd-container)")
    env = dict(os.environ, SYSTEMD_NSPAWN_UNIFIED_HIERARCHY="1")
    with open(console_log, "ab") as log:
        # A session of its own: a Ctrl-C on the terminal reaches the harness, which
        # then stops the container in order, not systemd-nspawn directly.
        return subprocess.Popen(nspawn_command(rootfs, machine, netns), stdin=subprocess.DEVNULL, stdout=log,
                                stderr=subprocess.STDOUT, env=env, start_new_session=True)


def container_init(nspawn_pid: int) -> int | None:
    """The container's PID 1 as seen from the host (a descendant of systemd-nspawn), if it exists yet.

    It is the process whose PID in its innermost namespace is 1 (``NSpid: <host pid> 1``).
    """
    frontier = [nspawn_pid]
    for _ in range(3):  # nspawn -> (outer child) -> init
        next_frontier = []
        for pid in frontier:
            for child in _children(pid):
                if _innermost_pid(child) == 1:
                    return child
                next_frontier.append(child)
        frontier = next_frontier
    return None


def _children(pid: int) -> list[int]:
    found = []
    try:
        for task in Path(f"/proc/{pid}/task").iterdir():
            found += [int(c) for c in (task / "children").read_text().split()]
    except OSError:
        pass
    return found


def _innermost_pid(pid: int) -> int | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("NSpid:"):
                fields = line.split()[1:]
                return int(fields[-1]) if len(fields) > 1 else None
    except (OSError, ValueError):
        return None
    return None


def record(role: str, pid: int) -> ProcessRecord | None:
    """A :class:`ProcessRecord` for a running process, or None when it is gone."""
    starttime = proc_starttime(pid)
    return ProcessRecord(role, pid, starttime) if starttime is not None else None


def stop(processes: list[ProcessRecord], *, timeout: float = 20.0) -> None:
    """Stop a container: SIGTERM to systemd-nspawn (clean halt, asked again every second), SIGKILL after ``timeout``.

    Killing the container's init with SIGKILL ends every process of its PID namespace.
    """
    nspawn = [p for p in processes if p.role == "nspawn" and p.alive()]
    processes = list(processes)
    for process in nspawn:  # the container's init too, in case it was not recorded yet
        init = container_init(process.pid)
        found = record("init", init) if init else None
        if found and all(p.pid != found.pid for p in processes):
            processes.append(found)
    for process in nspawn:
        _signal(process, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    resend = time.monotonic() + 1.0
    while time.monotonic() < deadline and any(p.alive() for p in processes):
        if time.monotonic() >= resend:
            # Early in the boot systemd has no handler for the halt signal yet and PID 1
            # ignores it: ask again until it listens.
            for process in nspawn:
                _signal(process, signal.SIGTERM)
            resend = time.monotonic() + 1.0
        time.sleep(0.1)
    still = [p for p in processes if p.alive()]
    if still:
        log.warning("the container did not halt within %.0f s; killing %s", timeout,
                    ", ".join(f"{p.role} {p.pid}" for p in still))
    for process in sorted(still, key=lambda p: p.role != "init"):
        _signal(process, signal.SIGKILL)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and any(p.alive() for p in processes):
        time.sleep(0.05)


def _signal(process: ProcessRecord, signum: int) -> None:
    try:
        if process.alive():
            os.kill(process.pid, signum)
    except ProcessLookupError:
        pass

