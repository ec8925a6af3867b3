"""Certification: the Terraform configuration itself (formatting, validity, checkov).

These checks read terraform/ (or --terraform-dir) and create nothing in any
account, so they apply to every environment. checkov runs from its own venv
(.venv-checkov; its pins conflict with pytest's), found through CHECKOV_BIN.
"""
from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest

from harness.errors import HarnessError
from harness.plugin.core import OPTIONS
from harness.spec import REPO_ROOT
from harness.terraform import prepare_workdir, terraform_binary, terraform_env

pytestmark = [pytest.mark.sandbox, pytest.mark.staging, pytest.mark.production]

DEFAULT_CHECKOV = REPO_ROOT / ".venv-checkov" / "bin" / "checkov"
# An inline checkov suppression: "#checkov:skip=CKV_AWS_123:reason" (the reason is ours to require).
SKIP_COMMENT = re.compile(r"checkov:skip=(?P<id>[^:\s]*)(?::(?P<reason>.*))?")
SKIP_ID = re.compile(r"^CKV2?_AWS_\d+$")
MIN_REASON_CHARS = 20
TIMEOUT = 300


@pytest.fixture(scope="module")
def terraform_dir(pytestconfig: pytest.Config) -> Path:
    """The configuration under certification (--terraform-dir, default terraform/)."""
    path = Path(pytestconfig.stash[OPTIONS].terraform_dir)
    if not (path / "main.tf").is_file():
        raise HarnessError(f"no main.tf in {path}; pass --terraform-dir pointing at the configuration")
    return path


def _run(command: list[str], *, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=TIMEOUT, check=False)
    except subprocess.TimeoutExpired:
        raise HarnessError(f"{command[0]} {command[1]} did not finish within {TIMEOUT} s in {cwd}") from None


def _terraform_env_no_config() -> dict[str, str]:
    # fmt needs no providers; an empty CLI config avoids warnings about a missing one.
    env = dict(os.environ)
    env.update(TF_CLI_CONFIG_FILE=os.devnull, CHECKPOINT_DISABLE="1")
    return env


