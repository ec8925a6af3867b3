"""The next sandbox run removes what a dead run left (its namespace, its folder); live, kept and
staging runs are never touched. Real network namespaces, real processes."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from harness.runid import new_run_id
from harness.sandbox.network import list_netns
from harness.sandbox.state import ProcessRecord, SandboxState
from harness.sweep import sweep_dead_runs

pytestmark = pytest.mark.skipif(os.geteuid() != 0 or shutil.which("ip") is None,
                                reason="network namespaces need root and iproute2 (`make setup`)")


def _dead_pid() -> int:
    process = subprocess.Popen(["true"])
    process.wait()
    return process.pid


def _run_folder(runs_dir: Path, *, owner: int, environment: str = "sandbox", kept: bool = False) -> tuple[str, Path]:
    """A run folder whose sandbox state records one real network namespace."""
    run_id = new_run_id()
    run_dir = runs_dir / run_id
    run_dir.mkdir(parents=True)
    (run_dir / "run.json").write_text(json.dumps({"run_id": run_id, "environment": environment, "kept": kept,
                                                  "owner_pid": owner}))
    netns = f"{run_id}-i"
    subprocess.run(["ip", "netns", "add", netns], check=True)
    state = SandboxState(run_id=run_id, owner=ProcessRecord("owner", owner, 0), netns=[netns])
    state.save(run_dir)
    return netns, run_dir


def test_dead_run_is_cleaned_live_kept_and_staging_runs_are_not(tmp_path):
    dead_ns, dead_dir = _run_folder(tmp_path, owner=_dead_pid())
    others = [_run_folder(tmp_path, owner=os.getpid()),  # a live run (this process)
              _run_folder(tmp_path, owner=_dead_pid(), kept=True),
              _run_folder(tmp_path, owner=_dead_pid(), environment="staging")]
    try:
        report = sweep_dead_runs(tmp_path)
        assert list(report) == [dead_dir.name] and report[dead_dir.name] == []
        assert dead_ns not in list_netns() and not dead_dir.exists()
        for netns, run_dir in others:
            assert netns in list_netns() and run_dir.exists(), f"{run_dir.name} was touched"
    finally:
        for netns, _ in others + [(dead_ns, dead_dir)]:
            subprocess.run(["ip", "netns", "del", netns], capture_output=True)


def test_a_folder_being_created_is_left_alone(tmp_path):
    (tmp_path / new_run_id()).mkdir()  # no run.json yet: a run starting right now
    assert sweep_dead_runs(tmp_path) == {}


def test_a_dead_staging_run_with_local_state_keeps_its_folder(tmp_path):
    """make clean never destroys staging and never throws its Terraform state away."""
    from harness.sweep import sweep_run

    run_dir = tmp_path / new_run_id()
    (run_dir / "terraform").mkdir(parents=True)
    (run_dir / "terraform" / "terraform.tfstate").write_text("{}")
    (run_dir / "run.json").write_text(json.dumps({"run_id": run_dir.name, "environment": "staging",
                                                  "owner_pid": _dead_pid()}))
    assert sweep_run(run_dir) == []
    assert (run_dir / "terraform" / "terraform.tfstate").exists()
