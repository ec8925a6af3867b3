"""Run a oneshot systemd unit on the host (a base backup, a pg_dump) and wait until its job ended.

``systemctl start`` of a oneshot unit returns when the job ended. Twice in fresh-clone test runs, a base
backup's start failed at once with systemd's ``resources`` result ("failed because of unavailable resources
or another system error"): systemd could not set up the job's process, and the backup never ran. Such a
start is tried again (up to :data:`RESOURCE_ATTEMPTS` times, :data:`RESOURCE_RETRY_SECONDS` apart, each
retry logged with the unit's journal). A job that ran and failed is not: the error names the unit's result
and its journal.
"""
from __future__ import annotations

import logging
import shlex
import time
from typing import Any

from harness.errors import HarnessError
from harness.redaction import redact

log = logging.getLogger("harness.unit_jobs")

RESOURCE_ATTEMPTS = 3
RESOURCE_RETRY_SECONDS = 1.0


def unit_result(ssh: Any, unit: str) -> str:
    """systemd's ``Result`` of ``unit``'s last run ("success", "exit-code", "resources"...)."""
    shown = ssh.sudo(f"systemctl show -p Result --value {shlex.quote(unit)}", check=False, timeout=30)
    return str(shown.stdout).strip()


def unit_journal(ssh: Any, unit: str, lines: int = 20) -> str:
    """The last ``lines`` lines of ``unit``'s journal, redacted."""
    shown = ssh.sudo(f"journalctl --no-pager -o short-precise -n {lines} -u {shlex.quote(unit)}", check=False,
                     timeout=30)
    return redact(str(shown.stdout).strip())


def run_unit_job(ssh: Any, unit: str, what: str, *, timeout: float = 600) -> None:
    """Start the oneshot ``unit`` (``what`` it does, for messages) and wait for its job; a HarnessError with
    the unit's result and journal when it fails. A start systemd refused (``resources``) is tried again."""
    for attempt in range(1, RESOURCE_ATTEMPTS + 1):
        started = ssh.sudo(f"systemctl start {shlex.quote(unit)}", check=False, timeout=timeout, lasting=True)
        if started.exit_status == 0:
            return
        result = unit_result(ssh, unit)
        journal = unit_journal(ssh, unit)
        if result != "resources" or attempt == RESOURCE_ATTEMPTS:
            raise HarnessError(
                f"the {what} ({unit}) failed on the host (systemd result {result or 'unknown'}"
                f"{f', after {attempt} starts' if attempt > 1 else ''}): "
                f"{redact(str(started.stderr).strip()[-300:])}\njournal of {unit}:\n{journal}")
        log.warning("systemd could not start %s (result 'resources', attempt %d of %d); again in %.0f s. "
                    "Its journal:\n%s", unit, attempt, RESOURCE_ATTEMPTS, RESOURCE_RETRY_SECONDS, journal)
        time.sleep(RESOURCE_RETRY_SECONDS)
