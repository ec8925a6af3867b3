"""Fixture flakes as git repositories (flakes only see tracked files)."""
from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path


def git_repo(directory: Path) -> Path:
    """Make ``directory`` a git repository with its files added (flakes only see tracked files)."""
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t",
           "GIT_COMMITTER_EMAIL": "t@t"}
    subprocess.run(["git", "init", "-q", "."], cwd=directory, check=True, env=env)
    subprocess.run(["git", "add", "-A"], cwd=directory, check=True, env=env)
    return directory


def git_flake(source: Path, destination: Path) -> Path:
    """Copy a fixture flake to ``destination`` and make it a git repository with its files added."""
    shutil.copytree(source, destination)
    return git_repo(destination)
