"""Database certification checks: PostgreSQL local only, the app role's access, pg_hba, secrets.

Each ``check_*`` takes the ``deployment`` object and raises ``AssertionError``
with an actionable message when the deployment is wrong. suites/test_db.py wraps
them as tests; the fault-injection tests (tests/host/) call them directly.
No secret value ever appears in a message.
"""
from __future__ import annotations

import shlex
import socket
from dataclasses import dataclass
from typing import Any, Optional

from harness.secrets import password_from_database_url, read_env_file
from harness.hostprobes import journal_lines_containing, psql_as_role, psql_superuser
from harness.hostinfra import is_loopback, listeners

HOST_CONNECTION_TYPES = ("host", "hostssl", "hostnossl", "hostgssenc", "hostnogssenc")
MIN_SECRET_LENGTH = 8  # shorter env values (ports, flags) are not treated as secrets to search for


@dataclass(frozen=True)
class HbaRule:
    """One row of pg_hba_file_rules."""

    line_number: str
    type: str
    database: str
    user_name: str
    address: str
    auth_method: str
    error: str


HBA_QUERY = (
    "SELECT line_number, type, array_to_string(database, ','), array_to_string(user_name, ','), "
    "coalesce(address, ''), coalesce(auth_method, ''), coalesce(error, '') FROM pg_hba_file_rules ORDER BY line_number;"
)


def parse_hba_rules(output: str) -> list[HbaRule]:
    """Parse ``psql -At -F '|'`` output of :data:`HBA_QUERY`."""
    rules = []
    for line in output.splitlines():
        if not line.strip():
            continue
        fields = line.split("|")
        if len(fields) < 7:
            fields += [""] * (7 - len(fields))
        rules.append(HbaRule(*fields[:6], "|".join(fields[6:])))
    return rules


def trust_rules(rules: list[HbaRule]) -> list[HbaRule]:
    """The rules that let a TCP connection in without authentication."""
    return [r for r in rules if r.type in HOST_CONNECTION_TYPES and r.auth_method == "trust"]


def check_postgres_listens_on_localhost_only(deployment: Any) -> None:
    """PostgreSQL listens on the host, on loopback addresses only (testinfra ``host.socket``)."""
    port = deployment.spec["database"]["port"]
    addresses = listeners(deployment.host, port)
    assert addresses, f"nothing listens on port {port} on the host; is PostgreSQL running?"
    public = [a for a in addresses if not is_loopback(a)]
    assert not public, (
        f"PostgreSQL listens on {', '.join(public)} (port {port}): set listen_addresses = 'localhost' "
        "(NixOS: services.postgresql.settings.listen_addresses) and restart PostgreSQL"
    )


def check_app_role_reads_and_writes(deployment: Any) -> None:
    """The app's role logs in over 127.0.0.1 with its password and can create, write and read in its database."""
    db = deployment.db
    port = deployment.spec["database"]["port"]
    assert db.password is not None, (
        f"the harness found no database password in {deployment.spec['app']['env_file']} on the host; "
        "the secrets env file must define DATABASE_URL with the role's password"
    )
    script = (
        "BEGIN;\n"
        "CREATE TABLE certification_probe (value text);\n"
        "INSERT INTO certification_probe VALUES ('written');\n"
        "SELECT value FROM certification_probe;\n"
        "ROLLBACK;\n"
    )
    result = psql_as_role(deployment.ssh, role=db.role, database=db.name, port=port,
                          password=db.password.reveal(), sql=script)
    assert result.exit_status == 0 and result.stdout.split() == ["written"], (
        f"role {db.role} cannot write and read database {db.name} over 127.0.0.1:{port} "
        f"(exit {result.exit_status}): {result.stderr.strip()[-300:]}; check the role's password, its ownership of "
        f"the database and the pg_hba line for {db.role}"
    )


def _tcp_accepts(address: str, port: int, timeout: float = 3.0) -> Optional[str]:
    """None when the connection is refused or times out; otherwise the peer that accepted it."""
    try:
        with socket.create_connection((address, port), timeout=timeout) as sock:
            return str(sock.getpeername())
    except OSError:
        return None


