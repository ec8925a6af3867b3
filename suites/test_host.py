"""Certification: the instance's OS, first-boot setup (user data), SSH hardening and exposure."""
from __future__ import annotations

import pytest

from harness.sandbox.instance import rules_from_api
from suites import host_checks



@pytest.mark.sandbox
@pytest.mark.staging
@pytest.mark.production
def test_os_is_debian_13(host, run):
    """The instance runs Debian 13, the OS spec.json declares (instance.os_id, instance.os_version_id)."""
    host_checks.check_os(host, run.spec)


@pytest.mark.sandbox
@pytest.mark.staging
@pytest.mark.production
def test_user_data_finished(host, run):
    """The user data ran to its end (marker file exists) and its log reports no error."""
    host_checks.check_user_data_finished(host, run.spec)


@pytest.mark.sandbox
@pytest.mark.staging
@pytest.mark.production
def test_nix_installed(host):
    """Nix is installed by the user data and runs (`nix --version`)."""
    host_checks.check_nix_installed(host)


@pytest.mark.sandbox
@pytest.mark.staging
@pytest.mark.production
def test_deploy_user(host, run, instance):
    """The deploy user exists, has the run's key in authorized_keys, and has no password (locked)."""
    host_checks.check_deploy_user(host, instance.ssh_user, run.keypair.public_openssh)


@pytest.mark.sandbox
@pytest.mark.staging
@pytest.mark.production
def test_deploy_user_sudo(host, instance):
    """The deploy user runs commands as root through sudo without a password (what deployment needs)."""
    host_checks.check_deploy_user_sudo(host, instance.ssh_user)


@pytest.mark.sandbox
@pytest.mark.staging
@pytest.mark.production
def test_sshd_hardened(host):
    """Effective sshd settings (`sshd -T`): PermitRootLogin no, PasswordAuthentication no,
    KbdInteractiveAuthentication no."""
    host_checks.check_sshd_hardened(host)


@pytest.mark.sandbox
@pytest.mark.staging
@pytest.mark.production
def test_exactly_allowed_ports_answer(host, instance, aws, infra):
    """From the internet exactly the ports answer that the security groups allow and something listens on:
    22 answers, 5432 never does, a listening port the groups do not allow does not."""
    rules = rules_from_api(aws.client("ec2"), infra.instance_id)
    exposure = host_checks.measure_exposure(host, instance.internet, rules)
    host_checks.check_exposure(exposure)
