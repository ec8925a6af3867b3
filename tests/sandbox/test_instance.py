"""The sandbox instance, booted for an instance in the API: boot time, host checks, and faults they must catch.

One container is shared by these tests; each fault test restores what it changed.
"""
from __future__ import annotations

import contextlib
import shlex
from typing import Iterator

import pytest

from harness.sandbox import firewall
from harness.sandbox.instance import apply_firewall, rules_from_api
from harness.spec import load_spec
from sandbox_support import BOOT_SECONDS, USER_DATA
from suites import host_checks

pytestmark = pytest.mark.timeout(300)


@contextlib.contextmanager
def listener(ssh, port: int) -> Iterator[None]:
    """Something listening on ``port`` on all addresses of the instance (a transient systemd unit)."""
    unit = f"harness-test-listen-{port}"
    ssh.sudo(f"systemd-run --unit={unit} --quiet python3 -m http.server {port} --bind 0.0.0.0")
    try:
        for _ in range(50):
            if port in host_checks.public_listening_ports(ssh.host):
                break
            ssh.run("sleep 0.1")
        yield
    finally:
        ssh.sudo(f"systemctl stop {unit}", check=False)


def test_boot_within_target(booted):
    """With the image cached, boot to SSH and cloud-init done takes at most 15 s."""
    assert BOOT_SECONDS["shared"] <= 15, f"the instance stage took {BOOT_SECONDS['shared']:.1f} s"


def test_seed_is_the_api_user_data(booted):
    """cloud-init got exactly terraform/user_data.sh, as read back from the API."""
    assert (booted.rootfs / "var/lib/cloud/seed/nocloud/user-data").read_bytes() == USER_DATA.read_bytes()


def test_host_checks_pass(booted, deploy_ssh, api_instance):
    """Every host check passes on a freshly booted instance."""
    spec = load_spec()
    host_checks.check_os(deploy_ssh.host, spec)
    host_checks.check_user_data_finished(deploy_ssh.host, spec)
    assert "nix" in host_checks.check_nix_installed(deploy_ssh.host).lower()
    host_checks.check_deploy_user(deploy_ssh.host, "deploy", api_instance.keypair.public_openssh)
    host_checks.check_sshd_hardened(deploy_ssh.host)
    exposure = host_checks.measure_exposure(deploy_ssh.host, booted.internet, booted.rules, timeout=1)
    host_checks.check_exposure(exposure)
    assert 22 in exposure.answered and 5432 not in exposure.answered


def test_deploy_user_key_only(deploy_ssh, api_instance):
    """The deploy key is the run's; another key is refused (sanity of the key check)."""
    with pytest.raises(AssertionError, match="public key"):
        host_checks.check_deploy_user(deploy_ssh.host, "deploy", "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOther other")


def test_password_authentication_on_fails_the_sshd_check(deploy_ssh):
    """Fault: PasswordAuthentication left on (a drop-in that sorts first) -> the sshd check fails."""
    drop_in = "/etc/ssh/sshd_config.d/00-0-fault.conf"
    deploy_ssh.put_file(drop_in, b"PasswordAuthentication yes\n")
    try:
        deploy_ssh.sudo("systemctl reload ssh")
        with pytest.raises(AssertionError, match="passwordauthentication is 'yes'"):
            host_checks.check_sshd_hardened(deploy_ssh.host)
    finally:
        deploy_ssh.sudo(f"rm -f {drop_in} && systemctl reload ssh")
    host_checks.check_sshd_hardened(deploy_ssh.host)


def test_password_on_deploy_user_fails_the_check(deploy_ssh, api_instance):
    """Fault: the deploy user has a password -> the deploy-user check fails."""
    original = deploy_ssh.sudo("getent shadow deploy").stdout.split(":")[1]
    deploy_ssh.sudo("echo 'deploy:Sandbox-Fault-1' | chpasswd")
    try:
        with pytest.raises(AssertionError, match="has a password"):
            host_checks.check_deploy_user(deploy_ssh.host, "deploy", api_instance.keypair.public_openssh)
    finally:
        deploy_ssh.sudo(f"usermod -p {shlex.quote(original)} deploy")
    host_checks.check_deploy_user(deploy_ssh.host, "deploy", api_instance.keypair.public_openssh)


def test_missing_marker_fails_the_user_data_check(deploy_ssh):
    """Fault: the user data did not reach its end (no marker) -> the check fails."""
    spec = load_spec()
    marker = spec["user_data"]["marker"]
    deploy_ssh.sudo(f"mv {marker} {marker}.moved")
    try:
        with pytest.raises(AssertionError, match="did not finish"):
            host_checks.check_user_data_finished(deploy_ssh.host, spec)
    finally:
        deploy_ssh.sudo(f"mv {marker}.moved {marker}")
    host_checks.check_user_data_finished(deploy_ssh.host, spec)


