"""Sweep what dead sandbox runs left behind (``make clean`` runs ``python -m harness.sandbox.sweep``).

A run is found by its run id ("it" + 8 hex) in the state files under the runs
folder and in the names of namespaces, veths, nft tables, systemd-nspawn
processes and mounts. A run whose owning harness process is still alive is left
alone; everything of any other run is stopped and removed.
"""
from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

from harness.sandbox import firewall, network
from harness.sandbox.cleanup import cleanup_state, leftovers_by_name, nspawn_machines, nspawn_pids, state_from_names
from harness.runid import is_run_id, run_ids_in
from harness.sandbox.state import STATE_FILE, SandboxState

log = logging.getLogger("harness.sandbox.sweep")

DEFAULT_RUNS_DIR = Path(__file__).resolve().parents[2] / "runs"


def run_ids_on_machine() -> set[str]:
    """Run ids that appear in sandbox resource names on this machine."""
    names = network.list_netns() + network.list_links() + firewall.list_tables()
    ids = {run_id for name in names for run_id in run_ids_in(name)}
    ids |= {machine for machine in nspawn_machines().values() if is_run_id(machine)}
    return ids


def _state_files(runs_dir: Path) -> dict[str, Path]:
    """Run id -> run folder, for every folder of ``runs_dir`` with a sandbox state file."""
    found = {}
    if runs_dir.is_dir():
        for path in runs_dir.glob(f"*/{STATE_FILE}"):
            found[_run_id_of(path.parent)] = path.parent
    return found


def _kept(run_dir: Path | None) -> bool:
    try:
        return bool(run_dir and json.loads((run_dir / "run.json").read_text()).get("kept"))
    except (OSError, ValueError):
        return False


def sweep(runs_dir: Path, *, include_alive: bool = False, include_kept: bool = False,
          only_orphans: bool = False) -> dict[str, list[str]]:
    """Remove everything of dead runs; return ``{run_id: problems}`` for each run swept.

    Runs kept with ``--keep`` stay unless ``include_kept``; with ``include_alive`` even
    runs whose harness process still lives are removed; with ``only_orphans`` only
    runs that have no folder in ``runs_dir`` are considered.
    """
    run_dirs = _state_files(runs_dir)
    run_ids = set(run_dirs) | run_ids_on_machine()
    if only_orphans:
        run_ids = {r for r in run_ids if r not in run_dirs and not (runs_dir / r).is_dir()}
    report: dict[str, list[str]] = {}
    for run_id in sorted(run_ids):
        if not is_run_id(run_id):
            continue
        run_dir = run_dirs.get(run_id)
        state = SandboxState.load(run_dir) if run_dir else None
        if state is not None and state.owner is not None and state.owner.alive() and not include_alive:
            log.info("run %s is still in progress (pid %s); left alone", run_id, state.owner.pid)
            continue
        if state is None and _owned_by_live_run(run_id) and not include_alive:
            continue
        if _kept(run_dir) and not include_kept:
            log.info("run %s was kept (--keep); left alone (make clean RUN=%s removes it)", run_id, run_id)
            continue
        problems = _sweep_one(run_id, run_dir)
        problems += [f"still present: {item}" for item in leftovers_by_name(run_id)
                     if f"still present: {item}" not in problems]
        report[run_id] = problems
    return report


def sweep_run(run_dir: Path) -> list[str]:
    """Remove the sandbox resources of the run in ``run_dir`` (whether or not its owner lives); return problems."""
    return _sweep_one(_run_id_of(run_dir), run_dir)


def _run_id_of(run_dir: Path) -> str:
    """The run id its sandbox state records (the folder's name when there is none)."""
    state = SandboxState.load(run_dir)
    return state.run_id if state else run_dir.name


def _sweep_one(run_id: str, run_dir: Path | None) -> list[str]:
    state = (SandboxState.load(run_dir) if run_dir else None) or SandboxState(run_id=run_id)
    # Also whatever carries the run's name but was not recorded.
    by_name = state_from_names(run_id) if is_run_id(run_id) else SandboxState(run_id=run_id)
    state.processes += [p for p in by_name.processes if p not in state.processes]
    for kind in ("netns", "veths", "nft_tables", "paths"):
        items = getattr(state, kind)
        items += [v for v in getattr(by_name, kind) if v not in items]
    return cleanup_state(state, run_dir)


def sweep_orphans(runs_dir: Path | None = None) -> dict[str, list[str]]:
    """Remove sandbox resources whose run has no folder in ``runs_dir`` (default ``runs/``) and no live owner."""
    return sweep(runs_dir or DEFAULT_RUNS_DIR, only_orphans=True)


def _owned_by_live_run(run_id: str) -> bool:
    # Without a state file in this runs folder the run may belong to another checkout or a
    # helper script: consider it alive while its systemd-nspawn runs under a live parent
    # that is not init (a harness that crashed leaves nspawn re-parented to PID 1).
    for pid in nspawn_pids(run_id):
        try:
            ppid = int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        if ppid > 1:
            return True
    return False


def main(argv: list[str] | None = None) -> int:
    """Command line: ``python -m harness.sandbox.sweep [--runs-dir runs] [--all]``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs-dir", type=Path, default=DEFAULT_RUNS_DIR)
    parser.add_argument("--kept", action="store_true", help="also remove runs kept with --keep")
    parser.add_argument("--all", action="store_true", help="also remove runs whose harness process is alive")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    report = sweep(args.runs_dir, include_alive=args.all, include_kept=args.kept or args.all)
    failed = {run_id: problems for run_id, problems in report.items() if problems}
    for run_id, problems in report.items():
        print(f"swept {run_id}: {'OK' if not problems else '; '.join(problems)}")
    if not report:
        print("nothing to sweep")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
