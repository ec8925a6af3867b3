"""Named, timed log blocks ("waiting for port 22 ... finished in 2.1 s").

Every stage runs inside a block; blocks given a ``record`` name are kept in
:data:`STAGE_TIMES` for the certificate: the stages (``aws``, ``infra``,
``instance``, ``host``) and the teardown steps (``terraform-destroy``,
``instance-remove``, ``moto-stop``), each with its start and end time.
"""
from __future__ import annotations

import contextlib
import datetime as dt
import logging
import time
from dataclasses import dataclass
from typing import Iterator, Optional

log = logging.getLogger("harness")

STAGE = "stage"
TEARDOWN = "teardown"


@dataclass
class StageTime:
    """One record of the run's timeline: a stage or a teardown step."""

    name: str  # the stage's own name (infra, host ...) or the teardown step's (terraform-destroy ...)
    seconds: float  # duration, measured on the monotonic clock
    started_at: str = ""  # ISO-8601 UTC with milliseconds, e.g. 2026-11-27T07:00:01.250Z
    ended_at: str = ""
    kind: str = STAGE  # stage | teardown | checks (the span of the certification checks)
    outcome: str = "finished"  # finished | failed


STAGE_TIMES: list[StageTime] = []


def utc_iso(epoch: float) -> str:
    """``epoch`` seconds as ISO-8601 UTC with milliseconds and a ``Z``."""
    moment = dt.datetime.fromtimestamp(epoch, dt.timezone.utc)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _say(message: str) -> None:
    # pytest shows these live (log_cli in pytest.ini).
    log.info(message)


@contextlib.contextmanager
def block(label: str, *, record: Optional[str] = None, kind: str = STAGE, stage: bool = False) -> Iterator[None]:
    """Run the body as a named block; log its start, end and duration under ``label``.

    With ``record`` (or ``stage=True``, which records under the label itself) the block
    is appended to :data:`STAGE_TIMES` as a ``kind`` record (stage or teardown) with its
    start and end time; the label stays in the log only.
    """
    _say(f"{label} ...")
    started_at = time.time()
    start = time.monotonic()
    ok = False
    try:
        yield
        ok = True
    finally:
        seconds = time.monotonic() - start
        _say(f"{label} ... {'finished' if ok else 'FAILED'} in {seconds:.1f} s")
        name = record or (label if stage else None)
        if name:
            STAGE_TIMES.append(StageTime(
                name, round(seconds, 2), utc_iso(started_at), utc_iso(started_at + seconds), kind,
                "finished" if ok else "failed",
            ))
