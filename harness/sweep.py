"""`make clean`: remove what dead or kept runs left behind, found by run id.

A run whose owning process is gone (crashed, killed, or kept with --keep) is
swept: its containers, namespaces and nft tables (harness/sandbox/cleanup.py),
its moto server (the sandbox's cloud), and its run directory. Staging and
production are never destroyed here: a persistent environment's resources stay (the long-lived
sandbox cloud's instances are named "ic...", not by a run id, and are only named here),
and a run folder holding its local Terraform state is kept. A static analysis's working copy (``static-PID-…``)
whose process is gone is removed as well. Sandbox resources named after a run that has no folder
(and no live owner) are removed too. Processes still working in a swept run's folder, or in a folder whose path
carries its run id (an orphaned ``terraform`` or ``terraform-provider-aws``, even after the folder was removed:
``/proc/PID/cwd`` then ends in " (deleted)"), are stopped; the sweep never stops itself or its ancestors.
"""
from __future__ import annotations

import argparse
import json
import logging
import shutil
import sys
from pathlib import Path
from typing import Any, Optional

from harness.errors import HarnessError
from harness.logblock import block
from harness.process import pid_alive, stop_group
from harness.run_lock import prune as prune_run_locks
from harness.runid import is_run_id
from harness.sandbox.cleanup import (owned_by_live_process, run_ids_of_removed_cwds, run_ids_on_machine,
                                     stop_processes_of_run, sweep_sandbox_run)
from harness.sandbox.state import STATE_FILE, SandboxState
from harness.spec import REPO_ROOT
from harness.static_analysis import remove_dead_static_copies
from harness.terraform import has_remote_state

log = logging.getLogger("harness.sweep")

DEFAULT_RUNS_DIR = REPO_ROOT / "runs"


def _state(run_dir: Path) -> dict[str, Any]:
    try:
        return json.loads((run_dir / "run.json").read_text())
    except (OSError, ValueError):
        return {}


def run_id_of(run_dir: Path) -> str:
    """The run id its sandbox state or run.json records (the folder's name when neither does)."""
    sandbox = SandboxState.load(run_dir)
    return sandbox.run_id if sandbox else _state(run_dir).get("run_id") or run_dir.name


def _owner_alive(run_dir: Path) -> bool:
    sandbox = SandboxState.load(run_dir)
    if sandbox is not None and sandbox.owner is not None and sandbox.owner.alive():
        return True
    owner = _state(run_dir).get("owner_pid")
    return bool(owner) and pid_alive(owner)


def _run_folders(runs_dir: Path) -> list[Path]:
    if not runs_dir.is_dir():
        return []
    return [path for path in sorted(runs_dir.iterdir()) if path.is_dir() and (
        (path / "run.json").exists() or (path / STATE_FILE).exists() or is_run_id(path.name))]


def sweep_run(run_dir: Path) -> list[str]:
    """Remove everything one run created (whether or not its owner lives), then its folder; return problems."""
    state = _state(run_dir)
    run_id = run_id_of(run_dir)
    with block(f"sweeping run {run_id}"):
        problems = sweep_sandbox_run(run_id, run_dir)
        moto = state.get("moto")
        if moto and pid_alive(moto["pid"]):
            stop_group(moto["pid"])  # the sandbox's cloud resources live only in moto
        if state.get("environment") not in (None, "sandbox") and _holds_local_state(run_dir):
            # Staging and production are never destroyed by a clean-up, and their state is never thrown away.
            log.warning("run %s (%s) keeps its Terraform state in %s: the folder stays; move the environment to "
                        "a remote backend (terraform/<env>.backend.hcl)", run_id, state["environment"], run_dir)
            return problems
        # Terraform and its provider (or anything else) still working in the folder: stopped before it goes.
        problems += stop_processes_of_run(run_id, run_dir)
        shutil.rmtree(run_dir, ignore_errors=True)
    return problems


def _holds_local_state(run_dir: Path) -> bool:
    workdir = run_dir / "terraform"
    return workdir.is_dir() and not has_remote_state(workdir) and any(workdir.glob("terraform.tfstate*"))


def sweep(runs_dir: Path, run_id: Optional[str] = None, *, include_alive: bool = False) -> dict[str, list[str]]:
    """Sweep one run (``run_id``) or every run whose owner is gone; return ``{run_id: problems}``.

    Without ``run_id``, sandbox resources named after a run that has no folder in
    ``runs_dir`` and no live owner are removed as well.
    """
    report: dict[str, list[str]] = {}
    known = set()
    for run_dir in _run_folders(runs_dir):
        found = run_id_of(run_dir)
        known.add(found)
        if run_id is not None and run_id not in (found, run_dir.name):
            continue
        if run_id is None and not include_alive and _owner_alive(run_dir):
            log.info("run %s is still in progress; left alone", found)
            continue
        report[found] = sweep_run(run_dir)
    if run_id is not None:
        if not report:
            raise HarnessError(f"no run {run_id} in {runs_dir}; `ls {runs_dir}` lists the runs")
        return report
    prune_run_locks()
    for name in remove_dead_static_copies(runs_dir):
        log.info("removed %s: the static analysis's working copy of a run that is gone", name)
    for orphan in sorted((run_ids_on_machine() | run_ids_of_removed_cwds()) - known):
        if include_alive or not owned_by_live_process(orphan):
            with block(f"sweeping resources of run {orphan} (no run folder)"):
                report[orphan] = sweep_sandbox_run(orphan, None) + stop_processes_of_run(orphan, None)
    return report


FRESH_FOLDER_SECONDS = 60  # a run folder without run.json this young may be a run that is just starting


def sweep_dead_runs(runs_dir: Path) -> dict[str, list[str]]:
    """Before a new sandbox run: remove what dead sandbox runs in ``runs_dir`` left; ``{run_id: problems}``.

    Dead means its harness process is gone and it was not kept (``--keep``). A live
    run, a kept run, and any staging or production run are never touched.
    """
    import time

    report: dict[str, list[str]] = {}
    for run_dir in _run_folders(runs_dir):
        state = _state(run_dir)
        if not state and time.time() - run_dir.stat().st_mtime < FRESH_FOLDER_SECONDS:
            continue  # a run that is being created right now
        if state.get("kept") or state.get("environment", "sandbox") != "sandbox" or _owner_alive(run_dir):
            continue
        run_id = run_id_of(run_dir)
        report[run_id] = sweep_run(run_dir)
        log.warning("removed what the dead run %s left behind%s", run_id,
                    f" (problems: {'; '.join(report[run_id])})" if report[run_id] else "")
    return report


def main(argv: Optional[list[str]] = None) -> int:
    """Command line: ``python -m harness.sweep [--runs-dir runs] [--run RUN_ID] [--all]``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs-dir", type=Path, default=DEFAULT_RUNS_DIR)
    parser.add_argument("--run", help="sweep only this run id (e.g. a kept run)")
    parser.add_argument("--all", action="store_true", help="also sweep runs whose harness process is alive")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        report = sweep(args.runs_dir, args.run, include_alive=args.all)
    except HarnessError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    for swept, problems in report.items():
        print(f"swept {swept}: {'OK' if not problems else '; '.join(problems)}")
    print(f"swept {len(report)} run(s)")
    from harness.sandbox.cloud import running_cloud

    cloud = running_cloud()
    if cloud is not None:  # it is never cleaned here: staging and production live in it
        print(f"left running: the sandbox cloud in {cloud.folder} (staging and production live in it); "
              "`make cloud-down` stops it with everything in it")
    return 1 if any(report.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
