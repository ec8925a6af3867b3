"""Small helpers the check modules share: listening sockets, unit state, psql as the superuser.

They only ask questions of the host (over the deployment's SSH session); they
never change it.
"""
from __future__ import annotations

import ipaddress
import shlex
from typing import Any


def listening_addresses(ss_output: str) -> list[str]:
    """Local addresses (without port) from ``ss -ltnH`` lines: "127.0.0.1", "::1", "0.0.0.0", "*"."""
    addresses = []
    for line in ss_output.splitlines():
        fields = line.split()
        if len(fields) < 4:
            continue
        local = fields[3]
        host = local.rsplit(":", 1)[0] if ":" in local else local
        host = host.strip("[]").split("%", 1)[0]
        addresses.append(host)
    return addresses


def is_loopback(address: str) -> bool:
    """True for 127.0.0.0/8, ::1 and IPv4-mapped loopback; False for wildcards and anything else."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False  # "*" and names
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_loopback


def listeners(ssh: Any, port: int) -> list[str]:
    """Local addresses of the TCP sockets listening on ``port`` on the host."""
    output = ssh.run(f"ss -ltnH {shlex.quote(f'sport = :{port}')}", check=True).stdout
    return listening_addresses(output)


def unit_state(ssh: Any, unit: str) -> tuple[str, str]:
    """(``systemctl is-enabled``, ``systemctl is-active``) of ``unit`` on the host."""
    enabled = ssh.sudo(f"systemctl is-enabled {shlex.quote(unit)}", check=False).stdout.strip() or "unknown"
    active = ssh.sudo(f"systemctl is-active {shlex.quote(unit)}", check=False).stdout.strip() or "unknown"
    return enabled, active


def psql_superuser(ssh: Any, database: str, sql: str, variables: dict[str, str] | None = None) -> str:
    """Run ``sql`` (stdin) as the postgres superuser over the socket; unaligned, tuples only, '|' separated."""
    flags = " ".join(f"-v {shlex.quote(f'{k}={v}')}" for k, v in (variables or {}).items())
    command = (f"cd / && runuser -u postgres -- psql -X -q -At -F '|' -v ON_ERROR_STOP=1 {flags} "
               f"-d {shlex.quote(database)}")
    return ssh.sudo(command, stdin=sql.encode()).stdout
