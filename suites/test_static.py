"""Certification: the Terraform configuration itself (formatting, validity, checkov).

These checks read terraform/ (or --terraform-dir) and create nothing in any
account, so they apply to every environment. The tools run in the background from
the moment the run's checks are chosen (harness/static_analysis.py, harness/plugin/static_checks.py);
these checks judge what they found.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from harness.plugin.static_checks import configuration_dir, static_analysis
from harness.static_analysis import StaticAnalysis

pytestmark = [pytest.mark.sandbox, pytest.mark.staging, pytest.mark.production]

# An inline checkov suppression: "#checkov:skip=CKV_AWS_123:reason" (the reason is ours to require).
SKIP_COMMENT = re.compile(r"checkov:skip=(?P<id>[^:\s]*)(?::(?P<reason>.*))?")
SKIP_ID = re.compile(r"^CKV2?_AWS_\d+$")
MIN_REASON_CHARS = 20


@pytest.fixture(scope="module")
def terraform_dir(pytestconfig: pytest.Config) -> Path:
    """The configuration under certification (--terraform-dir, default terraform/)."""
    return configuration_dir(pytestconfig)


@pytest.fixture(scope="module")
def analysis(pytestconfig: pytest.Config, terraform_dir: Path) -> StaticAnalysis:
    """fmt, validate and checkov of the configuration, started when the session's checks were chosen."""
    return static_analysis(pytestconfig)


@pytest.fixture(scope="module")
def checkov_report(analysis: StaticAnalysis) -> dict[str, Any]:
    """checkov's JSON report over the configuration (offline: --skip-download)."""
    return dict(analysis.result("checkov"))


def test_terraform_fmt(terraform_dir, analysis):
    """`terraform fmt -check -recursive` finds nothing to reformat."""
    files = analysis.result("fmt")
    assert not files, (
        f"terraform files need formatting: {', '.join(files)}; run `terraform fmt -recursive {terraform_dir}`")


def test_terraform_validate(analysis):
    """`terraform validate` accepts the configuration (syntax, references, types, provider schema)."""
    report = analysis.result("validate")
    errors = [d for d in report.get("diagnostics", []) if d.get("severity") == "error"]
    messages = [f"{d.get('summary')}: {d.get('detail', '')} "
                f"({d.get('range', {}).get('filename', '?')}:{d.get('range', {}).get('start', {}).get('line', '?')})"
                for d in errors]
    assert report.get("valid") and not errors, "terraform validate failed:\n" + "\n".join(f"- {m}" for m in messages)


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
