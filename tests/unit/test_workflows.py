"""The CI workflow files: actionlint finds nothing, and the nightly DR workflow keeps what it must."""
from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from harness.spec import REPO_ROOT

WORKFLOWS = REPO_ROOT / ".github" / "workflows"
CONFIG = REPO_ROOT / ".github" / "actionlint.yaml"


def actionlint() -> str:
    """The actionlint binary of the project's venv (pyproject pins it), else the one on PATH."""
    beside = Path(sys.executable).parent / "actionlint"
    found = str(beside) if beside.exists() else shutil.which("actionlint")
    if found is None:
        pytest.fail("actionlint is missing: `make setup` installs it (pyproject.toml pins the package)")
    return found


def lint(directory: Path, *files: Path) -> subprocess.CompletedProcess:
    return subprocess.run([actionlint(), "-no-color", "-config-file", str(CONFIG), *map(str, files)],
                          cwd=directory, capture_output=True, text=True, timeout=120)


def workflow_files() -> list[Path]:
    return sorted([*WORKFLOWS.glob("*.yml"), *WORKFLOWS.glob("*.yaml")])


def test_actionlint_finds_nothing_in_the_workflows():
    files = workflow_files()
    assert WORKFLOWS / "dr-nightly.yml" in files
    result = lint(REPO_ROOT, *files)
    assert result.returncode == 0, f"actionlint findings:\n{result.stdout}{result.stderr}"


def test_actionlint_reports_a_broken_workflow(tmp_path):
    """The lint above can fail: a workflow with mistakes in a scratch repository is reported."""
    broken = tmp_path / ".github" / "workflows" / "broken.yml"
    broken.parent.mkdir(parents=True)
    broken.write_text(
        "on: {schedule: [{cron: '61 2 * * *'}]}\n"
        "jobs:\n"
        "  drill:\n"
        "    runs-on: [self-hosted, root]\n"
        "    steps:\n"
        "      - uses: actions/upload-artifact@v4\n"
        "        if: always()\n"
        "        with: {pathh: reports/}\n"
        "      - run: echo ${{ secrets.AWS_ACCESS_KEY_ID.value }}\n"
    )
    result = lint(tmp_path, broken)
    assert result.returncode == 1
    assert "cron" in result.stdout and "pathh" in result.stdout, result.stdout


def _load(path: Path) -> dict:
    document = yaml.safe_load(path.read_text())
    document["on"] = document.pop(True, document.get("on"))  # YAML 1.1 reads `on:` as true
    return document


def _uploads(job: dict) -> list[dict]:
    return [step for step in job["steps"] if str(step.get("uses", "")).startswith("actions/upload-artifact@")]


def test_nightly_dr_workflow_runs_the_drill_and_keeps_its_evidence():
    workflow = _load(WORKFLOWS / "dr-nightly.yml")
    assert workflow["on"]["schedule"][0]["cron"]
    sandbox, staging = workflow["jobs"]["sandbox"], workflow["jobs"]["staging"]
    assert "self-hosted" in sandbox["runs-on"] and "root" in sandbox["runs-on"]
    assert any("make dr" in step.get("run", "") for step in sandbox["steps"])
    assert any(".venv/bin/pytest -m dr --env staging" in step.get("run", "") for step in staging["steps"])
    credentials = next(step["env"] for step in staging["steps"] if "pytest -m dr" in step.get("run", ""))
    assert credentials["AWS_ACCESS_KEY_ID"] == "${{ secrets.AWS_ACCESS_KEY_ID }}"
    assert credentials["AWS_SECRET_ACCESS_KEY"] == "${{ secrets.AWS_SECRET_ACCESS_KEY }}"
    for job in (sandbox, staging):
        (upload,) = _uploads(job)
        assert upload["if"] == "always()"
        paths = upload["with"]["path"].split()
        for kept in ("reports/certificate-dr.json", "reports/*.html", "reports/junit.xml", "runs/**/*.log"):
            assert kept in paths
