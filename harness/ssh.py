"""SSH to the instance: one paramiko connection, reused, as the deploy user.

Host questions go through testinfra on this connection (``SshSession.host``);
this module itself does what testinfra cannot: send data on stdin (file
contents, secrets), with a timeout on every command. Commands are strings for the remote shell; every argument that comes from
data must be quoted by the caller with ``shlex.quote``. File contents travel
on stdin, never on a command line.
"""
from __future__ import annotations

import hashlib
import shlex
import socket
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import paramiko

from harness.errors import HarnessError
from harness.redaction import redact
from harness.retry import wait_until
from harness.root_shell import RootShells, ShellUnavailable


CHANNELS = 6  # channels open at once on the one connection (sshd allows MaxSessions, 10 by default)
SESSION_WAIT = 15.0  # seconds a refused session channel is asked for again
# Seconds sshd may take to answer a channel open. It answers none before the login's PAM session is open, and
# pam_systemd waits there until systemd-logind has the user's manager (user@UID.service) running: a start takes
# well under a second, a manager stuck stopping takes its 120 s stop timeout (the sandbox image keeps managers
# running for this reason: fixtures/sandbox/image/customize.sh).
SESSION_OPEN_TIMEOUT = 30.0


def open_session(transport: paramiko.Transport, timeout: float) -> paramiko.Channel:
    """A session channel on ``transport``. sshd refuses one ("Connect failed") while MaxSessions are open, and a
    channel closed a moment ago still counts until sshd has processed its close: a refusal is asked again."""
    opened: list[paramiko.Channel] = []

    def opening() -> bool:
        try:
            opened.append(transport.open_session(timeout=timeout))
        except paramiko.ChannelException:
            if not transport.is_active():
                raise HarnessError("the SSH connection closed while a session channel was being opened") from None
            return False
        except paramiko.SSHException as exc:
            if transport.is_active() and "Unable to open channel" in str(exc):
                # A refusal too: paramiko keeps the refusal's ChannelException in one slot per connection, and a
                # thread opening another channel at the same moment may have taken it (paramiko's open_channel).
                return False
            if transport.is_active() and "Timeout opening channel" in str(exc):
                host, port = transport.getpeername()[:2]
                raise HarnessError(
                    f"sshd on {host}:{port} accepted the login but answered no session channel within {timeout:.0f} s: "
                    "the login's session is not open yet; look at the instance's journal for systemd-logind and "
                    "user@.service (a user manager stuck starting or stopping holds every login)") from None
            raise
        return True

    if not opening():  # the named wait (and its log lines) only when sshd refused
        wait_until("sshd to accept one more session channel on the connection (MaxSessions)", opening,
                   timeout=SESSION_WAIT, interval=0.1)
    return opened[0]


def send_eof(channel: paramiko.Channel) -> None:
    """Tell the command on ``channel`` that its stdin has ended, never after the channel's close.

    paramiko's ``shutdown_write`` makes the EOF message under the channel's lock but sends it after letting go;
    when the command has already ended, the transport thread may meanwhile answer sshd's close with ours, and the
    EOF then follows it. sshd has freed the channel by then and drops the whole connection ("ieof packet referred
    to nonexistent channel"): every command and root shell on it fails (paramiko issues #1115 and #1705, open;
    seen here under load as sessions that "exited -1"). Sending the EOF while holding the lock keeps it ahead of
    the close, which the transport thread makes under that same lock."""
    # While a key exchange runs (paramiko starts one after 512 MB) the send waits with the lock held, at most
    # paramiko's 30 s clear-to-send timeout; a close arriving meanwhile waits for the lock.
    with channel.lock:
        if channel.closed or channel.eof_sent:
            return
        message = channel._send_eof()
        channel.transport._send_user_message(message)


@dataclass(frozen=True)
class CommandResult:
    exit_status: int
    stdout: str
    stderr: str


class _AcceptNewHostKey(paramiko.MissingHostKeyPolicy):
    """Accept the host key of a freshly created instance (kept in memory for this session only)."""

    def missing_host_key(self, client: paramiko.SSHClient, hostname: str, key: paramiko.PKey) -> None:
        client.get_host_keys().add(hostname, key.get_name(), key)


def _tail(text: str, lines: int = 20) -> str:
    return "\n".join(redact(text).strip().splitlines()[-lines:])


