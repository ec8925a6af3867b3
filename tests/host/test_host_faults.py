"""Fault injection: each fault makes its own checks fail (with a helpful message) and the others pass.

One booted and provisioned sandbox (this module's `deployment`) is shared: for each fault the
test breaks the host over SSH, runs every check function, then repairs the host by running the
provisioner again (which proves that it repairs drift). The faults that cannot run with every
check, the cryptography faults and the infra checks' faults run on a second deployment
(test_host_edge_faults.py), so that the two halves run side by side under `make test`.
"""
from __future__ import annotations

import pytest

from crypto_faults import CRYPTO_FAULTS
from fault_runner import fault_params
from host_faults import CHECK_IDS, CHECKS, FAULTS, Fault
from host_faults import exercise as exercise_host_fault


@pytest.mark.parametrize("fault", fault_params(FAULTS, CHECK_IDS))
def test_fault_fails_only_its_checks(sandbox_host, fault: Fault):
    """Injecting the fault fails exactly its guarding checks; the provisioner then repairs the host."""
    exercise_host_fault(sandbox_host, fault)


def test_every_check_is_guarded_by_a_fault_or_listed():
    """Every check function has its certification check id, and a fault here or a test listed below."""
    guarded = set().union(*(f.guarded_by for f in FAULTS + CRYPTO_FAULTS))
    elsewhere = {
        "app_closed_from_internet",  # test_app_port_opened_in_the_security_group_answers_from_the_internet
        "deploy_user_sudo",  # test_sudo_that_does_not_give_root_fails_the_sudo_check
    }
    assert set(CHECKS) == guarded | elsewhere
    assert set(CHECK_IDS) == set(CHECKS), "every check function names its certification check (CHECK_IDS)"
