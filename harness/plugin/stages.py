"""How stage fixtures run: a named, timed block; a harness error ends the run once, clearly."""
from __future__ import annotations

import contextlib
from typing import Iterator

import pytest

from harness.errors import HarnessError
from harness.logblock import block
from harness.redaction import redact

HARNESS_ERROR_EXIT = 3
# The messages of harness errors that ended the run (redacted), for the failed run's report page.
HARNESS_ERRORS: list[str] = []


@contextlib.contextmanager
def stage(name: str, *, record: bool = True) -> Iterator[None]:
    """Run a stage's setup inside a timed block; a HarnessError stops the session with its message.

    The certificate records the stage as ``name``; the log shows it as "stage <name>".
    ``record=False``: the block only waits for a stage that records itself (the apply).
    """
    try:
        with block(f"stage {name}" if record else f"waiting for stage {name}", record=name if record else None):
            yield
    except HarnessError as exc:
        # A stage waiting for another's work (the instance waits for the apply) names the stage that failed.
        message = redact(f"harness error in stage {getattr(exc, 'stage', name)}: {exc}")
        HARNESS_ERRORS.append(message)
        pytest.exit(message, returncode=HARNESS_ERROR_EXIT)
