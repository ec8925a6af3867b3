"""Fault injection for the host checks: break one thing over SSH, see exactly its checks fail, repair.

Each :class:`Fault` breaks the provisioned sandbox host in one way. :func:`exercise`
injects it, runs every certification check function (suites/*_checks.py), and
returns which failed and with what message; :func:`repair` runs the sandbox
provisioner again, which must report changes (it repairs drift).
"""
from __future__ import annotations

import shlex
from dataclasses import dataclass
from typing import Any, Callable, Optional

from fault_runner import run_checks
from harness.retry import wait_until
from suites import crypto_checks, db_checks, host_checks, service_checks, web_checks


def _unit_check(unit: Callable[[Any], str]) -> Callable[[Any], None]:
    return lambda d: service_checks.check_unit_enabled_and_active(d, unit(d))


def _check_os(d: Any) -> None:
    # testinfra keeps system_info for the host's life; a fault changes the OS release under it.
    vars(d.host).pop("system_info", None)
    host_checks.check_os(d.host, d.spec)


# The check functions that take the deployment, by the names the faults below use.
CHECKS: dict[str, Callable[[Any], None]] = {
    "os": _check_os,
    "user_data_finished": lambda d: host_checks.check_user_data_finished(d.host, d.spec),
    "nix_installed": lambda d: host_checks.check_nix_installed(d.host),
    "deploy_user": lambda d: host_checks.check_deploy_user(d.host, d.instance.ssh_user, d.run.keypair.public_openssh),
    "deploy_user_sudo": lambda d: host_checks.check_deploy_user_sudo(d.host, d.instance.ssh_user),
    "sshd_hardened": lambda d: host_checks.check_sshd_hardened(d.host),
    "http_root": web_checks.check_http_root,
    "http_health": web_checks.check_http_health,
    "tls_handshake": web_checks.check_tls_handshake,
    "security_headers": web_checks.check_security_headers,
    "app_loopback_only": web_checks.check_app_listens_on_loopback_only,
    "app_closed_from_internet": web_checks.check_app_port_closed_from_internet,
    "app_own_user": web_checks.check_app_runs_as_own_user,
    "item_roundtrip": web_checks.check_item_roundtrip,
    "pg_localhost_only": db_checks.check_postgres_listens_on_localhost_only,
    "app_role_read_write": db_checks.check_app_role_reads_and_writes,
    "pg_refuses_outside": db_checks.check_postgres_refuses_outside_connections,
    "pg_hba_no_trust": db_checks.check_pg_hba_has_no_trust,
    "secrets_file_private": db_checks.check_secrets_file_private,
    "secrets_not_in_journal": db_checks.check_secrets_not_in_journal,
    "nginx_enabled_active": _unit_check(lambda d: "nginx.service"),
    "postgresql_enabled_active": _unit_check(lambda d: "postgresql.service"),
    "app_enabled_active": _unit_check(lambda d: d.app_unit),
    "sshd_crypto": crypto_checks.check_sshd_crypto,
    "tls_intermediate": crypto_checks.check_tls_meets_mozilla_intermediate,
}

# The certification check (as the certificate lists it) each check function above stands for.
CHECK_IDS: dict[str, tuple[str, ...]] = {
    "os": ("suites/test_host.py::test_os_is_the_environments",),
    "user_data_finished": ("suites/test_host.py::test_user_data_finished",),
    "nix_installed": ("suites/test_host.py::test_nix_installed",),
    "deploy_user": ("suites/test_host.py::test_deploy_user",),
    "deploy_user_sudo": ("suites/test_host.py::test_deploy_user_sudo",),
    "sshd_hardened": ("suites/test_host.py::test_sshd_hardened",),
    "http_root": ("suites/test_web.py::test_root_answers_through_nginx",),
    "http_health": ("suites/test_web.py::test_health_answers_through_nginx",),
    "tls_handshake": ("suites/test_web.py::test_https_completes_tls_handshake",),
    "security_headers": ("suites/test_web.py::test_security_headers_present",),
    "app_loopback_only": ("suites/test_web.py::test_app_port_listens_on_loopback_only",),
    "app_closed_from_internet": ("suites/test_web.py::test_app_port_closed_from_internet",),
    "app_own_user": ("suites/test_web.py::test_app_runs_as_its_own_user",),
    "item_roundtrip": ("suites/test_web.py::test_item_created_through_nginx_is_stored",),
    "pg_localhost_only": ("suites/test_db.py::test_postgres_listens_on_localhost_only",),
    "app_role_read_write": ("suites/test_db.py::test_app_role_can_write_and_read",),
    "pg_refuses_outside": ("suites/test_db.py::test_postgres_refuses_outside_connections",),
    "pg_hba_no_trust": ("suites/test_db.py::test_pg_hba_has_no_trust",),
    "secrets_file_private": ("suites/test_db.py::test_secrets_file_is_private",),
    "secrets_not_in_journal": ("suites/test_db.py::test_secrets_not_in_journal",),
    "nginx_enabled_active": ("suites/test_services.py::test_service_enabled_and_active[nginx.service]",),
    "postgresql_enabled_active": ("suites/test_services.py::test_service_enabled_and_active[postgresql.service]",),
    "app_enabled_active": ("suites/test_services.py::test_service_enabled_and_active[app]",),
    "sshd_crypto": ("suites/test_crypto.py::test_sshd_crypto_meets_ssh_baseline",),
    "tls_intermediate": ("suites/test_crypto.py::test_tls_meets_mozilla_intermediate",),
}

