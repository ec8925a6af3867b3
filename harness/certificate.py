"""The certificate: written only when every selected certification check passed."""
from __future__ import annotations

import datetime as dt
import json
import subprocess
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Optional

from harness.content_digest import deployed_content_digest
from harness.logblock import STAGE, TEARDOWN, StageTime
from harness.redaction import redact
from harness.spec import REPO_ROOT

CERTIFICATE_NAME = "certificate.json"


@dataclass(frozen=True)
class CheckResult:
    """One check's result as the certificate and the report show it."""

    id: str  # pytest node id, e.g. suites/test_web.py::test_health
    outcome: str  # passed | failed | skipped | error
    seconds: float = 0.0  # duration of the check's call (setup and teardown of fixtures not included)
    message: str = ""  # the failure's (or skip's) one-line reason, redacted; empty when it passed


def git_commit(repo: Path = REPO_ROOT) -> tuple[Optional[str], bool]:
    """The checked-out commit and whether the tree has uncommitted changes."""
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=repo, capture_output=True, text=True, check=True
        ).stdout.strip()
        status = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"], cwd=repo, capture_output=True, text=True, check=True
        ).stdout
    except (OSError, subprocess.CalledProcessError):
        return None, True
    return commit, bool(status.strip())


def _epoch(iso: str) -> float:
    return dt.datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()


def span_seconds(records: list[StageTime]) -> float:
    """Wall time from the first record's start to the last one's end (0 without records)."""
    timed = [r for r in records if r.started_at and r.ended_at]
    if not timed:
        return round(sum(r.seconds for r in records), 2)
    return round(max(_epoch(r.ended_at) for r in timed) - min(_epoch(r.started_at) for r in timed), 2)


def time_to_certificate(records: list[StageTime], started_epoch: Optional[float]) -> Optional[float]:
    """Seconds from the run's start to the end of its checks: when the certificate could be issued."""
    checks = [r for r in records if r.kind == "checks" and r.ended_at]
    if not checks or started_epoch is None:
        return None
    return round(_epoch(checks[-1].ended_at) - started_epoch, 2)


def certifiable(checks: list[CheckResult]) -> bool:
    """True when at least one check ran and none failed or errored."""
    return bool(checks) and all(c.outcome in ("passed", "skipped") for c in checks) and any(
        c.outcome == "passed" for c in checks
    )


def build_certificate(
    environment: str,
    run_id: str,
    checks: list[CheckResult],
    stages: list[StageTime],
    resources: list[str],
    extra: Optional[dict[str, Any]] = None,
    *,
    certified: bool = True,
) -> dict[str, Any]:
    """The certificate document for a fully green run.

    Besides the checks and stage times it states what was certified: the commit and whether
    the tree was dirty, the digest of the deployed content (harness/content_digest.py), and,
    through ``extra``, the policy, the selection and what was read back from the deployment
    (harness/deployed.py: instance id, AMI, security-group rules, host system, app version).
    With ``certified=False`` the same document records a failed run: it is never written
    as a certificate, only shown on the run's report page.
    """
    commit, dirty = git_commit()
    document: dict[str, Any] = {
        "environment": environment,
        "run_id": run_id,
        "commit": commit,
        "dirty": dirty,
        "content_digest": deployed_content_digest(),
        "certified": certified,
        "issued_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "checks": [asdict(c) for c in checks],
        "stages": [asdict(s) for s in stages],
        # the set-up's wall time, first stage start to last stage end (stages overlap: the instance
        # boots while the apply runs); teardown steps not included
        "total_seconds": span_seconds([s for s in stages if s.kind == STAGE]),
        # the teardown's wall time (its steps overlap too: the container goes while Terraform destroys)
        "teardown_seconds": span_seconds([s for s in stages if s.kind == TEARDOWN]),
        "resources": resources,
    }
    document.update(extra or {})
    return document


def write_certificate(reports_dir: Path, document: dict[str, Any]) -> Path:
    reports_dir.mkdir(parents=True, exist_ok=True)
    text = redact(json.dumps(document, indent=2)) + "\n"
    # The per-environment copy survives other environments' runs (the production gate reads staging's).
    environment_copy(reports_dir, document["environment"]).write_text(text)
    path = reports_dir / CERTIFICATE_NAME
    path.write_text(text)
    return path


def environment_copy(reports_dir: Path, environment: str) -> Path:
    """The per-environment copy of the certificate (``certificate-<environment>.json``)."""
    return reports_dir / f"certificate-{environment}.json"


def remove_certificate(reports_dir: Path) -> bool:
    """Remove a stale certificate (and its signature); True when there was one."""
    path = reports_dir / CERTIFICATE_NAME
    path.with_name(path.name + ".sig").unlink(missing_ok=True)
    if path.exists():
        path.unlink()
        return True
    return False
