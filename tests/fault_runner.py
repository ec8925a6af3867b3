"""Break, check, repair, check: the fault runner shared by the backup and log fault tests.

A :class:`Fault` breaks a deployed sandbox one way (through the host or the emulated
API); :func:`exercise` injects it, runs every check of the suite, repairs it, and
asserts that exactly the guarding checks failed, that one of their messages names
the fault, that no message shows the database password, and that after the repair
the guarding checks pass again.
"""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Mapping, Optional, Sequence

import pytest

Checks = dict[str, Callable[[Any], Any]]


@dataclass(frozen=True)
class Fault:
    """One way to break the deployment, the checks that must catch it, and how to repair it."""

    name: str
    inject: Callable[[Any], Any]  # deployment -> anything the repair needs
    guarded_by: frozenset[str]  # names in the suite's checks that must fail; the others must pass
    hint: str  # a guarding check's message names this
    repair: Callable[[Any, Any], None]  # (deployment, what inject returned)


CONCURRENT_CHECKS = 6  # as the harness runs them at most (harness/ssh.py CHANNELS)


def run_checks(checks: Checks, deployment: Any, names: Optional[set[str]] = None) -> dict[str, str]:
    """Run ``checks`` (all, or ``names``) together in threads, as a certification runs those that wait; the
    failed ones and their messages (any error other than an AssertionError is raised)."""
    chosen = {name: check for name, check in checks.items() if names is None or name in names}

    def failure(check: Callable[[Any], Any]) -> Optional[str]:
        try:
            check(deployment)
        except AssertionError as error:
            return str(error)
        return None

    with ThreadPoolExecutor(max_workers=CONCURRENT_CHECKS, thread_name_prefix="fault check") as pool:
        futures = {name: pool.submit(failure, check) for name, check in chosen.items()}
        outcomes = {name: future.result() for name, future in futures.items()}
    return {name: message for name, message in outcomes.items() if message is not None}


def exercise(checks: Checks, deployment: Any, fault: Fault) -> None:
    """Inject ``fault``, run every check, repair; assert exactly its checks failed and pass after the repair."""
    undo = None
    try:
        undo = fault.inject(deployment)
        failures = run_checks(checks, deployment)
    finally:
        fault.repair(deployment, undo)
    password = deployment.db.password.reveal() if deployment.db.password is not None else None
    shown = [name for name, message in failures.items() if password and password in message]
    assert not shown, f"fault '{fault.name}': the failure message of {shown} shows the database password"
    assert set(failures) == set(fault.guarded_by), (
        f"fault '{fault.name}': expected exactly {sorted(fault.guarded_by)} to fail, got {sorted(failures)}:\n"
        + "\n".join(f"  {name}: {message}" for name, message in failures.items()))
    assert any(fault.hint.lower() in message.lower() for message in failures.values()), (
        f"no failure message for '{fault.name}' mentions {fault.hint!r}: {failures}")
    after = run_checks(checks, deployment, set(fault.guarded_by))
    assert after == {}, f"after repairing '{fault.name}' checks still fail: {after}"


def every_check_guarded(checks: Checks, faults: list[Fault]) -> set[str]:
    """The checks no fault guards (empty: every check can be shown to fail)."""
    return set(checks) - set().union(*(f.guarded_by for f in faults))


def breaks_marker(guarded_by: Iterable[str], check_ids: Mapping[str, Sequence[str]]) -> Any:
    """The ``breaks`` marker (make faults) for checks named as in a suite's CHECKS: the certification
    check node ids that ``check_ids`` gives for each name."""
    unknown = sorted(set(guarded_by) - set(check_ids))
    if unknown:
        raise KeyError(f"no certification check id for {unknown}: add them to the module's CHECK_IDS")
    return pytest.mark.breaks(*sorted({check for name in guarded_by for check in check_ids[name]}))


def fault_params(faults: Iterable[Any], check_ids: Mapping[str, Sequence[str]]) -> list[Any]:
    """Each fault (anything with ``name`` and ``guarded_by``) as a ``pytest.param`` with its name as id and
    the ``breaks`` marker of the certification checks it makes fail: one source of truth for both."""
    return [pytest.param(fault, id=fault.name, marks=breaks_marker(fault.guarded_by, check_ids)) for fault in faults]
