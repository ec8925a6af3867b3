"""The run's report pages, written when a certification run ends (certified or not)."""
from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any, Optional

import pytest

from harness.certificate import CheckResult
from harness.plugin.stages import HARNESS_ERRORS
from harness.redaction import redact
from harness.report import write_report

REPORT_NAME = "certificate.html"
DR_CERTIFICATE_NAME = "certificate-dr.json"


def failure_reason(checks: list[CheckResult], run_id: Optional[str], exitstatus: int) -> str:
    """Why a run is not certified, in one line (for its report page)."""
    if HARNESS_ERRORS:
        return HARNESS_ERRORS[-1]
    failed = [c for c in checks if c.outcome in ("failed", "error")]
    if failed:
        return f"{len(failed)} of {len(checks)} checks failed or errored"
    if exitstatus == pytest.ExitCode.INTERRUPTED:
        return "the run was interrupted"
    if not run_id:
        return "the stage chain did not run (no deployment to certify)"
    if not any(c.outcome == "passed" for c in checks):
        return "no check passed"
    return f"pytest ended with exit status {exitstatus}"


def write_run_reports(reports_dir: Path, document: dict[str, Any]) -> list[str]:
    """certificate.html for this run (certified or not).

    A page that cannot be rendered is reported in the log; it never changes the verdict.
    """
    return _write(document, reports_dir / REPORT_NAME)


def write_dr_report(reports_dir: Path, started_epoch: float) -> list[str]:
    """certificate-dr.html when this run (started at ``started_epoch``) wrote certificate-dr.json.

    Called when pytest unconfigures, after every plugin's session-finish hook, so the drill
    may write its certificate in any of those.
    """
    source = reports_dir / DR_CERTIFICATE_NAME
    try:
        if not source.exists() or source.stat().st_mtime < started_epoch:
            return []
        document = json.loads(source.read_text())
    except (OSError, ValueError) as exc:
        logging.getLogger("harness").warning("could not read %s for its report page: %s", source, exc)
        return []
    return _write(document, source.with_suffix(".html"))


def _write(document: dict[str, Any], path: Path) -> list[str]:
    try:
        return [str(write_report(document, path))]
    except Exception as exc:  # noqa: BLE001 - a report is a view of the run, not part of its verdict
        logging.getLogger("harness").warning("could not write the report page %s: %s", path, redact(str(exc)))
        return []
