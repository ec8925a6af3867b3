"""Checks of the instance's operating system, first-boot setup, SSH and exposure.

Each check asks the host questions (over the deploy user's SSH session, or by
probing from the internet) and asserts; none changes the host. They are plain
functions so that the harness's own fault tests can run them against a live
container. The security policy (which SSH settings, which ports must never be
reachable) is fixed here, not read from spec.json.
"""
from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from typing import Any, Optional, Iterable

from harness.deployed import NIXOS_CURRENT_SYSTEM
from harness.hostinfra import is_loopback, listening_tcp

# Security policy: the effective sshd settings every environment must have.
SSHD_POLICY = {
    "permitrootlogin": "no",
    "passwordauthentication": "no",
    "kbdinteractiveauthentication": "no",
}
# Security policy: ports that must never be reachable from the internet.
NEVER_EXPOSED = (5432,)
# Lines in the user-data log that mean something went wrong (user_data.sh's ERR trap, apt, bash, python).
LOG_ERROR_PATTERNS = (r"\bERROR\b", r"^E: ", r"command not found", r"^Traceback ", r": line \d+: ")


def check_os(host: Any, spec: dict[str, Any], host_os: str = "debian", toplevel: Optional[str] = None) -> None:
    """The instance runs its environment's OS: Debian 13 as spec.json declares (instance.os_id / os_version_id)
    where the sandbox provisioner configures it; NixOS running exactly ``toplevel``, the flake's system built
    from this commit (``/run/current-system``), in staging and production on AWS."""
    if host_os == "nixos":
        distribution = host.system_info.distribution
        assert distribution == "nixos", (
            f"the instance runs {distribution}, not NixOS: staging and production boot the NixOS AMI "
            "(spec.json instance.nixos_ami; check ami_id in the tfvars)")
        current = host.file(NIXOS_CURRENT_SYSTEM).linked_to
        assert current == toplevel, (
            f"the host runs the system {current}, not {toplevel} (the flake's inventory-tracker system built "
            "from this commit): switch it with `pytest -m staging` (nixos-rebuild switch)")
        return
    actual = (host.system_info.distribution, host.system_info.release)
    want_id, want_version = spec["instance"]["os_id"], spec["instance"]["os_version_id"]
    assert actual == (want_id, want_version), (
        f"the instance runs {actual[0]} {actual[1]}, but spec.json declares "
        f"{want_id} {want_version}: check the AMI in terraform (spec.json instance.ami)"
    )


def log_error_lines(log_text: str) -> list[str]:
    """Lines of the user-data log that report an error."""
    return [line for line in log_text.splitlines() if any(re.search(p, line) for p in LOG_ERROR_PATTERNS)]


def check_user_data_finished(host: Any, spec: dict[str, Any]) -> None:
    """The user data ran to its end: the completion marker exists and its log shows no error."""
    marker, log = spec["user_data"]["marker"], spec["user_data"]["log"]
    with host.sudo():
        marker_present = host.file(marker).exists
        log_file = host.file(log)
        log_text = log_file.content_string if log_file.exists else None
    tail = "\n".join((log_text or "").splitlines()[-15:])
    assert marker_present, (
        f"the user data did not finish: {marker} is missing; see {log} on the instance "
        f"(and /var/log/cloud-init-output.log). Log tail:\n{tail}"
    )
    assert log_text is not None, f"the user data left no log at {log}: it must log everything there"
    errors = log_error_lines(log_text)
    assert not errors, f"the user-data log {log} reports errors:\n" + "\n".join(errors[:10])


def check_nix_installed(host: Any) -> str:
    """Nix is installed and runs (``nix --version``); returns its version line."""
    result = host.run("nix --version")
    assert result.rc == 0 and "nix" in result.stdout.lower(), (
        f"`nix --version` failed ({result.rc}): {result.stderr.strip()[-300:]}; "
        "terraform/user_data.sh installs Nix (nix-bin)"
    )
    return result.stdout.strip()


def _key_body(public_key: str) -> str:
    fields = public_key.split()
    return " ".join(fields[:2])  # type and base64 blob; the comment may differ


def shadow_password_locked(field: str) -> bool:
    """True when a shadow password field allows no password login ("!", "*", "!!", "!*", ...; no hash)."""
    return bool(field) and re.fullmatch(r"[!*]+", field) is not None


def check_deploy_user(host: Any, user: str, public_key: str) -> None:
    """The deploy user exists, logs in with the run's key only (in authorized_keys), has no password."""
    account = host.user(user)
    assert account.exists, f"user {user} does not exist; terraform/user_data.sh creates it"
    home = account.home
    with host.sudo():
        keys_file = host.file(f"{home}/.ssh/authorized_keys")
        keys = keys_file.content_string if keys_file.exists else ""
        field = account.password  # the shadow password field (getent shadow, as root)
    assert _key_body(public_key) in [_key_body(line) for line in keys.splitlines() if line.strip()], (
        f"the run's public key is not in {home}/.ssh/authorized_keys of {user}: the user data must install "
        "the instance's key pair"
    )
    assert shadow_password_locked(field), (
        f"user {user} has a password (shadow field is not '!'/'*'): key-only login is the policy; "
        f"lock it with `usermod --lock {user}` and remove the password (`passwd -d` then lock)"
    )


