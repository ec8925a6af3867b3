"""Checks that mostly wait run together: a check marked ``concurrent`` starts early, in its own thread.

A restore, a probe that waits for a dropped connection to time out, a re-run of the provisioner:
each of these spends seconds waiting on the host or the network, not on this machine. Marked
``@pytest.mark.concurrent``, such a check starts in a daemon thread the moment every fixture it
takes exists (they must all be session-scoped: the deployment, the host...), while pytest goes on
with the other checks. When pytest reaches the check's test, the test waits for that thread and
reports its outcome as its own: its pass, or its ``AssertionError`` with the check's message.

The certificate records the check's own time in its thread (``started``/``ended`` in the report's
user properties), not the test's wait for it, nor the thread's waits for a stage (``not_counted``:
``deployment.infra`` waiting for the apply). When the fixture that started the threads is torn down (a finished
run, a failed stage, an interrupt), the threads still running get a short grace to end; a thread
left after it is abandoned (daemon: it cannot keep the process alive) and logged.
"""
from __future__ import annotations

import contextlib
import logging
import threading
import time
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field
from typing import Any, Iterator, Optional

import pytest

from harness.errors import HarnessError
from harness.plugin.core import CONCURRENT_MARKER as MARKER
from harness.plugin.core import CONCURRENT_TIMES as TIMES

log = logging.getLogger("harness.concurrent")

MARKER_TEXT = ("a check that mostly waits (restores, dropped-connection timeouts, a provisioner re-run): it starts "
               "in its own thread once its session fixtures exist; its test reports the thread's outcome")
RESULT_TIMEOUT = 900.0  # seconds a test waits for its check's thread (each check has its own, shorter, timeouts)
TEARDOWN_GRACE = 10.0  # seconds the threads still running get when their fixtures are torn down


_waits = threading.local()  # seconds the current thread spent in not_counted()


@contextlib.contextmanager
def not_counted() -> Iterator[None]:
    """Time in this block is a wait for a stage (the apply), not the check's own: a check in a thread has it
    taken off its seconds, as pytest leaves a test's set-up out of its call."""
    started = time.monotonic()
    try:
        yield
    finally:
        _waits.seconds = getattr(_waits, "seconds", 0.0) + time.monotonic() - started


@dataclass
class ConcurrentCheck:
    """One marked check: its item, and its thread's result once started."""

    item: pytest.Function
    future: Optional[Future] = None
    times: list[float] = field(default_factory=list)  # epoch seconds: started, ended

    @property
    def argnames(self) -> tuple[str, ...]:
        return tuple(self.item._fixtureinfo.argnames)

    def argument(self, name: str) -> tuple[bool, Any]:
        """(available, value) of one of the check's arguments: a parameter, or a session fixture already set up."""
        callspec = getattr(self.item, "callspec", None)
        if callspec is not None and name in callspec.params:
            return True, callspec.params[name]
        definitions = self.item._fixtureinfo.name2fixturedefs.get(name) or ()
        if not definitions:
            return False, None
        definition = definitions[-1]
        cached = getattr(definition, "cached_result", None)
        if definition.scope != "session" or cached is None or cached[2] is not None:
            return False, None  # not set up (yet), or its set-up failed
        return True, cached[0]

    def start(self) -> bool:
        """Start the check's thread when every argument is available; True when it runs (or already did)."""
        if self.future is not None:
            return True
        arguments = {}
        for name in self.argnames:
            available, value = self.argument(name)
            if not available:
                return False
            arguments[name] = value
        self.future = Future()
        self.future.set_running_or_notify_cancel()
        thread = threading.Thread(target=self._run, args=(arguments,), name=f"check {self.item.name}", daemon=True)
        thread.start()
        return True

    def _run(self, arguments: dict[str, Any]) -> None:
        assert self.future is not None
        started = time.time()
        _waits.seconds = 0.0
        try:
            result = self.item.obj(**arguments)
        except BaseException as exc:  # the test re-raises it: an AssertionError fails it, others error it
            self.times.extend([started + _waits.seconds, time.time()])
            self.future.set_exception(exc)
        else:
            self.times.extend([started + _waits.seconds, time.time()])
            self.future.set_result(result)


CHECKS = pytest.StashKey[list[ConcurrentCheck]]()


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", f"{MARKER}: {MARKER_TEXT}")
    config.stash[CHECKS] = []


def session_scoped_only(item: pytest.Function) -> bool:
    """Whether every argument of ``item`` is a parameter or a session-scoped fixture."""
    callspec = getattr(item, "callspec", None)
    for name in item._fixtureinfo.argnames:
        if callspec is not None and name in callspec.params:
            continue
        definitions = item._fixtureinfo.name2fixturedefs.get(name) or ()
        if not definitions or definitions[-1].scope != "session":
            return False
    return True


@pytest.hookimpl(trylast=True)  # after deselection: only the checks that will run start early
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    checks = []
    for item in items:
        if not item.get_closest_marker(MARKER):
            continue
        if not isinstance(item, pytest.Function) or not session_scoped_only(item):
            raise pytest.UsageError(f"{item.nodeid} is marked concurrent but takes a fixture that is not "
                                    "session-scoped: it could not start before its test; drop the marker")
        checks.append(ConcurrentCheck(item))
    config.stash[CHECKS] = checks


@pytest.hookimpl(wrapper=True)
def pytest_fixture_setup(fixturedef: pytest.FixtureDef, request: pytest.FixtureRequest) -> Any:
    """After a session fixture is set up, start every marked check whose fixtures now all exist."""
    result = yield
    if fixturedef.scope == "session":
        started = [check for check in request.config.stash.get(CHECKS, [])
                   if check.future is None and check.start()]
        if started:
            log.info("started %d check(s) that mostly wait, in threads: %s", len(started),
                     ", ".join(check.item.name for check in started))
            fixturedef.addfinalizer(lambda: end_threads(started))
    return result


def end_threads(checks: list[ConcurrentCheck]) -> None:
    """Give the checks' threads still running a short grace before their fixtures are torn down."""
    deadline = time.monotonic() + TEARDOWN_GRACE
    for check in checks:
        assert check.future is not None
        try:
            check.future.exception(timeout=max(0.0, deadline - time.monotonic()))
        except FutureTimeout:
            log.warning("check %s still running while its fixtures are torn down: abandoned", check.item.nodeid)


@pytest.hookimpl(tryfirst=True)
def pytest_pyfunc_call(pyfuncitem: pytest.Function) -> Optional[bool]:
    """A started check's test waits for its thread and reports its outcome; an unstarted one runs here."""
    check = next((c for c in pyfuncitem.config.stash.get(CHECKS, []) if c.item is pyfuncitem), None)
    if check is None or check.future is None:
        return None
    try:
        check.future.result(timeout=RESULT_TIMEOUT)
    except FutureTimeout:
        raise HarnessError(f"{pyfuncitem.nodeid} did not finish within {RESULT_TIMEOUT:.0f} s in its thread") from None
    finally:
        if len(check.times) == 2:
            pyfuncitem.user_properties.append((TIMES, tuple(check.times)))
    return True
