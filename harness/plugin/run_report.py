"""The run's report pages, written when a certification run ends (certified or not)."""
from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import pytest

from harness.certificate import CheckResult
from harness.plugin.stages import HARNESS_ERRORS
from harness.redaction import redact
from harness.report import write_report

REPORT_NAME = "certificate.html"
DR_CERTIFICATE_NAME = "certificate-dr.json"


def failure_reason(checks: list[CheckResult], facts: dict[str, Any], exitstatus: int) -> str:
    """Why a run is not certified, in one line (for its report page)."""
    if HARNESS_ERRORS:
        return HARNESS_ERRORS[-1]
    failed = [c for c in checks if c.outcome in ("failed", "error")]
    if failed:
        return f"{len(failed)} of {len(checks)} checks failed or errored"
    if exitstatus == pytest.ExitCode.INTERRUPTED:
        return "the run was interrupted"
    if not facts.get("run_id"):
        return "the stage chain did not run (no deployment to certify)"
    if not any(c.outcome == "passed" for c in checks):
        return "no check passed"
    return f"pytest ended with exit status {exitstatus}"


def write_run_reports(reports_dir: Path, document: dict[str, Any], started_epoch: float) -> list[str]:
    """certificate.html for this run, and certificate-dr.html when this run wrote certificate-dr.json.

    A page that cannot be rendered is reported on the terminal; it never changes the verdict.
    """
    written = []
    try:
        written.append(str(write_report(document, reports_dir / REPORT_NAME)))
        dr = reports_dir / DR_CERTIFICATE_NAME
        if dr.exists() and dr.stat().st_mtime >= started_epoch:
            written.append(str(write_report(json.loads(dr.read_text()), dr.with_suffix(".html"))))
    except Exception as exc:  # noqa: BLE001 - a report is a view of the run, not part of its verdict
        logging.getLogger("harness").warning("could not write the report page: %s", redact(str(exc)))
    return written