def check_deploy_user_sudo(host: Any, user: str) -> None:
    """The deploy user runs commands as root through sudo without a password (what deployment needs)."""
    # sudo itself, on a channel of its own: host.sudo() may answer from a root shell opened earlier
    # (harness/root_shell.py), which says nothing about sudo now.
    result = host.run("sudo -n id -un")
    who = result.stdout.strip()
    assert result.rc == 0 and who == "root", (
        f"sudo as {user} does not give root (it runs commands as {who or 'nobody it can name'}"
        + (f": {result.stderr.strip()[-300:]}" if result.rc != 0 else "")
        + f"); the user data's /etc/sudoers.d/90-{user} must grant `ALL=(ALL) NOPASSWD:ALL` and no other "
        "sudoers file may change the target user"
    )


def parse_sshd_t(text: str) -> dict[str, str]:
    """``sshd -T`` output as a dict (keys lower-case; repeated keys keep the first value)."""
    values: dict[str, str] = {}
    for line in text.splitlines():
        parts = line.strip().split(None, 1)
        if len(parts) == 2:
            values.setdefault(parts[0].lower(), parts[1].strip())
    return values


def sshd_violations(effective: dict[str, str]) -> list[str]:
    """Settings of ``effective`` (from sshd -T) that break :data:`SSHD_POLICY`."""
    return [f"{key} is {effective.get(key, '(unset)')!r}, must be {want!r}"
            for key, want in SSHD_POLICY.items() if effective.get(key) != want]


def check_sshd_hardened(host: Any) -> None:
    """The effective sshd configuration (``sshd -T``) forbids root login, passwords and keyboard-interactive."""
    with host.sudo():
        effective = parse_sshd_t(host.check_output("sshd -T"))
    violations = sshd_violations(effective)
    assert not violations, (
        "sshd is not hardened: " + "; ".join(violations)
        + " (the drop-in /etc/ssh/sshd_config.d/00-hardening.conf of user_data.sh must win: sshd uses the first value)"
    )


@dataclass(frozen=True)
class Exposure:
    listening: set[int]  # ports something listens on (not only on loopback)
    allowed: set[int]  # ports the security groups allow from the prober
    expected: set[int]  # listening AND allowed (minus what policy forbids)
    answered: set[int]  # what answered from the internet


def allowed_ports(rules: Iterable[Any], ports: Iterable[int], source: str | None) -> set[int]:
    """Which ``ports`` the security-group ``rules`` (firewall.IngressRule) allow for TCP from ``source``.

    With an unknown source (a real cloud, probing from this machine) only rules open
    to the whole internet (0.0.0.0/0) count.
    """
    rules = list(rules)

    def allows(rule: Any, port: int) -> bool:
        if source is not None:
            return rule.allows_tcp(port, source)
        everyone = any(ipaddress.ip_network(c, strict=False).prefixlen == 0 for c in rule.cidrs)
        return everyone and rule.allows_tcp(port, "0.0.0.0")

    return {port for port in ports if any(allows(rule, port) for rule in rules)}


def public_listening_ports(host: Any) -> set[int]:
    """TCP ports something listens on at a non-loopback address (testinfra ``host.socket``)."""
    return {port for address, port in listening_tcp(host) if not is_loopback(address)}


def measure_exposure(host: Any, prober: Any, rules: Iterable[Any], *, timeout: float = 1.5) -> Exposure:
    """Probe from the internet every port that listens, that the groups allow, or that policy watches."""
    rules = list(rules)
    listening = public_listening_ports(host)
    rule_ports: set[int] = set()
    for rule in rules:
        if rule.protocol == "tcp" and rule.from_port is not None and rule.to_port - rule.from_port < 64:
            rule_ports.update(range(rule.from_port, rule.to_port + 1))
    candidates = listening | rule_ports | {22, *NEVER_EXPOSED}
    allowed = allowed_ports(rules, candidates, getattr(prober, "source", None))
    answered = set(prober.open_ports(sorted(candidates), timeout=timeout))
    expected = (listening & allowed) - set(NEVER_EXPOSED)
    return Exposure(listening, allowed, expected, answered)


def check_exposure(exposure: Exposure, prober: str = "the internet", ssh_must_answer: bool = True) -> None:
    """From ``prober`` exactly the ports that the groups allow it and something listens on answer.

    ``ssh_must_answer``: the prober is an operator (inside ssh_allowed_cidrs), or SSH is open to everyone
    (the sandbox policy); otherwise SSH must not answer it.
    """
    if ssh_must_answer:
        assert 22 in exposure.answered, (
            f"SSH (22) does not answer from {prober}: the security group must allow it (ssh_allowed_cidrs) "
            "and sshd must listen"
        )
    else:
        assert 22 not in exposure.answered, (
            f"SSH (22) answers from {prober}, outside ssh_allowed_cidrs: only the operators' addresses may reach "
            "it (fix ssh_allowed_cidrs in the tfvars and the security group)"
        )
    for port in NEVER_EXPOSED:
        assert port not in exposure.answered, (
            f"port {port} answers from {prober}: it must never be exposed (remove it from the security "
            "group and bind the service to localhost)"
        )
    unexpected = sorted(exposure.answered - exposure.expected)
    missing = sorted(exposure.expected - exposure.answered)
    assert not unexpected, (
        f"ports {unexpected} answer from {prober} but the security groups do not allow them "
        f"(allowed: {sorted(exposure.allowed)}): the network edge does not enforce the groups"
    )
    assert not missing, (
        f"ports {missing} are allowed and listening but do not answer from {prober}: "
        "something between it and the service drops them"
    )
