"""Fault injection: each fault makes its own checks fail (with a helpful message) and the others pass.

One booted and provisioned sandbox (the session's `deployment`) is shared: for each
fault the test breaks the host over SSH, runs every check function, then repairs the
host by running the provisioner again (which proves that it repairs drift). The same
deployment also takes the faults that cannot run with every check (sudo that does not
give root, the provisioner's idempotency), a rule added out of band to its security
group, which the production drift check's plan must show, and the infra checks' faults:
its resources changed through the API (tests/host/infra_faults.py).
"""
from __future__ import annotations

import pytest

import infra_faults
import suites.test_drift as drift_suite
from fault_runner import breaks_marker, exercise, fault_params
from fault_runner import run_checks as run_suite_checks
from harness.record import RunRecord
from harness.terraform import Terraform, run_variables, terraform_env
from host_faults import (CHECK_IDS, CHECKS, FAULTS, Fault, break_sudo, failed, inject, repair, repair_sudo,
                         run_checks)
from suites import host_checks, service_checks


@pytest.fixture(scope="module")
def sandbox_host(deployment):
    """The provisioned sandbox; every check passes on it before any fault is injected."""
    if deployment.environment != "sandbox":
        pytest.skip("fault injection breaks the host: sandbox only")
    assert failed(run_checks(deployment)) == {}, "the freshly provisioned sandbox must pass every check"
    return deployment


@pytest.mark.parametrize("fault", fault_params(FAULTS, CHECK_IDS))
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
    how = report.summary() if report is not None else "its undo"
    assert after == {}, f"after repairing '{fault.name}' ({how}) checks still fail: {after}"


APP_EDGE_CHECKS = {"app_loopback_only", "app_closed_from_internet"}


@pytest.mark.breaks(*breaks_marker(APP_EDGE_CHECKS, CHECK_IDS).args)
def test_app_port_opened_in_the_security_group_answers_from_the_internet(sandbox_host):
    """The application bound to 0.0.0.0 and its port opened to the world in the security group (through the
    API; the sandbox edge firewall reads the groups again): exactly the loopback and the internet checks of the
    application's port fail; with the rule revoked and the host provisioned again every check passes."""
    deployment = sandbox_host
    bind = next(fault for fault in FAULTS if fault.name == "the app bound to 0.0.0.0")
    ec2, group, port = deployment.aws.client("ec2"), deployment.infra.security_group_id, deployment.spec["app"]["port"]
    rule = [{"IpProtocol": "tcp", "FromPort": port, "ToPort": port,
             "IpRanges": [{"CidrIp": "0.0.0.0/0", "Description": "the app port opened (fault)"}]}]
    try:
        inject(deployment, bind)
        ec2.authorize_security_group_ingress(GroupId=group, IpPermissions=rule)
        deployment.instance.refresh_firewall()
        failures = failed(run_checks(deployment))
    finally:
        ec2.revoke_security_group_ingress(GroupId=group, IpPermissions=rule)
        deployment.instance.refresh_firewall()
        repair(deployment, bind)
    assert set(failures) == APP_EDGE_CHECKS, failures
    assert f"port {port} answers from the internet" in failures["app_closed_from_internet"]
    assert failed(run_checks(deployment)) == {}, "after revoking the rule and provisioning checks still fail"


@pytest.mark.breaks(*breaks_marker({"deploy_user_sudo"}, CHECK_IDS).args)
def test_sudo_that_does_not_give_root_fails_the_sudo_check(sandbox_host):
    """A sudoers drop-in that runs the deploy user's commands as nobody fails the sudo check, naming the user;
    once it is removed the check passes and so does every other check.

    Not in FAULTS: with sudo not giving root, every check that asks the host as root is wrong as well."""
    deployment = sandbox_host
    try:
        break_sudo(deployment)
        with pytest.raises(AssertionError) as caught:
            host_checks.check_deploy_user_sudo(deployment.host, deployment.instance.ssh_user)
    finally:
        repair_sudo(deployment)
    assert f"sudo as {deployment.instance.ssh_user} does not give root" in str(caught.value)
    assert "as nobody" in str(caught.value), str(caught.value)
    assert failed(run_checks(deployment)) == {}, "after removing the sudoers drop-in checks still fail"


