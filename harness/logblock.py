"""Named, timed log blocks ("waiting for port 22 ... finished in 2.1 s").

Every stage runs inside a block; the durations of top-level stage blocks are
kept in :data:`STAGE_TIMES` for the certificate.
"""
from __future__ import annotations

import contextlib
import logging
import time
from dataclasses import dataclass
from typing import Iterator

log = logging.getLogger("harness")


@dataclass
class StageTime:
    name: str
    seconds: float


STAGE_TIMES: list[StageTime] = []


def _say(message: str) -> None:
    # pytest shows these live (log_cli in pytest.ini).
    log.info(message)


@contextlib.contextmanager
def block(name: str, *, stage: bool = False) -> Iterator[None]:
    """Run the body as a named block; log its start, end and duration.

    With ``stage=True`` the duration is recorded in :data:`STAGE_TIMES`.
    """
    _say(f"{name} ...")
    start = time.monotonic()
    ok = False
    try:
        yield
        ok = True
    finally:
        seconds = time.monotonic() - start
        _say(f"{name} ... {'finished' if ok else 'FAILED'} in {seconds:.1f} s")
        if stage:
            STAGE_TIMES.append(StageTime(name, round(seconds, 2)))
