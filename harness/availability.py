"""How long a service did not answer while something happened to it (a production switch).

:class:`HealthPoller` asks ``/health`` through Nginx every ``interval`` seconds in a thread of
its own, from before the switch until after it, and keeps the longest stretch in which it did
not get a 200: from the first poll that failed to the first poll that succeeded again (or the
end of polling).
"""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any, Optional

import requests


@dataclass
class HealthPoller:
    """Polls ``url`` with ``session`` (TLS verified as the checks do) every ``interval`` seconds."""

    url: str
    session: Any  # a requests.Session
    interval: float = 0.5
    timeout: float = 1.0
    polls: int = 0
    failures: int = 0
    longest_outage: float = 0.0  # seconds without a 200
    _down_since: Optional[float] = None
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: Optional[threading.Thread] = None

    def _answers(self) -> bool:
        try:
            return self.session.get(self.url, timeout=self.timeout, allow_redirects=False).status_code == 200
        except requests.RequestException:
            return False

    def _poll_once(self) -> None:
        now = time.monotonic()
        self.polls += 1
        if self._answers():
            if self._down_since is not None:
                self.longest_outage = max(self.longest_outage, time.monotonic() - self._down_since)
                self._down_since = None
        else:
            self.failures += 1
            if self._down_since is None:
                self._down_since = now

    def _loop(self) -> None:
        while not self._stop.is_set():
            started = time.monotonic()
            self._poll_once()
            self._stop.wait(max(0.0, self.interval - (time.monotonic() - started)))

    def __enter__(self) -> "HealthPoller":
        self._thread = threading.Thread(target=self._loop, name="health-poller", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(self.timeout + self.interval + 1)
        if self._down_since is not None:  # still down at the end: counts up to now
            self.longest_outage = max(self.longest_outage, time.monotonic() - self._down_since)

    def summary(self) -> dict[str, Any]:
        """What the certificate records."""
        return {"url": self.url, "interval_seconds": self.interval, "polls": self.polls,
                "failed_polls": self.failures, "longest_unavailable_seconds": round(self.longest_outage, 2)}