def test_port_80_rule_removed_closes_80(booted, deploy_ssh, api_instance):
    """Changing the security group in the API changes what the internet sees (port 80 removed -> closed)."""
    ec2 = api_instance.ec2
    permission = {"IpProtocol": "tcp", "FromPort": 80, "ToPort": 80, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}
    with listener(deploy_ssh, 80):
        assert booted.internet.is_open(80), "80 listens and is allowed, but does not answer"
        ec2.revoke_security_group_ingress(GroupId=api_instance.group_id, IpPermissions=[permission])
        try:
            booted.refresh_firewall()
            assert not booted.internet.is_open(80, timeout=1), "80 answers after its rule was removed"
            assert booted.internet.is_open(22), "removing the 80 rule must not close SSH"
            exposure = host_checks.measure_exposure(deploy_ssh.host, booted.internet, booted.rules, timeout=1)
            assert 80 in exposure.listening and 80 not in exposure.answered
            host_checks.check_exposure(exposure)
        finally:
            ec2.authorize_security_group_ingress(GroupId=api_instance.group_id, IpPermissions=[permission])
            booted.refresh_firewall()
        assert booted.internet.is_open(80), "80 does not answer after its rule came back"


def test_listening_port_not_in_the_groups_is_unreachable(booted, deploy_ssh):
    """A port something listens on but the groups do not allow does not answer from the internet."""
    with listener(deploy_ssh, 8081):
        assert not booted.internet.is_open(8081, timeout=1)
        # The instance itself answers on it (the firewall, not a missing listener, closes it).
        assert deploy_ssh.run("python3 -c \"import socket; socket.create_connection(('127.0.0.1', 8081), 2)\"",
                              check=False).exit_status == 0
        host_checks.check_exposure(
            host_checks.measure_exposure(deploy_ssh.host, booted.internet, booted.rules, timeout=1))


def test_exposure_check_fails_when_the_edge_leaks(booted, deploy_ssh, api_instance):
    """Fault: the edge lets a port through that the groups do not allow -> the exposure check fails."""
    leaky = booted.rules + [firewall.IngressRule("tcp", 8081, 8081, ("0.0.0.0/0",), "fault")]
    with listener(deploy_ssh, 8081):
        apply_firewall(booted.plan, leaky)
        try:
            rules = rules_from_api(api_instance.ec2, api_instance.instance_id)  # what the groups really say
            exposure = host_checks.measure_exposure(deploy_ssh.host, booted.internet, rules, timeout=1)
            with pytest.raises(AssertionError, match=r"\[8081\].*do not allow"):
                host_checks.check_exposure(exposure)
        finally:
            booted.refresh_firewall()


def test_5432_in_the_groups_fails_the_exposure_check(booted, deploy_ssh, api_instance):
    """Fault: the groups open 5432 and PostgreSQL listens on all addresses -> the check fails."""
    ec2 = api_instance.ec2
    permission = {"IpProtocol": "tcp", "FromPort": 5432, "ToPort": 5432, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}
    ec2.authorize_security_group_ingress(GroupId=api_instance.group_id, IpPermissions=[permission])
    try:
        booted.refresh_firewall()
        with listener(deploy_ssh, 5432):
            exposure = host_checks.measure_exposure(deploy_ssh.host, booted.internet, booted.rules, timeout=1)
            with pytest.raises(AssertionError, match="5432"):
                host_checks.check_exposure(exposure)
    finally:
        ec2.revoke_security_group_ingress(GroupId=api_instance.group_id, IpPermissions=[permission])
        booted.refresh_firewall()
    assert not booted.internet.is_open(5432, timeout=1)


def test_testinfra_host_as_deploy_with_sudo(booted, deploy_ssh):
    """The `host` fixture's testinfra host: deploy user over the session's one paramiko connection, sudo to root."""
    host = deploy_ssh.host
    assert host.backend.NAME == "paramiko"
    assert host.backend.client is deploy_ssh.client, "testinfra must share the session's connection"
    assert host.user().name == "deploy"
    assert host.file("/var/lib/user-data/done").exists
    with host.sudo():
        assert host.check_output("id -un") == "root"
        assert host.file("/etc/shadow").mode == 0o640
    assert host.service("ssh").is_running


def test_a_login_whose_session_never_opens_is_one_clear_error(booted, deploy_ssh):
    """sshd answers no channel before the login's PAM session is open: a session that hangs (here pam_exec
    sleeping, as pam_systemd waits for a user manager stuck stopping) is a HarnessError naming where to look."""
    from harness.errors import HarnessError
    from harness.ssh import SshSession, open_session

    hang = "session required pam_exec.so quiet /usr/bin/sleep 20"
    deploy_ssh.sudo(f"printf '%s\\n' {shlex.quote(hang)} >> /etc/pam.d/sshd")
    try:
        with SshSession(booted.address, booted.ssh_user, booted.key_path) as stuck:
            transport = stuck.client.get_transport()
            with pytest.raises(HarnessError, match="accepted the login but answered no session channel within 3 s"):
                open_session(transport, timeout=3)
    finally:
        deploy_ssh.sudo(f"sed -i '\\|pam_exec.so quiet /usr/bin/sleep|d' /etc/pam.d/sshd")
    assert deploy_ssh.run("true").exit_status == 0


def test_the_image_keeps_a_users_manager_after_logout(deploy_ssh):
    """A user's manager is never stopped after their last logout (logind UserStopDelaySec=infinity): its stop
    can hang for 120 s in a container, and every login meanwhile waits (fixtures/sandbox/image/customize.sh)."""
    delay = deploy_ssh.run("busctl get-property org.freedesktop.login1 /org/freedesktop/login1 "
                           "org.freedesktop.login1.Manager UserStopDelayUSec").stdout.split()
    assert delay == ["t", str(2**64 - 1)], f"logind stops a user's manager after {delay}: the image's drop-in is missing"
