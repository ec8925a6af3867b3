"""A run id is held by the process that took it, while it lives: sweeps from other runs folders leave it alone."""
from __future__ import annotations

import subprocess
import sys
import textwrap

from harness import run_lock
from harness.spec import REPO_ROOT


def _in_another_process(code: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", textwrap.dedent(code)], cwd=REPO_ROOT, stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True)


def test_a_run_id_is_held_while_its_process_lives_and_free_once_it_ended():
    holder = _in_another_process("""
        import sys
        from harness.runid import new_run_id
        print(new_run_id(), flush=True)
        sys.stdin.read()  # alive until the test closes stdin
    """)
    run_id = holder.stdout.readline().strip()
    try:
        assert run_lock.held(run_id), "a live process's run id is not held"
    finally:
        holder.communicate("", timeout=30)
    assert not run_lock.held(run_id), "the run id of a process that ended is still held"
    assert not (run_lock.lock_dir() / f"{run_id}.lock").exists(), "the lock file of an ended run was left"


def test_a_killed_process_lets_go_of_its_run_id():
    holder = _in_another_process("""
        import time
        from harness.runid import new_run_id
        print(new_run_id(), flush=True)
        time.sleep(60)
    """)
    run_id = holder.stdout.readline().strip()
    assert run_lock.held(run_id)
    holder.kill()
    holder.wait(timeout=10)
    assert not run_lock.held(run_id)


def test_the_sweep_leaves_a_run_without_a_folder_alone_while_its_id_is_held(tmp_path, monkeypatch):
    """The orphan sweep (resources named after a run with no folder here) spares a run whose id is held: the
    network of a run that is still copying its image, from another runs folder."""
    from harness import sweep as sweeping
    from harness.runid import new_run_id

    live = new_run_id()  # held by this process
    dead = "it" + "0" * 8
    monkeypatch.setattr(sweeping, "run_ids_on_machine", lambda: {live, dead})
    monkeypatch.setattr(sweeping, "run_ids_of_removed_cwds", set)
    swept = []
    monkeypatch.setattr(sweeping, "sweep_sandbox_run", lambda run_id, _: swept.append(run_id) or [])
    monkeypatch.setattr(sweeping, "stop_processes_of_run", lambda run_id, _: [])
    report = sweeping.sweep(tmp_path)
    assert swept == [dead] and live not in report


def test_a_sweep_removes_the_lock_files_of_ended_runs():
    holder = _in_another_process("""
        from harness.runid import new_run_id
        print(new_run_id(), flush=True)
    """)
    run_id = holder.stdout.readline().strip()
    holder.wait(timeout=30)
    assert (run_lock.lock_dir() / f"{run_id}.lock").exists()
    run_lock.prune()
    assert not (run_lock.lock_dir() / f"{run_id}.lock").exists()


def test_a_lock_file_pruned_between_open_and_flock_is_taken_again(monkeypatch):
    """A prune from another process unlinks the (free) lock file just after this process opened it: the lock it then
    takes must be on the file at the path, or no other process could see the run as held."""
    run_id = "it" + "0badc0de"
    path = run_lock.lock_dir() / f"{run_id}.lock"
    real_flock = run_lock.fcntl.flock
    pruned = []

    def flock_after_a_prune(descriptor, operation):
        if not pruned:
            pruned.append(path)
            path.unlink()  # what held() of another process does to a lock file nobody holds
        return real_flock(descriptor, operation)

    monkeypatch.setattr(run_lock.fcntl, "flock", flock_after_a_prune)
    try:
        run_lock.hold(run_id)
        monkeypatch.setattr(run_lock.fcntl, "flock", real_flock)
        checker = _in_another_process(f"""
            from harness import run_lock
            print(run_lock.held({run_id!r}))
        """)
        assert checker.communicate("", timeout=30)[0].strip() == "True"
        assert pruned
    finally:
        descriptor = run_lock._held.pop(run_id, None)
        if descriptor is not None:
            run_lock.os.close(descriptor)
        path.unlink(missing_ok=True)
