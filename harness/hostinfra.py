"""testinfra on the harness's one SSH connection.

Every host question of the checks and the provisioner goes through testinfra's
modules (``host.socket``, ``host.service``, ``host.file``, ``host.user``,
``host.package``, ``host.sudo``, ``host.run``). Its paramiko backend is used
here on the connection that :class:`harness.ssh.SshSession` already holds (the
run's key, the deploy user), so a run opens one SSH connection, not two.
"""
from __future__ import annotations

import ipaddress
import threading
from typing import TYPE_CHECKING, Any

import paramiko
from testinfra.backend.paramiko import ParamikoBackend
from testinfra.host import Host

if TYPE_CHECKING:
    from harness.ssh import SshSession


class SessionBackend(ParamikoBackend):
    """testinfra's paramiko backend whose client is the SshSession's (reconnects when it dropped)."""

    def __init__(self, session: "SshSession", **kwargs: Any):
        self._per_thread = threading.local()
        super().__init__(f"paramiko://{session.user}@{session.address}:{session.port}",
                         ssh_identity_file=str(session.key_path), timeout=int(session.connect_timeout), **kwargs)
        self.session = session

    # testinfra's ``host.sudo()`` swaps the backend's get_command for the length of a ``with``: per thread here,
    # so that a check running in its own thread (harness/plugin/concurrent_checks.py) neither sees another
    # thread's sudo nor ends it.
    @property  # type: ignore[override]
    def get_command(self) -> Any:
        return getattr(self._per_thread, "get_command", None) or super().get_command

    @get_command.setter
    def get_command(self, value: Any) -> None:
        self._per_thread.get_command = value

    def _exec_command(self, command: bytes) -> tuple[int, bytes, bytes]:
        """testinfra's own, with the session's channel limit and its retried channel open."""
        with self.session.channels:
            chan = self.session.open_channel()
            try:
                if self.get_pty:
                    chan.get_pty()
                chan.exec_command(command)
                stdout = b"".join(chan.makefile("rb"))
                stderr = b"".join(chan.makefile_stderr("rb"))
                return chan.recv_exit_status(), stdout, stderr
            finally:
                chan.close()

    @property  # type: ignore[override]
    def client(self) -> paramiko.SSHClient:
        return self.session.client

    @client.deleter
    def client(self) -> None:  # testinfra drops a dead client this way before it retries once
        self.session.close()


def testinfra_host(session: "SshSession") -> Host:
    """A testinfra host over ``session``'s connection; ``host.sudo()`` runs as root (sudo without password)."""
    return Host(SessionBackend(session))


def listening_tcp(host: Any) -> list[tuple[str, int]]:
    """(local address, port) of every listening TCP socket on the host (testinfra ``host.socket``)."""
    found = []
    for spec in host.socket.get_listening_sockets():
        protocol, _, rest = spec.partition("://")
        if protocol != "tcp":
            continue
        address, _, port = rest.rpartition(":")
        found.append((address.split("%", 1)[0], int(port)))
    return found


def unit_state(host: Any, unit: str) -> tuple[bool, bool]:
    """(enabled, active) of the systemd ``unit`` (testinfra ``host.service``); a masked or unknown unit is not enabled."""
    service = host.service(unit)
    try:
        enabled = bool(service.is_enabled)
    except RuntimeError:  # masked, static or no such unit
        enabled = False
    return enabled, bool(service.is_running)


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
