"""The canary writer of the DR drill: timestamped rows added through the application's API.

A background thread posts one item every ``interval`` seconds to ``POST /items``
through Nginx, named ``<prefix>-<seq>-<epoch ms>``, and records which writes the
application acknowledged (201) and when. After the recovery the rows that came
back are compared with the acknowledged ones: what is missing measures the data
lost (RPO), and every row older than the newest restored one must be intact.
"""
from __future__ import annotations

import logging
import re
import threading
import time
from dataclasses import dataclass
from typing import Any, Optional

import requests

log = logging.getLogger("harness.canary")


@dataclass(frozen=True)
class CanaryRow:
    """One write of the canary: its name and quantity, and when the application acknowledged it."""

    seq: int
    name: str
    quantity: int
    written_at: float  # epoch seconds when the write was sent
    acknowledged_at: Optional[float]  # epoch seconds of the 201, None when it was not acknowledged


class CanaryWriter:
    """Writes canary rows through the application's API until stopped."""

    def __init__(self, base_url: str, prefix: str, interval: float = 0.2, timeout: float = 2.0):
        self.base_url = base_url.rstrip("/")
        self.prefix = prefix
        self.interval = interval
        self.timeout = timeout
        self.rows: list[CanaryRow] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="canary-writer", daemon=True)
        self._session = requests.Session()

    def start(self) -> "CanaryWriter":
        self._thread.start()
        return self

    def stop(self) -> list[CanaryRow]:
        """Stop writing; the rows written so far."""
        self._stop.set()
        self._thread.join(timeout=self.timeout + 5)
        self._session.close()
        return list(self.rows)

    def acknowledged(self) -> list[CanaryRow]:
        return [row for row in self.rows if row.acknowledged_at is not None]

    def _run(self) -> None:
        seq = 0
        while not self._stop.is_set():
            seq += 1
            written_at = time.time()
            name = f"{self.prefix}-{seq:06d}-{int(written_at * 1000)}"
            quantity = seq % 997
            acknowledged: Optional[float] = None
            try:
                response = self._session.post(f"{self.base_url}/items", json={"name": name, "quantity": quantity},
                                              timeout=self.timeout, allow_redirects=False)
                if response.status_code == 201:
                    acknowledged = time.time()
            except requests.RequestException:
                pass  # the instance is gone: the write is lost, which is what the drill measures
            self.rows.append(CanaryRow(seq, name, quantity, written_at, acknowledged))
            self._stop.wait(self.interval)


def written_at_of(name: str, prefix: str) -> Optional[float]:
    """The write time encoded in a canary row's name, or None for another row."""
    match = re.fullmatch(rf"{re.escape(prefix)}-(\d+)-(\d+)", name)
    return int(match.group(2)) / 1000 if match else None


def rows_present(items: list[dict[str, Any]], prefix: str) -> dict[str, int]:
    """Canary rows (name -> quantity) among the application's items."""
    return {str(item["name"]): int(item["quantity"]) for item in items
            if written_at_of(str(item.get("name", "")), prefix) is not None}
