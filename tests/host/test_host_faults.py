"""Fault injection: each fault makes its own checks fail (with a helpful message) and the others pass.

One booted and provisioned sandbox (the session's `deployment`) is shared: for each
fault the test breaks the host over SSH, runs every check function, then repairs the
host by running the provisioner again (which proves that it repairs drift).
"""
from __future__ import annotations

import pytest

from crypto_faults import CRYPTO_CHECK_IDS, CRYPTO_FAULTS
from host_faults import CHECKS, FAULTS, Fault, exercise, failed, run_checks


@pytest.fixture(scope="module")
def sandbox_host(deployment):
    """The provisioned sandbox; every check passes on it before any fault is injected."""
    if deployment.environment != "sandbox":
        pytest.skip("fault injection breaks the host: sandbox only")
    assert failed(run_checks(deployment)) == {}, "the freshly provisioned sandbox must pass every check"
    return deployment


@pytest.mark.parametrize("fault", FAULTS, ids=[f.name for f in FAULTS])
def test_fault_fails_only_its_checks(sandbox_host, fault: Fault):
    """Injecting the fault fails exactly its guarding checks; the provisioner then repairs the host."""
    exercise(sandbox_host, fault)


def test_every_check_is_guarded_by_a_fault_or_listed():
    """The fault list covers the checks the issue names (a new check gets a fault, or is listed here)."""
    guarded = set().union(*(f.guarded_by for f in FAULTS + CRYPTO_FAULTS))
    unguarded = {"app_closed_from_internet"}  # the security-group firewall's own tests cover it
    assert set(CHECKS) == guarded | unguarded


def _crypto_params() -> list:
    return [pytest.param(fault, id=fault.name, marks=pytest.mark.breaks(
        *sorted({check for name in fault.guarded_by for check in CRYPTO_CHECK_IDS[name]}))) for fault in CRYPTO_FAULTS]


@pytest.mark.parametrize("fault", _crypto_params())
def test_crypto_fault_fails_only_its_checks(sandbox_host, fault: Fault):
    """A weak MAC in sshd, a CBC cipher or TLS 1.0/1.1 in Nginx fails exactly the cryptography check that guards
    it, naming the algorithm; the provisioner then repairs the host."""
    exercise(sandbox_host, fault)
