"""Helpers for the nix binding tests: fixture flakes as git repositories, pytest as a subprocess."""
from __future__ import annotations

import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import pytest

from harness.spec import REPO_ROOT

from flake_repo import git_flake

FLAKES = Path(__file__).resolve().parent / "flakes"

# An isolated pytest configuration: only the nixos binding, the marker registered as
# the lead's core plugin does, strict markers as in pytest.ini.
ISOLATED_INI = """[pytest]
markers =
    nixos: NixOS VM tests of the flake, built through nix
addopts = --strict-markers -p no:cacheprovider
"""


@dataclass
class PytestRun:
    """A finished pytest subprocess: exit code, terminal output and the parsed JUnit report."""

    returncode: int
    output: str
    junit: ET.Element

    def cases(self) -> dict[str, ET.Element]:
        """Test cases of the JUnit report by name."""
        return {case.get("name", ""): case for case in self.junit.iter("testcase")}




@pytest.fixture
def fixture_flake(tmp_path: Path) -> Callable[[str], Path]:
    """Return a function that copies tests/nix/flakes/<name> into a fresh git repository."""

    def make(name: str) -> Path:
        return git_flake(FLAKES / name, tmp_path / f"flake-{name}")

    return make


@pytest.fixture
def run_pytest(tmp_path: Path) -> Callable[..., PytestRun]:
    """Run ``python -m pytest`` in a subprocess with only the nixos binding loaded (isolated ini)."""

    def run(*args: str, timeout: float = 300, env: dict[str, str] | None = None) -> PytestRun:
        workdir = tmp_path / "pytest-run"
        workdir.mkdir(exist_ok=True)
        (workdir / "pytest.ini").write_text(ISOLATED_INI)
        junit = workdir / "junit.xml"
        command = [sys.executable, "-m", "pytest", "-c", str(workdir / "pytest.ini"), "--rootdir", str(workdir),
                   "--noconftest", "-p", "harness.plugin.nixos_checks", f"--junitxml={junit}", "-rA",
                   *args, str(workdir)]
        full_env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), **(env or {})}
        completed = subprocess.run(command, cwd=workdir, capture_output=True, text=True, timeout=timeout,
                                   env=full_env)
        output = completed.stdout + completed.stderr
        assert junit.exists(), f"pytest wrote no JUnit report:\n{output}"
        return PytestRun(completed.returncode, output, ET.parse(junit).getroot())

    return run
