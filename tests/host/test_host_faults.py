"""Fault injection: each fault makes its own checks fail (with a helpful message) and the others pass.

One booted and provisioned sandbox (the session's `deployment`) is shared: for each
fault the test breaks the host over SSH, runs every check function, then repairs the
host by running the provisioner again (which proves that it repairs drift).
"""
from __future__ import annotations

import pytest

from host_faults import CHECKS, FAULTS, Fault, failed, inject, repair, run_checks


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
    deployment = sandbox_host
    password = deployment.db.password.reveal()
    try:
        inject(deployment, fault)
        failures = failed(run_checks(deployment))
    finally:
        report = repair(deployment, fault)
    assert set(failures) == set(fault.guarded_by), (
        f"fault '{fault.name}': expected exactly {sorted(fault.guarded_by)} to fail, got {sorted(failures)}:\n"
        + "\n".join(f"  {name}: {message}" for name, message in failures.items())
    )
    assert any(fault.hint.lower() in message.lower() for message in failures.values()), (
        f"no failure message for '{fault.name}' mentions {fault.hint!r}: {failures}"
    )
    assert all(password not in message for message in failures.values()), "a failure message shows the password"
    if fault.provisioner_repairs:
        assert report.changes, f"the provisioner did not notice the fault '{fault.name}' (it reported 0 changes)"
    after = failed(run_checks(deployment))
    assert after == {}, f"after repairing '{fault.name}' ({report.summary()}) checks still fail: {after}"


def test_every_check_is_guarded_by_a_fault_or_listed():
    """The fault list covers the checks the issue names (a new check gets a fault, or is listed here)."""
    guarded = set().union(*(f.guarded_by for f in FAULTS))
    unguarded = {"app_closed_from_internet"}  # the security-group firewall's own tests cover it
    assert set(CHECKS) == guarded | unguarded