PG_CONF_D = "/etc/postgresql/*/main/conf.d/inventory-tracker.conf"
PG_HBA = "/etc/postgresql/*/main/pg_hba.conf"


@dataclass(frozen=True)
class Fault:
    """One way to break the host, and the checks that must catch it."""

    name: str
    breaks: Callable[[Any], str]  # deployment -> shell command (run with sudo) that injects the fault
    guarded_by: frozenset[str]  # names in CHECKS that must fail; every other check must pass
    hint: str  # at least one guarding check's message names this (so a person knows where to look)
    settled: Optional[Callable[[Any], str]] = None  # shell command exiting 0 once the fault is in effect
    undo: Optional[Callable[[Any], str]] = None  # shell command run before the provisioner (what it cannot repair)
    provisioner_repairs: bool = True  # False: the provisioner has nothing to change afterwards


def one_check_fault(name: str, breaks: Callable[[Any], str], check: str, hint: str, **options: Any) -> Fault:
    """A fault that exactly one check (``check``, a name in CHECKS) must catch; ``options`` as in :class:`Fault`."""
    return Fault(name, breaks, frozenset({check}), hint=hint, **options)


NGINX_SITE = "/etc/nginx/sites-available/inventory-tracker"


def edit_nginx_site(sed: str) -> str:
    """Shell: edit the Nginx site with ``sed -E`` expression ``sed``, test the configuration, reload Nginx."""
    return f"sed -i -E {shlex.quote(sed)} {NGINX_SITE} && nginx -t -q && systemctl reload nginx.service"


def _edit_app_unit(d: Any, sed: str) -> str:
    """Shell: edit the application's unit file with ``sed`` expression ``sed``, then reload systemd and restart it."""
    unit = shlex.quote(d.app_unit)
    return (f"sed -i {shlex.quote(sed)} {shlex.quote(f'/etc/systemd/system/{d.app_unit}')} && "
            f"systemctl daemon-reload && systemctl restart {unit}")


def _curl_status(url: str) -> str:
    return f"curl -sk -o /dev/null --max-time 5 -w '%{{http_code}}' {shlex.quote(url)}"


# Shell: the application answers through Nginx again (after a fault restarted it).
_APP_ANSWERS = f"[ \"$({_curl_status('http://127.0.0.1/health')})\" = 200 ]"


FAULTS = [
    Fault(
        "nginx stopped",
        lambda d: "systemctl stop nginx.service",
        frozenset({"nginx_enabled_active", "http_root", "http_health", "tls_handshake", "security_headers",
                   "item_roundtrip", "tls_intermediate"}),
        hint="nginx",
    ),
    Fault(
        "proxy_pass to the wrong port",
        lambda d: edit_nginx_site(f"s#proxy_pass http://{d.spec['app']['bind']}:{d.spec['app']['port']};"
                                  f"#proxy_pass http://{d.spec['app']['bind']}:{d.spec['app']['port'] + 1};#"),
        frozenset({"http_root", "http_health", "item_roundtrip"}),
        hint="proxy_pass",
        settled=lambda d: f"[ \"$({_curl_status('http://127.0.0.1/health')})\" = 502 ]",
    ),
    Fault(
        "PostgreSQL listening on all addresses",
        lambda d: (
            f"sed -i \"s/^listen_addresses = .*/listen_addresses = '*'/\" {PG_CONF_D} && "
            "systemctl restart 'postgresql@*-main.service'"
        ),
        frozenset({"pg_localhost_only", "pg_refuses_outside"}),
        hint="listen",
        settled=lambda d: f"ss -ltnH 'sport = :{d.spec['database']['port']}' | grep -q '0.0.0.0:'",
    ),
    one_check_fault("a trust line in pg_hba.conf",
                    lambda d: f"echo 'host all all 0.0.0.0/0 trust' | tee -a {PG_HBA} >/dev/null",
                    "pg_hba_no_trust", "trust"),
    one_check_fault("world-readable secrets file", lambda d: f"chmod 0644 {shlex.quote(d.spec['app']['env_file'])}",
                    "secrets_file_private", "mode 644"),
    one_check_fault("the app bound to 0.0.0.0",
                    lambda d: _edit_app_unit(d, f"s/BIND={d.spec['app']['bind']} /BIND=0.0.0.0 /"),
                    "app_loopback_only", "0.0.0.0",
                    settled=lambda d: f"ss -ltnH 'sport = :{d.spec['app']['port']}' | grep -q '0.0.0.0:' && "
                                      f"{_APP_ANSWERS}"),
]