def check_postgres_refuses_outside_connections(deployment: Any) -> None:
    """A TCP connection to PostgreSQL from outside the host fails (from this machine and from the internet)."""
    port = deployment.spec["database"]["port"]
    accepted = _tcp_accepts(deployment.address, port)
    assert accepted is None, (
        f"{deployment.address}:{port} accepted a TCP connection from this machine: PostgreSQL must listen on "
        "localhost only (listen_addresses) and the security group must not open the port"
    )
    assert not deployment.instance.internet.is_open(port, timeout=2), (
        f"PostgreSQL's port {port} answers from the internet: remove it from the security group and set "
        "listen_addresses = 'localhost'"
    )


def check_pg_hba_has_no_trust(deployment: Any) -> None:
    """pg_hba (pg_hba_file_rules) has no `trust` rule for TCP connections (host, hostssl, hostnossl)."""
    rules = parse_hba_rules(psql_superuser(deployment.ssh, "postgres", HBA_QUERY))
    assert rules, "pg_hba_file_rules returned no rules; is pg_hba.conf readable by PostgreSQL?"
    bad = trust_rules(rules)
    errors = [f"line {r.line_number}: {r.error}" for r in rules if r.error]
    assert not bad, (
        "pg_hba.conf lets TCP connections in without a password (`trust`): "
        + "; ".join(f"line {r.line_number}: {r.type} {r.database} {r.user_name} {r.address} trust" for r in bad)
        + " — use scram-sha-256 (NixOS: services.postgresql.authentication)"
        + (f"; pg_hba.conf also has errors: {'; '.join(errors)}" if errors else "")
    )


def check_secrets_file_private(deployment: Any) -> None:
    """The secrets env file is mode 0600 (or 0400) and owned by the service user."""
    path = deployment.spec["app"]["env_file"]
    user = deployment.spec["app"]["user"]
    host = deployment.host
    with host.sudo():
        secrets_file = host.file(path)
        exists = secrets_file.exists
        mode, owner = (f"{secrets_file.mode:o}", secrets_file.user) if exists else ("", "")
    assert exists, f"the secrets file {path} does not exist on the host"
    assert mode in ("600", "400"), (
        f"the secrets file {path} has mode {mode}: other users can read it; `chmod 600 {path}` "
        "(and fix whatever wrote it)"
    )
    assert owner == user, f"the secrets file {path} is owned by {owner}, expected the service user {user}"


def _journal_units(deployment: Any) -> list[tuple[str, str]]:
    """(label, journalctl selector) pairs: the app, PostgreSQL, Nginx, then the whole journal."""
    return [
        (deployment.app_unit, f"-u {shlex.quote(deployment.app_unit)}"),
        ("postgresql", "-u 'postgresql*'"),
        ("nginx.service", "-u nginx.service"),
        ("the system (all units)", ""),
    ]


def check_secrets_not_in_journal(deployment: Any) -> None:
    """No secret value of the env file (the database password in particular) appears in the journal."""
    path = deployment.spec["app"]["env_file"]
    values = read_env_file(deployment.ssh, path)
    assert values is not None, f"the secrets file {path} does not exist on the host"
    secrets_by_name: dict[str, str] = {}
    for key, value in values.items():
        password = password_from_database_url(value)
        if password:
            secrets_by_name["the database password"] = password
        if len(value) >= MIN_SECRET_LENGTH:
            secrets_by_name[f"the value of {key}"] = value
    leaks = []
    for name, value in secrets_by_name.items():
        for label, selector in _journal_units(deployment):
            count = journal_lines_containing(deployment.ssh, value, selector)
            if count not in ("", "0"):
                leaks.append(f"{name} appears in the journal of {label} ({count} lines)")
                break
    assert not leaks, "; ".join(leaks) + " — stop logging it (it was redacted here) and rotate the secret"
