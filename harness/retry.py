"""Waits: every wait is a retry with a timeout and a description of what it awaits."""
from __future__ import annotations

import time
from typing import Callable, Optional, TypeVar

from harness.errors import HarnessError
from harness.logblock import block

T = TypeVar("T")


def wait_until(
    description: str,
    probe: Callable[[], Optional[T]],
    *,
    timeout: float,
    interval: float = 0.25,
    explain: Optional[Callable[[], str]] = None,
) -> T:
    """Call ``probe`` until it returns a truthy value, at most ``timeout`` seconds.

    Exceptions from the probe count as "not yet", except a ``HarnessError``: the
    probe found out that waiting cannot help (the emulator died, the container
    exited), so it ends the wait at once and propagates. On timeout a
    ``HarnessError`` names what was awaited, the last error, and (from
    ``explain``) the state that explains the failure.
    """
    last_error: Optional[BaseException] = None
    with block(f"waiting for {description}"):
        deadline = time.monotonic() + timeout
        while True:
            try:
                result = probe()
                if result:
                    return result
            except HarnessError:
                raise  # the probe knows waiting cannot help
            except Exception as exc:  # noqa: BLE001 - any other failure is "not yet"
                last_error = exc
            if time.monotonic() >= deadline:
                break
            time.sleep(interval)
        detail = f"; last error: {last_error}" if last_error else ""
        state = ""
        if explain is not None:
            try:
                state = "\n" + explain()
            except Exception as exc:  # noqa: BLE001
                state = f"\n(could not collect state: {exc})"
        raise HarnessError(f"timed out after {timeout:.0f} s waiting for {description}{detail}{state}")
