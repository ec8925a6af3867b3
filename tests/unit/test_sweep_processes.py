"""`make clean` stops processes a run left working in its folder (an orphaned terraform or
terraform-provider-aws), also after the folder was removed under them. Real processes (sleep)."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from harness.runid import new_run_id
from harness.sandbox.cleanup import processes_of_run, run_ids_of_removed_cwds, stop_processes_of_run
from harness.sandbox.state import proc_running, proc_starttime


def _sleeper(cwd: Path) -> subprocess.Popen:
    return subprocess.Popen(["sleep", "300"], cwd=cwd)


def _gone(process: subprocess.Popen, start: int) -> bool:
    """True when ``process`` is gone (a zombie counts as gone: it has exited); reaps it either way."""
    gone = not proc_running(process.pid, start)
    if not gone:
        process.kill()
    process.wait(timeout=10)
    return gone


def test_a_process_in_a_removed_run_folder_is_found_and_stopped(tmp_path):
    """A sleep working in runs/<run id>/terraform survives the folder's removal; the sweep finds its run id from
    the removed working directory and stops it."""
    run_id = new_run_id()
    workdir = tmp_path / "runs" / run_id / "terraform"
    workdir.mkdir(parents=True)
    process = _sleeper(workdir)
    start = proc_starttime(process.pid)
    assert start is not None
    shutil.rmtree(tmp_path / "runs" / run_id)
    assert os.readlink(f"/proc/{process.pid}/cwd").endswith(" (deleted)")
    assert run_id in run_ids_of_removed_cwds()
    assert [p.pid for p in processes_of_run(run_id, None)] == [process.pid]
    assert stop_processes_of_run(run_id, None, timeout=5) == []
    assert _gone(process, start), "the process working in the removed run folder was not stopped"


def test_the_sweep_never_stops_itself_or_its_ancestors(tmp_path, monkeypatch):
    """Even when this process works inside the run's folder, it is spared."""
    run_id = new_run_id()
    folder = tmp_path / run_id
    folder.mkdir()
    monkeypatch.chdir(folder)
    assert os.getpid() not in [p.pid for p in processes_of_run(run_id, folder)]


@pytest.mark.skipif(os.geteuid() != 0 or shutil.which("ip") is None,
                    reason="sweeping a run's sandbox resources needs root and iproute2 (`make setup`)")
def test_sweeping_a_run_folder_stops_what_works_in_it(tmp_path):
    """sweep_run (make clean, and the next run for a dead one) stops a process working in the folder first."""
    from harness.sweep import sweep_run

    run_dir = tmp_path / new_run_id()
    (run_dir / "terraform").mkdir(parents=True)
    (run_dir / "run.json").write_text(json.dumps({"run_id": run_dir.name, "environment": "sandbox"}))
    process = _sleeper(run_dir / "terraform")
    start = proc_starttime(process.pid)
    assert start is not None
    assert sweep_run(run_dir) == []
    assert not run_dir.exists()
    assert _gone(process, start), "the process working in the swept run folder was not stopped"
