"""The static analysis's working copy lives in the runs folder, and one whose process is gone is removed."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from harness.static_analysis import make_static_copy_folder, remove_dead_static_copies
from harness.sweep import sweep


def _dead_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def test_a_new_copy_is_named_after_this_process_and_removes_those_of_dead_ones(tmp_path: Path):
    runs = tmp_path / "runs"
    dead = runs / f"static-{_dead_pid()}-abc123"
    dead.mkdir(parents=True)
    (dead / "terraform").mkdir()  # the half-made copy a killed run left
    unrelated = runs / "static-notes"
    unrelated.mkdir()
    mine = make_static_copy_folder(runs)
    assert mine.parent == runs and mine.name.startswith(f"static-{os.getpid()}-")
    assert not dead.exists()
    assert unrelated.is_dir()  # not a static copy's name: never touched
    assert remove_dead_static_copies(runs) == []  # this process is alive: its copy stays
    assert mine.is_dir()


def test_make_clean_removes_a_dead_runs_static_copy(tmp_path: Path):
    dead = tmp_path / f"static-{_dead_pid()}-k1ll3d"
    dead.mkdir()
    sweep(tmp_path)
    assert not dead.exists()
