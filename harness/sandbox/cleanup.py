"""Removing what a sandbox run created: its own teardown, and (for harness/sweep.py, `make clean`)
what dead runs left, found by the records in their folders and by the run id in resource names."""
from __future__ import annotations

import logging
import os
import re
from pathlib import Path

from harness.process import PROVIDER_STOP_SIGNAL, stop_processes
from harness.run_lock import held
from harness.runid import is_run_id, is_sandbox_name, run_ids_in
from harness.sandbox import container, firewall, network
from harness.sandbox.state import STATE_FILE, ProcessRecord, SandboxState, proc_starttime

log = logging.getLogger("harness.sandbox.cleanup")


def cleanup_state(state: SandboxState, run_dir: Path | None, *, stop_timeout: float = 20.0) -> list[str]:
    """Stop and remove everything in ``state``; return what failed (empty when all went).

    Every step runs even when an earlier one failed or was interrupted by Ctrl-C;
    an interrupt is re-raised at the end.
    """
    problems: list[str] = []
    interrupted: BaseException | None = None
    steps = [("stop container", lambda: container.stop([p for p in state.processes if p.role in ("nspawn", "init")],
                                                       timeout=stop_timeout)),
             ("stop link services", lambda: stop_link_services(state.processes))]
    steps += [(f"remove rootfs copy {p}", lambda p=p: container.remove_rootfs_copy(Path(p)))
              for p in reversed(state.paths)]
    steps += [(f"delete nft table {t}", lambda t=t: firewall.delete_table(t)) for t in state.nft_tables]
    steps += [(f"delete veth {v}", lambda v=v: network.delete_link(v)) for v in state.veths]
    steps += [(f"delete netns {n}", lambda n=n: network.delete_netns(n)) for n in state.netns]
    for name, step in steps:
        try:
            step()
        except KeyboardInterrupt as exc:
            interrupted = exc
        except Exception as exc:  # noqa: BLE001 - keep cleaning, report at the end
            problems.append(f"{name}: {exc}")
    leftovers = leftovers_of(state)
    problems += [f"still present: {item}" for item in leftovers]
    if not problems and run_dir is not None:
        (run_dir / STATE_FILE).unlink(missing_ok=True)
    for problem in problems:
        log.error("sandbox cleanup of %s: %s", state.run_id, problem)
    if interrupted is not None:
        raise interrupted
    return problems


def stop_link_services(processes: list[ProcessRecord], timeout: float = 5.0) -> None:
    """SIGTERM the instance's link services (metadata, S3 endpoint), SIGKILL after ``timeout``."""
    stop_processes([p for p in processes if p.role == "link"], timeout=timeout)


def link_service_pids(run_id: str) -> list[int]:
    """Link-service processes (``harness.sandbox.link_services --run-id run_id``) on this machine."""
    return [pid for pid, argv in process_argvs()
            if b"harness.sandbox.link_services" in argv and run_id.encode() in argv]


def leftovers_of(state: SandboxState) -> list[str]:
    """What of ``state`` still exists on this machine."""
    found = [f"process {p.role} {p.pid}" for p in state.processes if p.alive()]
    found += [f"netns {n}" for n in state.netns if n in network.list_netns()]
    links = network.list_links()
    found += [f"veth {v}" for v in state.veths if v in links]
    tables = firewall.list_tables()
    found += [f"nft table {t}" for t in state.nft_tables if t in tables]
    found += [f"rootfs copy {p}" for p in state.paths if Path(p).exists()]
    return found


def leftovers_by_name(run_id: str) -> list[str]:
    """Anything on this machine whose name carries ``run_id`` (process, netns, veth, nft table, mount)."""
    found = [f"process {pid}" for pid in nspawn_pids(run_id) + link_service_pids(run_id)]
    found += [f"netns {n}" for n in network.list_netns() if n.startswith(run_id)]
    found += [f"veth {v}" for v in network.list_links() if v.split("@")[0].endswith(run_id)]
    found += [f"nft table {t}" for t in firewall.list_tables() if t == run_id]
    found += [f"mount {m}" for m in mounts_of(run_id)]
    return found


def nspawn_machines() -> dict[int, str]:
    """Running systemd-nspawn processes: pid -> the machine name they boot (``--machine=``)."""
    machines = {}
    for pid, argv in process_argvs():
        if argv and argv[0].endswith(b"systemd-nspawn"):
            for arg in argv:
                if arg.startswith(b"--machine="):
                    machines[pid] = arg[len(b"--machine="):].decode(errors="replace")
    return machines