@pytest.fixture(scope="module")
def initialised_copy(terraform_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    """A copy of the configuration with spec.json beside it (as the harness lays out a run),
    initialised without a backend."""
    root = tmp_path_factory.mktemp("static")
    copy = prepare_workdir(terraform_dir, root, endpoint_url=None)
    env = terraform_env(root, dict(os.environ))
    result = _run([terraform_binary(), "init", "-backend=false", "-input=false", "-no-color"], cwd=copy, env=env)
    if result.returncode != 0:
        raise HarnessError(f"terraform init -backend=false failed in a copy of {terraform_dir} (is the AWS provider "
                           f"mirror in place? HARNESS_TF_MIRROR):\n{result.stderr.strip()[-2000:]}")
    return copy, env


def test_terraform_fmt(terraform_dir):
    """`terraform fmt -check -recursive` finds nothing to reformat."""
    result = _run([terraform_binary(), "fmt", "-check", "-recursive", "-no-color", "."], cwd=terraform_dir,
                  env=_terraform_env_no_config())
    if result.returncode not in (0, 3):
        raise HarnessError(f"terraform fmt could not run in {terraform_dir}: {result.stderr.strip()[-1000:]}")
    files = result.stdout.split()
    assert result.returncode == 0 and not files, (
        f"terraform files need formatting: {', '.join(files)}; run `terraform fmt -recursive {terraform_dir}`")


def test_terraform_validate(initialised_copy):
    """`terraform validate` accepts the configuration (syntax, references, types, provider schema)."""
    copy, env = initialised_copy
    result = _run([terraform_binary(), "validate", "-json", "-no-color"], cwd=copy, env=env)
    try:
        report = json.loads(result.stdout)
    except json.JSONDecodeError:
        raise HarnessError(f"terraform validate printed no JSON: {result.stderr.strip()[-1000:]}") from None
    errors = [d for d in report.get("diagnostics", []) if d.get("severity") == "error"]
    messages = [f"{d.get('summary')}: {d.get('detail', '')} "
                f"({d.get('range', {}).get('filename', '?')}:{d.get('range', {}).get('start', {}).get('line', '?')})"
                for d in errors]
    assert report.get("valid") and not errors, "terraform validate failed:\n" + "\n".join(f"- {m}" for m in messages)


def checkov_binary() -> Path:
    """checkov from CHECKOV_BIN or .venv-checkov; HarnessError with the fix when missing."""
    configured = os.environ.get("CHECKOV_BIN")
    path = Path(configured) if configured else DEFAULT_CHECKOV
    if not os.access(path, os.X_OK):
        raise HarnessError(
            f"checkov not found at {path}; install it in its own venv: `python3 -m venv .venv-checkov && "
            ".venv-checkov/bin/pip install checkov` (make setup does this), or set CHECKOV_BIN")
    return path


@pytest.fixture(scope="module")
def checkov_report(terraform_dir: Path) -> dict[str, Any]:
    """checkov's JSON report over the configuration (offline: --skip-download)."""
    binary = checkov_binary()
    command = [str(binary), "-d", str(terraform_dir), "--framework", "terraform", "--compact", "--skip-download",
               "-o", "json"]
    result = _run(command, cwd=terraform_dir.parent, env=dict(os.environ, BC_SKIP_MAPPING="TRUE"))
    try:
        report = json.loads(result.stdout)
    except json.JSONDecodeError:
        raise HarnessError(f"checkov printed no JSON (exit {result.returncode}): {result.stderr.strip()[-1500:]}") from None
    reports = report if isinstance(report, list) else [report]
    terraform = [r for r in reports if r.get("check_type") == "terraform"]
    if not terraform:
        raise HarnessError(f"checkov found no Terraform resources in {terraform_dir}: {str(report)[:500]}")
    return dict(terraform[0])


def test_checkov_passes(checkov_report):
    """checkov reports no failed check; every rule not met is skipped inline with a reason."""
    failed = checkov_report["results"].get("failed_checks", [])
    lines = [f"{c['check_id']} {c['check_name']} on {c['resource']} ({Path(c['file_path']).name}:"
             f"{c['file_line_range'][0]}); fix it, or skip it inline with `#checkov:skip={c['check_id']}:<reason>`"
             for c in failed]
    assert not failed, "checkov failed checks:\n" + "\n".join(f"- {line}" for line in lines)


def skip_comments(directory: Path) -> list[tuple[str, int, str, str]]:
    """Every ``checkov:skip`` comment in the .tf files: (file, line, check id, reason)."""
    found = []
    for path in sorted(directory.rglob("*.tf")):
        if ".terraform" in path.parts:
            continue
        for number, line in enumerate(path.read_text().splitlines(), start=1):
            match = SKIP_COMMENT.search(line)
            if match:
                found.append((path.name, number, match.group("id"), (match.group("reason") or "").strip()))
    return found


def test_checkov_skips_have_reasons(terraform_dir):
    """Every inline checkov skip names a check id and gives a written reason beside it."""
    bad = [f"{name}:{line}: skip of {check_id or '(no id)'} "
           + ("has a malformed check id" if not SKIP_ID.match(check_id) else
              f"has no reason (or one under {MIN_REASON_CHARS} characters)")
           for name, line, check_id, reason in skip_comments(terraform_dir)
           if not SKIP_ID.match(check_id) or len(reason) < MIN_REASON_CHARS]
    assert not bad, ("checkov skips without a reason; write `#checkov:skip=CKV_AWS_xxx:<why this rule does not "
                     "apply>`:\n" + "\n".join(f"- {b}" for b in bad))


def test_checkov_skips_are_not_stale(terraform_dir, checkov_report):
    """Every inline skip suppresses a check checkov actually evaluated (no leftover skips)."""
    skipped = {c["check_id"] for c in checkov_report["results"].get("skipped_checks", [])}
    stale = [f"{name}:{line}: {check_id}" for name, line, check_id, _ in skip_comments(terraform_dir)
             if check_id not in skipped]
    assert not stale, ("inline checkov skips that suppress nothing (remove them):\n"
                       + "\n".join(f"- {s}" for s in stale))