class SshSession:
    """One paramiko connection, reused, to the instance as the deploy user."""

    def __init__(self, address: str, user: str, key_path: Path | None, port: int = 22, connect_timeout: float = 10):
        """``key_path`` None: the operator's key is in the ssh-agent (harness/operator_key.py)."""
        self.address = address
        self.user = user
        self.key_path = Path(key_path) if key_path is not None else None
        self.port = port
        self.connect_timeout = connect_timeout
        self._client: paramiko.SSHClient | None = None
        self._host: Any = None
        self._connecting = threading.Lock()
        # Checks run commands from several threads at once (harness/plugin/concurrent_checks.py); sshd lets
        # one connection have MaxSessions (10) channels open, so at most CHANNELS are.
        self.channels = threading.BoundedSemaphore(CHANNELS)
        # Root commands without stdin go through a few long-lived root shells (harness/root_shell.py): up to
        # MAX_SHELLS more channels, within MaxSessions.
        self.root_shells = RootShells(self.open_channel, address)

    @property
    def client(self) -> paramiko.SSHClient:
        """The connected paramiko client (connects on first use, reconnects when the transport dropped)."""
        with self._connecting:
            return self._connected()

    def _connected(self) -> paramiko.SSHClient:
        transport = self._client.get_transport() if self._client else None
        if self._client is None or transport is None or not transport.is_active():
            self.close()
            client = paramiko.SSHClient()
            client.set_missing_host_key_policy(_AcceptNewHostKey())
            try:
                client.connect(
                    self.address, port=self.port, username=self.user,
                    key_filename=str(self.key_path) if self.key_path else None,
                    timeout=self.connect_timeout, banner_timeout=self.connect_timeout,
                    auth_timeout=self.connect_timeout, look_for_keys=False, allow_agent=self.key_path is None,
                )
            except (paramiko.SSHException, OSError) as exc:
                client.close()
                raise HarnessError(
                    f"cannot open SSH to {self.user}@{self.address}:{self.port}: {redact(str(exc))}; "
                    "check that the instance is up, the security group allows SSH and the key pair matches"
                ) from exc
            self._client = client
        return self._client

    @property
    def host(self) -> Any:
        """A testinfra host (testinfra.host.Host) over this same connection (harness/hostinfra.py)."""
        if self._host is None:
            from harness.hostinfra import testinfra_host

            self._host = testinfra_host(self)
        return self._host

    def run(self, command: str, *, stdin: bytes | None = None, timeout: float = 120,
            check: bool = True) -> CommandResult:
        """Run ``command`` on the instance; with ``check`` a non-zero exit raises HarnessError."""
        with self.channels:
            return self._run_on_channel(command, stdin, timeout, check)

    def open_channel(self) -> paramiko.Channel:
        """A session channel on the connection (see open_session)."""
        return open_session(self.client.get_transport(), SESSION_OPEN_TIMEOUT)

    def _run_on_channel(self, command: str, stdin: bytes | None, timeout: float, check: bool) -> CommandResult:
        channel = self.open_channel()
        try:
            channel.settimeout(1.0)
            channel.exec_command(command)
            if stdin is not None:
                channel.sendall(stdin)
            send_eof(channel)
            out, err = bytearray(), bytearray()
            deadline = time.monotonic() + timeout
            while True:
                progressed = False
                while channel.recv_ready():
                    out += channel.recv(65536)
                    progressed = True
                while channel.recv_stderr_ready():
                    err += channel.recv_stderr(65536)
                    progressed = True
                # Done when the output ended (EOF) too, not at the exit status alone: sshd may send the status
                # while the last output is still on its way (the command's pipe drained after it exited).
                finished = channel.exit_status_ready() and (channel.eof_received or channel.closed)
                if finished and not channel.recv_ready() and not channel.recv_stderr_ready():
                    break
                if time.monotonic() > deadline:
                    raise HarnessError(
                        f"command on {self.address} did not finish within {timeout:.0f} s: {redact(command)[:200]}"
                    )
                if not progressed:
                    time.sleep(0.01)
            status = channel.recv_exit_status()
        except socket.timeout as exc:
            raise HarnessError(f"SSH channel to {self.address} timed out running: {redact(command)[:200]}") from exc
        finally:
            channel.close()
        return self._checked(CommandResult(status, out.decode(errors="replace"), err.decode(errors="replace")),
                             command, check)

    def _checked(self, result: CommandResult, command: str, check: bool) -> CommandResult:
        if check and result.exit_status != 0:
            raise HarnessError(
                f"command on {self.user}@{self.address} exited {result.exit_status}: {redact(command)[:300]}\n"
                f"--- stderr (tail) ---\n{_tail(result.stderr)}"
            )
        return result

    def sudo(self, command: str, *, stdin: bytes | None = None, timeout: float = 120,
             check: bool = True, lasting: bool = False) -> CommandResult:
        """Run ``command`` as root, as ``sudo -n sh -c <quoted command>`` would: in a root shell already open
        (harness/root_shell.py), or on a channel of its own when none is free or none can start. ``lasting``: a
        command of seconds (a restore, a download) takes a channel of its own at once, leaving the few root
        shells to the many short questions, for which a channel's 55 ms would be most of their time."""
        as_root = f"sudo -n sh -c {shlex.quote(command)}"
        if lasting:
            return self.run(as_root, stdin=stdin, timeout=timeout, check=check)
        try:
            status, out, err = self.root_shells.run(command, timeout=timeout, stdin=stdin)
        except ShellUnavailable:
            return self.run(as_root, stdin=stdin, timeout=timeout, check=check)
        return self._checked(CommandResult(status, out.decode(errors="replace"), err.decode(errors="replace")),
                             as_root, check)

    def put_file(self, path: str, data: bytes, *, mode: int = 0o644, owner: str = "root",
                 group: str = "root") -> bool:
        """Write ``data`` to ``path`` as root (content on stdin); True when content, mode or owner changed."""
        quoted = shlex.quote(path)
        wanted = f"{hashlib.sha256(data).hexdigest()} {mode:o} {owner} {group}"
        current = self.sudo(
            f"if [ -f {quoted} ]; then printf '%s %s\\n' \"$(sha256sum < {quoted} | cut -d' ' -f1)\" "
            f"\"$(stat -c '%a %U %G' {quoted})\"; fi",
        ).stdout.strip()
        if current == wanted:
            return False
        tmp = shlex.quote(f"{path}.harness-tmp")
        self.sudo(
            f"umask 077 && cat > {tmp} && chown {shlex.quote(owner)}:{shlex.quote(group)} {tmp} "
            f"&& chmod {mode:o} {tmp} && mv -f {tmp} {quoted}",
            stdin=data,
        )
        return True

    def close(self) -> None:
        """Close the connection (a later command reconnects)."""
        self.root_shells.close()
        if self._client is not None:
            self._client.close()
            self._client = None

    def __enter__(self) -> "SshSession":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