def process_argvs() -> list[tuple[int, list[bytes]]]:
    """(pid, argv) of every process this machine shows in /proc."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            found.append((int(proc.name), (proc / "cmdline").read_bytes().split(b"\0")))
        except OSError:
            continue
    return found


def nspawn_pids(run_id: str) -> list[int]:
    """systemd-nspawn processes booting the machine named ``run_id``."""
    return [pid for pid, machine in nspawn_machines().items() if machine == run_id]


def mounts_of(run_id: str) -> list[str]:
    """Mount points whose path has a component ``run_id``."""
    try:
        lines = Path("/proc/self/mountinfo").read_text().splitlines()
    except OSError:
        return []
    return [line.split()[4] for line in lines if f"/{run_id}/" in line.split()[4] + "/"]


def state_from_names(run_id: str) -> SandboxState:
    """A cleanup record reconstructed from names alone (when a run left no state file)."""
    state = SandboxState(run_id=run_id)
    for pid in nspawn_pids(run_id):
        start = proc_starttime(pid)
        if start is not None:
            state.processes.append(ProcessRecord("nspawn", pid, start))
        init = container.container_init(pid)
        start = proc_starttime(init) if init else None
        if init and start is not None:
            state.processes.append(ProcessRecord("init", init, start))
    for pid in link_service_pids(run_id):
        start = proc_starttime(pid)
        if start is not None:
            state.processes.append(ProcessRecord("link", pid, start))
    state.netns = [n for n in network.list_netns() if re.fullmatch(rf"{run_id}-[a-z]+", n)]
    state.veths = [v for v in network.list_links() if re.fullmatch(rf"v[a-z]-{run_id}", v)]
    state.nft_tables = [t for t in firewall.list_tables() if t == run_id]
    state.paths = list(dict.fromkeys(str(Path(m).parent) for m in mounts_of(run_id)))  # rootfs and layer: one copy
    return state


def run_ids_on_machine() -> set[str]:
    """Run ids that appear in sandbox resource names on this machine."""
    names = network.list_netns() + network.list_links() + firewall.list_tables()
    ids = {run_id for name in names for run_id in run_ids_in(name)}
    ids |= {machine for machine in nspawn_machines().values() if is_run_id(machine)}
    return ids


def owned_by_live_process(run_id: str) -> bool:
    """True while a run without a state file here may still be alive elsewhere.

    Without a state file in this runs folder the run may belong to another checkout, a test or a
    helper script: it is alive while a live process holds its run id (harness/run_lock.py), or its
    systemd-nspawn runs under a live parent that is not init (a harness that crashed leaves nspawn
    re-parented to PID 1).
    """
    if held(run_id):
        return True
    for pid in nspawn_pids(run_id):
        try:
            ppid = int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        if ppid > 1:
            return True
    return False


REMOVED_SUFFIX = " (deleted)"  # what /proc/PID/cwd's link shows when the folder was removed


def process_cwds() -> list[tuple[int, str, bool]]:
    """(pid, working directory, whether that folder was removed) of every process this machine shows in /proc."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cwd = os.readlink(proc / "cwd")
        except OSError:  # gone, or a kernel thread
            continue
        removed = cwd.endswith(REMOVED_SUFFIX)
        found.append((int(proc.name), cwd[:-len(REMOVED_SUFFIX)] if removed else cwd, removed))
    return found


def this_process_and_ancestors() -> set[int]:
    """The pids of this process and every process above it (never stopped by a sweep)."""
    pids, pid = set(), os.getpid()
    while pid > 0 and pid not in pids:
        pids.add(pid)
        try:
            pid = int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            break
    return pids


def _inside(path: str, folder: str) -> bool:
    return path == folder or path.startswith(folder.rstrip("/") + "/")


def processes_of_run(run_id: str, run_dir: Path | None) -> list[ProcessRecord]:
    """Processes working in the run's folder (``run_dir``, even after it was removed) or in any folder whose path
    carries ``run_id`` (a Terraform or provider process left by the run); never this process or its ancestors."""
    folders = {str(run_dir), str(run_dir.resolve())} if run_dir is not None else set()
    spared = this_process_and_ancestors()
    found = []
    for pid, cwd, _ in process_cwds():
        if pid in spared or not (run_id in run_ids_in(cwd) or any(_inside(cwd, f) for f in folders)):
            continue
        start = proc_starttime(pid)
        if start is not None:
            found.append(ProcessRecord("cwd", pid, start))
    return found


def run_ids_of_removed_cwds() -> set[str]:
    """Run ids in the working directories of processes whose folder was removed (a run folder swept or deleted
    under them): what is left of runs that have no folder any more."""
    return {run_id for _, cwd, removed in process_cwds() if removed for run_id in run_ids_in(cwd)}


def stop_processes_of_run(run_id: str, run_dir: Path | None, timeout: float = 5.0) -> list[str]:
    """Stop (SIGTERM, then SIGKILL; a Terraform provider SIGINT, after the others) the processes
    :func:`processes_of_run` finds; the ones still there."""
    processes = processes_of_run(run_id, run_dir)
    for process in processes:
        log.info("run %s: stopping process %d working in %s", run_id, process.pid, _cwd_of(process.pid))
    # The providers last, and with their own signal: a memo stopped first stops its provider cleanly, and a
    # provider SIGTERMed beside it would leave its socket file in the temporary folder.
    providers = [process for process in processes if _is_terraform_provider(process.pid)]
    stop_processes([process for process in processes if process not in providers], timeout=timeout)
    stop_processes(providers, timeout=timeout, first=PROVIDER_STOP_SIGNAL)
    return [f"still present: process {p.pid} working in {_cwd_of(p.pid)}" for p in processes if p.alive()]


def _is_terraform_provider(pid: int) -> bool:
    try:
        return Path(os.readlink(f"/proc/{pid}/exe")).name.startswith("terraform-provider-")
    except OSError:
        return False


def _cwd_of(pid: int) -> str:
    try:
        return os.readlink(f"/proc/{pid}/cwd")
    except OSError:
        return "(gone)"


def sweep_sandbox_run(run_id: str, run_dir: Path | None) -> list[str]:
    """Remove what the run recorded in ``run_dir`` and whatever else carries its name; return the problems."""
    state = (SandboxState.load(run_dir) if run_dir else None) or SandboxState(run_id=run_id)
    by_name = state_from_names(run_id) if is_sandbox_name(run_id) else SandboxState(run_id=run_id)
    state.processes += [p for p in by_name.processes if p not in state.processes]
    for kind in ("netns", "veths", "nft_tables", "paths"):
        items = getattr(state, kind)
        items += [v for v in getattr(by_name, kind) if v not in items]
    problems = cleanup_state(state, run_dir)
    return problems + [f"still present: {item}" for item in leftovers_by_name(run_id)
                       if f"still present: {item}" not in problems]
