"""Fault injection for the backup checks, on the session's deployed sandbox (break, check, repair, check)."""
from __future__ import annotations

import pytest

from backup_faults import CHECK_IDS, CHECKS, FAULTS
from fault_runner import Fault, every_check_guarded, exercise, fault_params, run_checks


@pytest.fixture(scope="module")
def backed_up(deployment):
    """The deployed sandbox; every backup check passes on it before any fault is injected."""
    if deployment.environment != "sandbox":
        pytest.skip("fault injection breaks the deployment: sandbox only")
    assert run_checks(CHECKS, deployment) == {}, "the fresh deployment must pass every backup check"
    return deployment


@pytest.mark.parametrize("fault", fault_params(FAULTS, CHECK_IDS))
def test_backup_fault_fails_only_its_checks(backed_up, fault: Fault):
    """The fault fails exactly its guarding checks, naming it; after the repair those checks pass again."""
    exercise(CHECKS, backed_up, fault)


def test_every_backup_check_has_a_fault():
    """Each backup check is guarded by at least one fault."""
    assert every_check_guarded(CHECKS, FAULTS) == set()
    assert set(CHECK_IDS) == set(CHECKS), "every check function names its certification check (CHECK_IDS)"