def _leak_password_into_journal(d: Any) -> str:
    # What a careless app does: log its DATABASE_URL. The password is read on the host and goes to
    # logger on stdin (printf is a shell builtin): it never appears on a command line.
    unit = shlex.quote(d.app_unit)
    env = shlex.quote(d.spec["app"]["env_file"])
    return (
        f"url=$(sed -n 's/^DATABASE_URL=//p' {env}) && "
        f"printf 'MESSAGE=connecting to %s\\nOBJECT_SYSTEMD_UNIT=%s\\nSYSLOG_IDENTIFIER=inventory-tracker\\n' "
        f"\"$url\" {unit} | logger --journald"
    )


# Journal entries cannot be edited: rotate, then drop the archived files (the whole sandbox journal).
_FORGET_JOURNAL = "journalctl --rotate && sleep 1.5 && journalctl --vacuum-time=1s >/dev/null 2>&1"

FAULTS += [
    one_check_fault(
        "the app runs as root", lambda d: _edit_app_unit(d, "s/^User=.*/User=root/"), "app_own_user", "User=",
        settled=lambda d: (
            f"[ \"$(ps -o user= -p \"$(systemctl show -p MainPID --value {shlex.quote(d.app_unit)})\")\" = root ] && "
            f"{_APP_ANSWERS}"
        ),
    ),
    Fault(
        "the app role's password changed in PostgreSQL",
        lambda d: (
            "cd / && runuser -u postgres -- psql -X -q -v ON_ERROR_STOP=1 "
            f"-c {shlex.quote(f'ALTER ROLE {d.db.role} PASSWORD NULL')}"
        ),
        frozenset({"app_role_read_write", "http_health", "item_roundtrip"}),
        hint="password",
    ),
    one_check_fault(
        "the database password logged to the journal", _leak_password_into_journal, "secrets_not_in_journal",
        "the database password appears in the journal of",
        settled=lambda d: "journalctl --flush >/dev/null 2>&1; true",
        undo=lambda d: _FORGET_JOURNAL,
        provisioner_repairs=False,
    ),
    Fault(
        "a self-signed TLS certificate instead of one from the run's CA",
        lambda d: (
            "cd /etc/nginx/tls && umask 077 && openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 "
            f"-nodes -days 30 -subj /CN=self-signed-fault "
            f"-addext {shlex.quote(f'subjectAltName=IP:{d.address},IP:127.0.0.1,DNS:localhost')} "
            "-keyout inventory-tracker.key -out inventory-tracker.crt 2>/dev/null && "
            "chmod 644 inventory-tracker.crt && systemctl reload nginx.service"
        ),
        frozenset({"tls_handshake", "security_headers", "tls_intermediate"}),
        hint="self-signed",
        settled=lambda d: ("echo | openssl s_client -connect 127.0.0.1:443 2>/dev/null | "
                           "openssl x509 -noout -subject | grep -q self-signed-fault"),
    ),
]

# What no provisioner step manages (the image and the user data made it): the fault's undo restores it.
HIDDEN_NIX = "/usr/bin/nix.hidden-by-fault"
SSHD_FAULT_DROPIN = "/etc/ssh/sshd_config.d/0-fault-passwords.conf"  # sorts before 00-hardening.conf


def _unmanaged(name: str, breaks: Callable[[Any], str], check: str, hint: str, undo: Callable[[Any], str]) -> Fault:
    """A fault in what the image or the user data set up: its undo repairs it, the provisioner has nothing to do."""
    return one_check_fault(name, breaks, check, hint, undo=undo, provisioner_repairs=False)


def _marker(d: Any) -> str:
    return shlex.quote(d.spec["user_data"]["marker"])


