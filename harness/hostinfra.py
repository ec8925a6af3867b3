"""testinfra on the harness's one SSH connection.

Every host question of the checks and the provisioner goes through testinfra's
modules (``host.socket``, ``host.service``, ``host.file``, ``host.user``,
``host.package``, ``host.sudo``, ``host.run``). Its paramiko backend is used
here on the connection that :class:`harness.ssh.SshSession` already holds (the
run's key, the deploy user), so a run opens one SSH connection, not two.
"""
from __future__ import annotations

import ipaddress
import shlex
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Iterable, Optional

import paramiko
from testinfra.backend.paramiko import ParamikoBackend
from testinfra.host import Host

from harness.root_shell import ShellUnavailable

if TYPE_CHECKING:
    from harness.ssh import SshSession

SUDO_PREFIX = b"sudo /bin/sh -c "  # testinfra's get_sudo_command for root (testinfra/backend/base.py)
SUDO_TIMEOUT = 600.0  # testinfra sets no timeout on a command; a root shell needs one


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
        """testinfra's own, with the session's channel limit and its retried channel open; ``host.sudo()``'s
        commands as root in the session's root shells (harness/root_shell.py) when one is free."""
        if not self.get_pty and command.startswith(SUDO_PREFIX):
            try:
                return self.session.root_shells.run(command[len(b"sudo "):].decode(), timeout=SUDO_TIMEOUT)
            except ShellUnavailable:
                pass
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


# The unit file states for which `systemctl is-enabled` exits 0 (testinfra's ``is_enabled``); masked, disabled,
# linked and unknown units are not enabled.
ENABLED_STATES = frozenset({"enabled", "enabled-runtime", "static", "indirect", "generated", "transient", "alias"})


def unit_state(host: Any, unit: str) -> tuple[bool, bool]:
    """(enabled, active) of the systemd ``unit``, from one ``systemctl show`` (testinfra ``systemd_properties``)
    rather than one command each; a masked or unknown unit is not enabled."""
    properties = host.service(unit).systemd_properties
    return (properties.get("UnitFileState") in ENABLED_STATES,
            properties.get("ActiveState") in ("active", "reloading"))


@dataclass(frozen=True)
class FileState:
    """What ``stat`` says of a path (following links): its type, mode, owner and group."""

    kind: str  # stat's %F: "directory", "regular file", ...
    mode: int
    user: str
    group: str


def file_state(host: Any, path: str) -> Optional[FileState]:
    """The state of ``path`` in one command (testinfra's ``host.file`` asks once per property), None when absent."""
    result = host.run("stat -Lc '%%F|%%a|%%U|%%G' -- %s", path)
    if result.rc != 0:
        return None
    kind, mode, user, group = result.stdout.strip().split("|")
    return FileState(kind, int(mode, 8), user, group)


def missing_commands(host: Any, names: Iterable[str]) -> list[str]:
    """The commands among ``names`` not on the host's PATH, asked in one command (as root)."""
    wanted = list(names)
    found = host.run(" ".join(["for c in"] + [shlex.quote(n) for n in wanted]
                              + ["; do command -v \"$c\" >/dev/null 2>&1 || echo \"$c\"; done"]))
    return [name for name in found.stdout.split() if name in wanted]


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
