"""Fault injection for the backup checks, on the session's deployed sandbox (break, check, repair, check)."""
from __future__ import annotations

import pytest

from backup_faults import CHECKS, FAULTS, BackupFault, run_checks


@pytest.fixture(scope="module")
def backed_up(deployment):
    """The deployed sandbox; every backup check passes on it before any fault is injected."""
    if deployment.environment != "sandbox":
        pytest.skip("fault injection breaks the deployment: sandbox only")
    assert run_checks(deployment) == {}, "the fresh deployment must pass every backup check"
    return deployment


@pytest.mark.parametrize("fault", FAULTS, ids=[f.name for f in FAULTS])
def test_backup_fault_fails_only_its_checks(backed_up, fault: BackupFault):
    """The fault fails exactly its guarding checks, naming it; after the repair those checks pass again."""
    deployment = backed_up
    undo = None
    try:
        undo = fault.inject(deployment)
        failures = run_checks(deployment)
    finally:
        fault.repair(deployment, undo)
    assert set(failures) == set(fault.guarded_by), (
        f"fault '{fault.name}': expected exactly {sorted(fault.guarded_by)} to fail, got {sorted(failures)}:\n"
        + "\n".join(f"  {name}: {message}" for name, message in failures.items()))
    assert any(fault.hint.lower() in message.lower() for message in failures.values()), (
        f"no failure message for '{fault.name}' mentions {fault.hint!r}: {failures}")
    after = run_checks(deployment, set(fault.guarded_by))
    assert after == {}, f"after repairing '{fault.name}' checks still fail: {after}"


def test_every_backup_check_has_a_fault():
    """Each backup check is guarded by at least one fault."""
    assert set(CHECKS) == set().union(*(f.guarded_by for f in FAULTS))
