"""The binding inside the repository's own pytest configuration (conftest.py, pytest.ini, core plugin)."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from harness.spec import REPO_ROOT

pytestmark = pytest.mark.skipif(shutil.which("nix") is None,
                                reason="nix is not installed: `make setup` installs Debian's nix-bin")


def test_m_nixos_selects_only_the_flake_checks_and_deploys_nothing(fixture_flake, tmp_path: Path):
    """`pytest -m nixos` from the repository root: the checks run, every other item is deselected, no stage runs."""
    flake = fixture_flake("checks")
    junit = tmp_path / "junit.xml"
    runs = tmp_path / "runs"
    # `--flake=DIR`, not `--flake DIR`: pytest looks for its rootdir among the command line's
    # existing paths before it knows that --flake takes a value (see docs/nix.md).
    command = [sys.executable, "-m", "pytest", "-m", "nixos", f"--flake={flake}", "--nix-local",
               f"--junitxml={junit}", f"--runs-dir={runs}", f"--reports-dir={tmp_path / 'reports'}",
               "-p", "no:cacheprovider"]
    result = subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True, timeout=300,
                            env={**os.environ, "PYTHONPATH": str(REPO_ROOT)})
    output = result.stdout + result.stderr
    names = sorted(case.get("name", "") for case in ET.parse(junit).getroot().iter("testcase"))
    assert names == ["checks.x86_64-linux.fails", "checks.x86_64-linux.passes"], output
    assert "1 failed, 1 passed" in output, output
    assert result.returncode == 1, output
    assert not runs.exists() or not any(runs.iterdir()), f"a stage ran: {sorted(runs.iterdir())}"


def test_without_m_the_default_run_has_no_nix_items(tmp_path: Path):
    """A plain `pytest --collect-only` (the sandbox run) adds no flake checks."""
    result = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider"],
                            cwd=REPO_ROOT, capture_output=True, text=True, timeout=300,
                            env={**os.environ, "PYTHONPATH": str(REPO_ROOT)})
    assert "flake.nix::" not in result.stdout, result.stdout