@pytest.mark.breaks("suites/test_services.py::test_provisioning_is_idempotent")
def test_drift_on_the_host_fails_the_idempotency_check(sandbox_host):
    """A unit disabled out of band between two provisioner runs: the idempotency check fails naming the change
    the provisioner had to make; the run it made repaired the host, so the check passes the next time."""
    deployment = sandbox_host
    deployment.ssh.sudo("systemctl disable --quiet nginx.service")
    try:
        service_checks.check_provisioning_idempotent(deployment)
    except AssertionError as error:
        message = str(error)  # the provisioner run that found the change also made it: the host is repaired
    except BaseException:
        repair(deployment)
        raise
    else:
        repair(deployment)
        pytest.fail("the idempotency check passed although nginx.service had been disabled out of band")
    assert "enabled nginx.service" in message, message
    service_checks.check_provisioning_idempotent(deployment)
    assert failed(run_checks(deployment)) == {}


@pytest.mark.breaks("suites/test_drift.py::test_no_drift")
def test_rule_added_out_of_band_shows_as_drift(sandbox_host):
    """An ingress rule added through the API behind Terraform's back: the drift check (the plan the production
    stage makes) fails naming the security group and its ingress; once revoked the plan is clean again."""
    deployment = sandbox_host
    ec2, group = deployment.aws.client("ec2"), deployment.infra.security_group_id
    terraform = Terraform(deployment.infra.workdir, terraform_env(deployment.run.run_dir, deployment.aws.env))
    variables = run_variables(deployment.environment, deployment.run.run_id, deployment.run.keypair.public_openssh,
                              persistent=False)
    rule = [{"IpProtocol": "tcp", "FromPort": 8443, "ToPort": 8443,
             "IpRanges": [{"CidrIp": "198.51.100.0/24", "Description": "added out of band (fault)"}]}]
    ec2.authorize_security_group_ingress(GroupId=group, IpPermissions=rule)
    try:
        drift = terraform.planned_changes(deployment.run.options.tfvars, variables)
        with pytest.raises(AssertionError) as caught:
            drift_suite.test_no_drift(deployment.infra, RunRecord(drift=drift))
    finally:
        ec2.revoke_security_group_ingress(GroupId=group, IpPermissions=rule)
    assert "aws_security_group.web: update (ingress)" in str(caught.value), str(caught.value)
    after = terraform.planned_changes(deployment.run.options.tfvars, variables)
    assert after == [], f"after revoking the rule the plan still changes {after}"
    drift_suite.test_no_drift(deployment.infra, RunRecord(drift=after))


def test_every_check_is_guarded_by_a_fault_or_listed():
    """Every check function has its certification check id, and a fault here or a test listed below."""
    guarded = set().union(*(f.guarded_by for f in FAULTS))
    elsewhere = {
        "app_closed_from_internet",  # test_app_port_opened_in_the_security_group_answers_from_the_internet
        "deploy_user_sudo",  # test_sudo_that_does_not_give_root_fails_the_sudo_check
    }
    assert set(CHECKS) == guarded | elsewhere
    assert set(CHECK_IDS) == set(CHECKS), "every check function names its certification check (CHECK_IDS)"


@pytest.fixture(scope="module")
def infra_as_applied(sandbox_host):
    """The sandbox whose resources are as Terraform applied them: every infra check passes."""
    assert run_suite_checks(infra_faults.CHECKS, sandbox_host) == {}, "the fresh deployment must pass every infra check"
    return sandbox_host


@pytest.mark.parametrize("fault", fault_params(infra_faults.FAULTS, infra_faults.CHECK_IDS))
def test_infra_fault_fails_only_its_checks(infra_as_applied, fault: infra_faults.Fault):
    """A resource changed through the API behind Terraform's back fails exactly its infra checks, naming the
    change; once put back those checks pass again."""
    exercise(infra_faults.CHECKS, infra_as_applied, fault)


def test_every_infra_check_has_a_fault():
    """Each infra check is guarded by a fault here, or by a broken copy of terraform/ applied in
    tests/integration/test_infra_certification.py (what the API cannot change afterwards)."""
    guarded = set().union(*(fault.guarded_by for fault in infra_faults.FAULTS))
    applied_broken = {"test_ssh_not_open_to_the_world", "test_root_volume_encrypted_and_sized",
                      "test_user_data_is_the_repository_script"}
    assert set(infra_faults.CHECKS) == guarded | applied_broken
