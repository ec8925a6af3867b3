"""Per-run record of what the sandbox created, so that teardown and the sweep find it all.

The file (``<run_dir>/sandbox-state.json``) is written *before* each resource is
created, so a crash between the two still leaves a record; every cleanup step
tolerates a resource that does not exist.
"""
from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

STATE_FILE = "sandbox-state.json"


def _stat_fields(pid: int) -> list[str] | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name (field 2) may contain spaces and parentheses: split after the last ")".
    return stat.rsplit(")", 1)[1].split()


def proc_starttime(pid: int) -> int | None:
    """The start time of process ``pid`` (clock ticks since boot), or None when it does not exist."""
    fields = _stat_fields(pid)
    return int(fields[19]) if fields else None


def proc_running(pid: int, starttime: int) -> bool:
    """True when process ``pid`` with that start time exists and has not exited (a zombie has)."""
    fields = _stat_fields(pid)
    return bool(fields) and fields[0] != "Z" and int(fields[19]) == starttime


@dataclass
class ProcessRecord:
    role: str  # "nspawn" (systemd-nspawn) or "init" (the container's PID 1 seen from the host)
    pid: int
    starttime: int  # guards against killing an unrelated process that reused the pid

    def alive(self) -> bool:
        """True when this very process (same pid and start time) still exists."""
        return proc_running(self.pid, self.starttime)


@dataclass
class SandboxState:
    run_id: str
    owner: ProcessRecord | None = None  # the harness process that created the resources
    processes: list[ProcessRecord] = field(default_factory=list)
    netns: list[str] = field(default_factory=list)  # names under /run/netns
    veths: list[str] = field(default_factory=list)  # host-side interface names
    nft_tables: list[str] = field(default_factory=list)  # "inet <name>"
    paths: list[str] = field(default_factory=list)  # rootfs copy folders: unmounted (overlay) and removed
    network: dict = field(default_factory=dict)  # the address plan, see network.AddressPlan

    def save(self, run_dir: Path) -> None:
        """Write the record atomically into ``run_dir``."""
        run_dir.mkdir(parents=True, exist_ok=True)
        tmp = run_dir / (STATE_FILE + ".tmp")
        tmp.write_text(json.dumps(asdict(self), indent=2))
        os.replace(tmp, run_dir / STATE_FILE)

    @classmethod
    def load(cls, run_dir: Path) -> "SandboxState | None":
        """The record in ``run_dir``, or None when there is none (or it is unreadable)."""
        try:
            data = json.loads((run_dir / STATE_FILE).read_text())
        except (OSError, ValueError):
            return None
        owner = data.pop("owner", None)
        processes = data.pop("processes", [])
        known = {f.name for f in fields(cls)}
        state = cls(**{key: value for key, value in data.items() if key in known})
        state.owner = ProcessRecord(**owner) if owner else None
        state.processes = [ProcessRecord(**p) for p in processes]
        return state

    @classmethod
    def for_this_process(cls, run_id: str) -> "SandboxState":
        """A fresh record owned by the current process."""
        pid = os.getpid()
        return cls(run_id=run_id, owner=ProcessRecord("owner", pid, proc_starttime(pid) or 0))

    def add(self, run_dir: Path, kind: str, value: str) -> None:
        """Record one resource of ``kind`` (netns, veths, nft_tables, paths) and save."""
        items: list[str] = getattr(self, kind)
        if value not in items:
            items.append(value)
        self.save(run_dir)
