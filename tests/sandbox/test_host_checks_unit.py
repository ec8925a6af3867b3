"""The host checks' parsing and decisions, on recorded outputs."""
from __future__ import annotations

import pytest

from harness.sandbox.firewall import IngressRule
from suites.host_checks import (Exposure, allowed_ports, check_exposure, log_error_lines, parse_sshd_t,
                                public_listening_ports, shadow_password_locked, sshd_violations)

SSHD_T = """port 22
permitrootlogin no
passwordauthentication no
kbdinteractiveauthentication no
pubkeyauthentication yes
"""


def test_sshd_policy():
    assert sshd_violations(parse_sshd_t(SSHD_T)) == []
    bad = parse_sshd_t(SSHD_T.replace("passwordauthentication no", "passwordauthentication yes"))
    assert sshd_violations(bad) == ["passwordauthentication is 'yes', must be 'no'"]
    root = parse_sshd_t(SSHD_T.replace("permitrootlogin no", "permitrootlogin without-password"))
    assert sshd_violations(root) == ["permitrootlogin is 'without-password', must be 'no'"]
    assert "kbdinteractiveauthentication is '(unset)', must be 'no'" in sshd_violations({})


def test_shadow_field():
    for locked in ("!", "*", "!!", "!*"):
        assert shadow_password_locked(locked)
    for usable in ("", "$6$salt$hash", "!$6$salt$hash", "x"):
        assert not shadow_password_locked(usable)


def test_log_errors():
    log = ("user-data: start\ncurl: (7) Failed to connect to 169.254.169.254 port 80\n"
           "user-data: ERROR: command failed with status 1 at line 30\nE: Unable to locate package nix-bin\n"
           "user-data: finished\n")
    assert log_error_lines(log) == ["user-data: ERROR: command failed with status 1 at line 30",
                                    "E: Unable to locate package nix-bin"]
    assert log_error_lines("user-data: start\nuser-data: finished\n") == []


class _Sockets:
    """testinfra's host.socket as the checks use it: the listening sockets in testinfra's own notation."""

    @staticmethod
    def get_listening_sockets():
        return ["tcp://0.0.0.0:22", "tcp://:::22", "tcp://127.0.0.1:5432", "tcp://::1:5432", "tcp://::ffff:127.0.0.1:9",
                "tcp://0.0.0.0:80", "tcp://10.213.0.2:8081", "tcp://127.0.0.53%lo:53", "udp://0.0.0.0:68",
                "unix:///run/systemd/private"]


class _Host:
    socket = _Sockets()


def test_public_listening_ports():
    assert public_listening_ports(_Host()) == {22, 80, 8081}


def test_allowed_ports():
    rules = [IngressRule("tcp", 22, 22, ("10.213.1.6/32",)), IngressRule("tcp", 80, 80, ("0.0.0.0/0",))]
    assert allowed_ports(rules, [22, 80, 443], "10.213.1.6") == {22, 80}
    assert allowed_ports(rules, [22, 80, 443], "10.213.1.7") == {80}
    assert allowed_ports(rules, [22, 80, 443], None) == {80}  # unknown source: open-to-all rules only


def test_exposure_decisions():
    ok = Exposure(listening={22, 80, 8081}, allowed={22, 80, 443}, expected={22, 80}, answered={22, 80})
    check_exposure(ok)
    with pytest.raises(AssertionError, match="not allow"):
        check_exposure(Exposure({22, 8081}, {22}, {22}, {22, 8081}))
    with pytest.raises(AssertionError, match="5432"):
        check_exposure(Exposure({22, 5432}, {22, 5432}, {22}, {22, 5432}))
    with pytest.raises(AssertionError, match="SSH"):
        check_exposure(Exposure({22}, {22}, {22}, set()))
    with pytest.raises(AssertionError, match="do not answer"):
        check_exposure(Exposure({22, 80}, {22, 80}, {22, 80}, {22}))
