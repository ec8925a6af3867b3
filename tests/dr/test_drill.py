"""The disaster-recovery drill run as a user runs it (`pytest -m dr` in a subprocess), on real software.

Three runs go at the same time (most of each is the provider and the canary waiting):
- the drill with the declared objectives: recovered, objectives met, every archived canary row intact;
- the newest base backup gone too, under an RTO objective tighter than any recovery: the drill
  restores from the base backup before plus WAL (no row lost that was archived), and fails
  naming the measured RTO and the objective;
- SIGINT during the recovery: the run stops and leaves nothing behind.
"""
from __future__ import annotations

import json
import re
import signal
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from harness.sandbox.cleanup import leftovers_by_name
from harness_run import HarnessRun, interrupt_harness, run_harness

DRILL = ["-m", "dr", "--dr-canary-seconds", "65"]


def _sandbox_leftovers(run: HarnessRun) -> list[str]:
    """Containers, namespaces, veths, nft tables, mounts and link services named after the run's ids."""
    run_ids = set(re.findall(r"\b(it[0-9a-f]{8})\b", run.output))
    assert run_ids, "no run id in the harness output"
    return [item for run_id in sorted(run_ids) for item in leftovers_by_name(run_id)]


def _certificate(run: HarnessRun) -> dict:
    path = run.reports_dir / "certificate-dr.json"
    assert path.exists(), f"no certificate-dr.json:\n{run.output[-3000:]}"
    return json.loads(path.read_text())


@pytest.fixture(scope="module")
def drills(tmp_path_factory) -> dict[str, HarnessRun]:
    """The three drill runs, concurrently."""
    folders = {name: tmp_path_factory.mktemp(name) for name in ("met", "tight", "interrupted")}
    with ThreadPoolExecutor(max_workers=3) as pool:
        futures = {
            "met": pool.submit(run_harness, DRILL, folders["met"], timeout=1200),
            "tight": pool.submit(run_harness, DRILL + ["--dr-scenario", "instance-and-newest-base-backup-loss",
                                                       "--dr-rto-seconds", "1"], folders["tight"], timeout=1200),
            "interrupted": pool.submit(interrupt_harness, DRILL, folders["interrupted"],
                                       "drill: terraform apply -replace=aws_instance.app ...", sig=signal.SIGINT,
                                       delay=3, timeout=1200),
        }
        return {name: future.result() for name, future in futures.items()}


@pytest.mark.timeout(1500)
def test_drill_recovers_within_the_objectives(drills):
    """The drill with spec.json's objectives: met, restored from a base backup, rows intact, nothing left."""
    run = drills["met"]
    assert run.returncode == 0, run.output[-5000:]
    certificate = _certificate(run)
    assert certificate["met"] is True and certificate["problems"] == []
    assert 0 < certificate["rto_seconds"] <= certificate["objectives"]["rto_seconds"]
    assert 0 <= certificate["rpo_seconds"] <= certificate["objectives"]["rpo_seconds"]
    assert certificate["restored"]["backup_id"] and certificate["restored"]["newest_archived_wal"]
    assert certificate["canary"]["restored"] > 0, "no canary row came back: the drill verified nothing"
    assert certificate["instances"]["destroyed"] != certificate["instances"]["replacement"]
    names = [stage["name"] for stage in certificate["stages"]]
    assert any(name.startswith("disaster") for name in names) and "/health through Nginx" in names
    assert run.leaks == [] and _sandbox_leftovers(run) == []


@pytest.mark.timeout(1500)
@pytest.mark.breaks("suites/test_dr.py::test_recovery_meets_objectives_and_loses_no_archived_row")
def test_drill_without_the_newest_base_backup_and_a_tight_objective(drills):
    """Newest base backup lost: restored from the one before plus WAL, rows intact; RTO 1 s: fails naming the value."""
    run = drills["tight"]
    assert run.returncode == 1, run.output[-5000:]
    certificate = _certificate(run)
    assert certificate["met"] is False
    measured = certificate["rto_seconds"]
    assert f"RTO {measured} s exceeds the objective 1.0 s" in run.output
    assert certificate["problems"] == [f"RTO {measured} s exceeds the objective 1.0 s"], certificate["problems"]
    assert certificate["restored"]["backup_id"], "nothing was restored"
    assert certificate["canary"]["restored"] > 0
    assert run.leaks == [] and _sandbox_leftovers(run) == []


@pytest.mark.timeout(1500)
def test_interrupt_during_recovery_leaves_nothing(drills):
    """SIGINT while Terraform replaces the instance: no container, namespace, moto, terraform or nft table left."""
    run = drills["interrupted"]
    assert run.returncode != 0
    assert "drill: terraform apply -replace" in run.output
    assert run.leaks == [], run.leaks
    assert _sandbox_leftovers(run) == []