FAULTS += [
    _unmanaged("the instance reports Debian 12 (another OS release)",
               lambda d: "sed -i 's/^VERSION_ID=.*/VERSION_ID=\"12\"/' /etc/os-release", "os", "debian 12",
               undo=lambda d: "ln -sfn ../usr/lib/os-release /etc/os-release"),
    _unmanaged("the user data did not finish (no completion marker)",
               lambda d: f"mv {_marker(d)} {_marker(d)}.fault", "user_data_finished", "did not finish",
               undo=lambda d: f"mv {_marker(d)}.fault {_marker(d)}"),
    _unmanaged("Nix missing from the PATH", lambda d: f"mv /usr/bin/nix {HIDDEN_NIX}", "nix_installed",
               "nix --version", undo=lambda d: f"mv {HIDDEN_NIX} /usr/bin/nix"),
    _unmanaged("the deploy user has a password",
               lambda d: f"usermod -p \"$(openssl passwd -6 fault-not-a-secret)\" {shlex.quote(d.instance.ssh_user)}",
               "deploy_user", "has a password", undo=lambda d: f"usermod -p '!' {shlex.quote(d.instance.ssh_user)}"),
    _unmanaged("sshd allows passwords (an earlier drop-in wins)",
               lambda d: f"printf 'PasswordAuthentication yes\\n' > {SSHD_FAULT_DROPIN}", "sshd_hardened",
               "passwordauthentication is 'yes'", undo=lambda d: f"rm -f {SSHD_FAULT_DROPIN}"),
    one_check_fault("PostgreSQL not enabled at boot", lambda d: "systemctl disable --quiet postgresql.service",
                    "postgresql_enabled_active", "postgresql.service is not enabled"),
    one_check_fault("the application not enabled at boot",
                    lambda d: f"systemctl disable --quiet {shlex.quote(d.app_unit)}", "app_enabled_active",
                    "is not enabled"),
]

# The deploy user's sudo does not give root: a drop-in that runs its commands as nobody. Every check that
# asks the host as root is then wrong too, so tests/host/test_host_faults.py runs this one on its own;
# `sudo -u root` (allowed by the user's rule) still removes it.
SUDO_FAULT_DROPIN = "/etc/sudoers.d/99-fault-runas-nobody"


def break_sudo(deployment: Any) -> None:
    """Make the deploy user's ``sudo`` run commands as ``nobody`` (a sudoers drop-in, checked by visudo)."""
    user = deployment.instance.ssh_user
    deployment.ssh.sudo(f"printf 'Defaults:{user} runas_default=nobody\\n' > {SUDO_FAULT_DROPIN}.tmp && "
                        f"chmod 0440 {SUDO_FAULT_DROPIN}.tmp && visudo -cqf {SUDO_FAULT_DROPIN}.tmp && "
                        f"mv {SUDO_FAULT_DROPIN}.tmp {SUDO_FAULT_DROPIN}")


def repair_sudo(deployment: Any) -> None:
    """Remove the drop-in of :func:`break_sudo` (as root explicitly: the default target is nobody)."""
    deployment.ssh.run(f"sudo -n -u root rm -f {SUDO_FAULT_DROPIN} {SUDO_FAULT_DROPIN}.tmp")


def failed_checks(deployment: Any) -> dict[str, str]:
    """Run every host check (together, in threads, as a certification does); the failed ones and their messages."""
    return run_checks(CHECKS, deployment)


def inject(deployment: Any, fault: Fault) -> None:
    """Break the host as ``fault`` says and wait until the fault is in effect."""
    deployment.ssh.sudo(fault.breaks(deployment))
    if fault.settled is not None:
        command = fault.settled(deployment)
        wait_until(f"the fault '{fault.name}' to be in effect",
                   lambda: deployment.ssh.sudo(command, check=False).exit_status == 0, timeout=30, interval=0.25)


def repair(deployment: Any, fault: Optional[Fault] = None) -> Any:
    """Undo what the provisioner cannot, then run it again (it restores the desired state); return its report.

    A fault the provisioner has nothing to repair (``provisioner_repairs=False``) is put back by its undo
    alone (None is returned): a provisioner run would only cost time."""
    from fixtures.sandbox.provisioner import provision

    if fault is not None and fault.undo is not None:
        deployment.ssh.sudo(fault.undo(deployment))
        if not fault.provisioner_repairs:
            return None

    return provision(deployment.ssh, deployment.spec, deployment.db.password.reveal(), tls=deployment.run.ca,
                     backup=deployment.config.backup)


def exercise(deployment: Any, fault: Fault) -> None:
    """Inject ``fault``, run every check, repair; assert exactly its checks failed (one message naming it, none
    showing the password), that the provisioner noticed, and that every check passes after the repair."""
    password = deployment.db.password.reveal()
    try:
        inject(deployment, fault)
        failures = failed_checks(deployment)
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
    after = failed_checks(deployment)
    how = report.summary() if report is not None else "its undo"
    assert after == {}, f"after repairing '{fault.name}' ({how}) checks still fail: {after}"
