"""Host faults beside the ones every check runs against (test_host_faults.py), on their own deployment.

The cryptography faults (a weak MAC in sshd, a CBC cipher or old TLS in Nginx), the faults that
cannot run with every check (sudo that does not give root, the provisioner's idempotency), the
application's port opened in the security group, a rule added out of band to the security group
(which the production drift check's plan must show), and the infra checks' faults: the
deployment's resources changed through the API (tests/host/infra_faults.py).
"""
from __future__ import annotations

import pytest

from crypto_faults import CRYPTO_CHECK_IDS, CRYPTO_FAULTS
import infra_faults
import suites.test_drift as drift_suite
from fault_runner import breaks_marker, exercise, fault_params
from fault_runner import run_checks
from harness.record import RunRecord
from harness.terraform import Terraform, run_variables, terraform_env
from host_faults import CHECK_IDS, FAULTS, Fault, break_sudo, failed_checks, inject, repair, repair_sudo
from host_faults import exercise as exercise_host_fault
from suites import host_checks, service_checks

# make test (tests/conftest.py): a deployment of its own, beside test_host_faults.py's
DEPLOYMENT_GROUP = "host-edge"


def _crypto_params() -> list:
    return [pytest.param(fault, id=fault.name, marks=pytest.mark.breaks(
        *sorted({check for name in fault.guarded_by for check in CRYPTO_CHECK_IDS[name]}))) for fault in CRYPTO_FAULTS]


@pytest.mark.parametrize("fault", _crypto_params())
def test_crypto_fault_fails_only_its_checks(sandbox_host, fault: Fault):
    """A weak MAC in sshd, a CBC cipher or TLS 1.0/1.1 in Nginx fails exactly the cryptography check that guards
    it, naming the algorithm; the provisioner then repairs the host."""
    exercise_host_fault(sandbox_host, fault)


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
        failures = failed_checks(deployment)
    finally:
        ec2.revoke_security_group_ingress(GroupId=group, IpPermissions=rule)
        deployment.instance.refresh_firewall()
        repair(deployment, bind)
    assert set(failures) == APP_EDGE_CHECKS, failures
    assert f"port {port} answers from the internet" in failures["app_closed_from_internet"]
    assert failed_checks(deployment) == {}, "after revoking the rule and provisioning checks still fail"


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
    assert failed_checks(deployment) == {}, "after removing the sudoers drop-in checks still fail"


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
    assert failed_checks(deployment) == {}


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
            drift_suite.test_no_drift(None, RunRecord(drift=drift))
    finally:
        ec2.revoke_security_group_ingress(GroupId=group, IpPermissions=rule)
    assert "aws_security_group.web: update (ingress)" in str(caught.value), str(caught.value)
    after = terraform.planned_changes(deployment.run.options.tfvars, variables)
    assert after == [], f"after revoking the rule the plan still changes {after}"
    drift_suite.test_no_drift(None, RunRecord(drift=after))


@pytest.fixture(scope="module")
def infra_as_applied(sandbox_host):
    """The sandbox whose resources are as Terraform applied them: every infra check passes."""
    assert run_checks(infra_faults.CHECKS, sandbox_host) == {}, "the fresh deployment must pass every infra check"
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
