"""Loaded with ``-p canary_plugin`` into the harness run the secret canary test drives.

tests/sandbox/test_secret_canary.py runs a sandbox certification with canary
secrets and scans what the run wrote. The run folder is removed when the run
ends; this plugin copies it, as the run left it, to the folder that
``HARNESS_CANARY_SNAPSHOT`` names: its session fixture is set up right after
``run`` and so torn down after every other stage (Terraform's destroy, the
instance's removal) and just before the run folder is removed. Left out: the
instance's disk (``instance/``, the host's own files) and Terraform's provider
binaries (``.terraform/providers``).
"""
from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any, Iterator

import pytest

SNAPSHOT_ENV = "HARNESS_CANARY_SNAPSHOT"


def _left_out(folder: str, names: list[str]) -> set[str]:
    if Path(folder).name == ".terraform":
        return {"providers"} & set(names)
    return {"instance"} & set(names) if (Path(folder) / "run.json").exists() else set()


@pytest.fixture(scope="session", autouse=True)
def canary_run_folder_copy(run: Any) -> Iterator[None]:
    """At the end of the run: copy the run folder (modes kept) to HARNESS_CANARY_SNAPSHOT."""
    yield
    shutil.copytree(run.run_dir, Path(os.environ[SNAPSHOT_ENV]), symlinks=True, ignore=_left_out,
                    dirs_exist_ok=True)
