"""pytest hooks that keep secrets out of what pytest itself prints and writes.

Log records are redacted when they are made (harness/redaction.py). What pytest
renders on its own is not a log record: the assertion's introspection (``assert
a == b`` shows both sides), tracebacks, and the captured output of a failed test.
They reach the terminal, the JUnit XML and the certificate's failure messages, so:

* a ``Secret`` compared in an ``assert`` is explained as ``Secret('***')``, and the
  other side of the comparison is redacted too;
* every test report's failure text and captured sections are redacted before any
  reporter sees them (every registered secret and any private key becomes ``***``).
"""
from __future__ import annotations

import dataclasses
from typing import Any, Optional

import pytest
from _pytest._io.saferepr import saferepr

from harness.redaction import redact
from harness.secrets import Secret


def pytest_assertrepr_compare(config: pytest.Config, op: str, left: object, right: object) -> Optional[list[str]]:
    """Explain a comparison with a ``Secret`` on either side without showing any secret value."""
    if not (isinstance(left, Secret) or isinstance(right, Secret)):
        return None
    return [f"{_shown(left)} {op} {_shown(right)}", "(a Secret's value is never shown)"]


def _shown(value: object) -> str:
    return repr(value) if isinstance(value, Secret) else redact(saferepr(value))


class RedactedLongrepr:
    """A failure's text with every secret masked; keeps the crash line pytest's reporters quote."""

    def __init__(self, text: str, reprcrash: Any):
        self.text = text
        self.reprcrash = reprcrash

    def toterminal(self, out: Any) -> None:
        """Write the redacted text (pytest's terminal reporter calls this)."""
        for line in self.text.splitlines():
            out.line(line)

    def __str__(self) -> str:
        return self.text


def redact_report(report: pytest.TestReport) -> None:
    """Mask every secret in ``report``'s failure text and captured sections (in place)."""
    longrepr = report.longrepr
    if isinstance(longrepr, tuple) and len(longrepr) == 3:  # a skip: (path, line, reason)
        report.longrepr = (longrepr[0], longrepr[1], redact(str(longrepr[2])))
    elif longrepr is not None:
        text = str(longrepr)
        masked = redact(text)
        if masked != text:
            crash = getattr(longrepr, "reprcrash", None)
            if crash is not None and dataclasses.is_dataclass(crash):
                crash = dataclasses.replace(crash, message=redact(crash.message))
            report.longrepr = RedactedLongrepr(masked, crash)  # type: ignore[assignment]
    report.sections = [(title, redact(content)) for title, content in report.sections]


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    """Every test report is redacted before the terminal, the JUnit XML or the certificate sees it."""
    outcome = yield
    redact_report(outcome.get_result())
