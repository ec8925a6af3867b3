"""What the check modules ask of the host, in one place.

Host questions go through testinfra (``deployment.host``, on the run's one SSH
connection; the helpers both the checks and the provisioner use are in
harness/hostinfra.py).
What testinfra cannot do is here too, and only that: commands that need data on
stdin (SQL with psql variables, secrets), run over the same connection through
:class:`harness.ssh.SshSession`. Nothing here changes the host.
"""
from __future__ import annotations

import ipaddress
import shlex
from typing import Any

from harness.hostinfra import listening_tcp


def listeners(host: Any, port: int) -> list[str]:
    """Local addresses of the TCP sockets listening on ``port`` on the host."""
    return [address for address, listening_port in listening_tcp(host) if listening_port == port]


def is_loopback(address: str) -> bool:
    """True for 127.0.0.0/8, ::1 and IPv4-mapped loopback; False for wildcards and anything else."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False  # "*" and names
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_loopback


def psql_superuser(ssh: Any, database: str, sql: str, variables: dict[str, str] | None = None) -> str:
    """Run ``sql`` (stdin: testinfra has none) as the postgres superuser; unaligned, tuples only, '|' separated."""
    flags = " ".join(f"-v {shlex.quote(f'{k}={v}')}" for k, v in (variables or {}).items())
    command = (f"cd / && runuser -u postgres -- psql -X -q -At -F '|' -v ON_ERROR_STOP=1 {flags} "
               f"-d {shlex.quote(database)}")
    return ssh.sudo(command, stdin=sql.encode()).stdout
