"""Root commands through a few long-lived root shells on the one SSH connection.

A command run on a channel of its own costs a session on the host: sshd forks, PAM opens the session, the
deploy user's login shell starts, sudo runs its PAM stack and logs, then ``sh -c``. Measured on the sandbox
instance: 57 ms per ``sudo -n sh -c true``, 1.3 ms for the same command in a root shell that is already
running. The provisioner's re-run asks about 80 root questions and the checks about as many again.

A :class:`RootShell` is one channel running ``sudo -n /bin/sh`` that reads commands on its stdin. Each command
runs as ``/bin/sh -c <command>`` (as ``sudo -n sh -c <command>`` would), its stdin either closed or the data
given, which travels in the shell's own input as a base64 here-document (never on a command line or on disk),
followed by a line carrying a random token and the exit status on stdout, and the token on stderr; its output is
what comes before them. :class:`RootShells` lends shells to threads, one thread per shell at a time, and opens
up to ``MAX_SHELLS``; while all are lent, a command takes a channel of its own.

When a shell cannot start (sudo refuses, a sudoers rule makes it another user than root, the connection dropped)
nothing has run, and the caller falls back to a channel of its own: the error a person sees is sudo's, exactly as
without these shells. A command that overruns its timeout, or whose shell ends under it, takes its shell with it:
the shell is closed and never lent again, and the command is not run twice. A check about sudo itself must not
come here: it runs ``sudo`` on a channel (suites/host_checks.py).
"""
from __future__ import annotations

import base64
import secrets
import shlex
import threading
import time
from typing import Callable, Optional

import paramiko

from harness.errors import HarnessError
from harness.redaction import redact

# Root shells held open at once: with the session's 6 channels that leaves sshd's MaxSessions (10) room for the
# sessions sshd still counts after their close (a command that overran its timeout holds one until it ends).
MAX_SHELLS = 2
START_TIMEOUT = 15.0  # seconds a new shell has to answer its first command (am I root?)
RETRY_REFUSED = 10.0  # seconds after a refused shell before one is tried again (meanwhile: channels)


class ShellUnavailable(Exception):
    """The root shell could not start or died between commands: run the command on a channel of its own."""


class RootShell:
    """One ``sudo -n /bin/sh`` on a channel, running one command at a time."""

    def __init__(self, channel: paramiko.Channel, address: str):
        self.channel = channel
        self.address = address
        self.usable = True

    @classmethod
    def start(cls, channel: paramiko.Channel, address: str) -> "RootShell":
        """The shell on ``channel``, once it answered that it is root; ShellUnavailable when it did not (sudo
        refused, or a sudoers rule runs the deploy user's commands as another user)."""
        shell = cls(channel, address)
        try:
            channel.exec_command("sudo -n /bin/sh")
            result = shell.run('test "$(id -u)" = 0', timeout=START_TIMEOUT)
        except (HarnessError, ShellUnavailable) as exc:
            shell.close()
            raise ShellUnavailable(str(exc)) from None
        except (OSError, EOFError, paramiko.SSHException) as exc:
            shell.close()
            raise ShellUnavailable(f"the root shell's channel on {address} failed: {exc}") from None
        if result[0] != 0:
            shell.close()
            raise ShellUnavailable(f"sudo -n /bin/sh on {address} is not root")
        return shell

    def run(self, command: str, *, timeout: float, stdin: Optional[bytes] = None) -> tuple[int, bytes, bytes]:
        """``command`` as root in this shell: (exit status, stdout, stderr); HarnessError when it overruns
        ``timeout`` or the shell ends under it (the shell is closed). ``stdin`` reaches the command through a
        here-document of the shell's own input, base64-encoded (any bytes, exactly): never a command line or
        a file."""
        token = secrets.token_hex(12)
        status_mark, stderr_mark = f"\n{token} ".encode(), f"\n{token}\n".encode()
        feed = f"base64 -d <<'{token}' |" if stdin is not None else ""
        source = "" if stdin is not None else " </dev/null"
        script = (f"{feed} /bin/sh -c {shlex.quote(command)}{source}; printf '\\n{token} %d\\n' $?; "
                  f"printf '\\n{token}\\n' >&2\n")
        if stdin is not None:
            script += base64.encodebytes(stdin).decode() + f"{token}\n"
        out, err = bytearray(), bytearray()
        deadline = time.monotonic() + timeout
        try:
            self.channel.sendall(script.encode())
        except (OSError, EOFError, paramiko.SSHException) as exc:  # nothing ran: the caller may use a channel
            self.close()
            raise ShellUnavailable(f"the root shell's channel on {self.address} failed: {exc}") from None
        try:
            while True:
                progressed = False
                while self.channel.recv_ready():
                    out += self.channel.recv(65536)
                    progressed = True
                while self.channel.recv_stderr_ready():
                    err += self.channel.recv_stderr(65536)
                    progressed = True
                at = out.find(status_mark)
                if at >= 0 and out.endswith(b"\n") and err.endswith(stderr_mark):
                    return int(out[at + len(status_mark):].strip()), bytes(out[:at]), bytes(err[:-len(stderr_mark)])
                if self.channel.exit_status_ready() or self.channel.closed:
                    raise HarnessError(f"the root shell on {self.address} ended while running "
                                       f"{redact(command)[:200]}: {redact(err.decode(errors='replace'))[-300:]}")
                if time.monotonic() > deadline:
                    raise HarnessError(f"command on {self.address} did not finish within {timeout:.0f} s: "
                                       f"{redact(command)[:200]}")
                if not progressed:
                    time.sleep(0.002)
        except (OSError, EOFError, paramiko.SSHException) as exc:
            self.close()
            raise HarnessError(f"the root shell's channel on {self.address} failed while running "
                               f"{redact(command)[:200]}: {exc}") from None
        except HarnessError:
            self.close()  # a shell that overran or ended is never lent again
            raise

    def close(self) -> None:
        """Close the shell's channel; it is never lent again."""
        self.usable = False
        self.channel.close()


class RootShells:
    """The root shells of one SSH connection, lent to one thread at a time."""

    def __init__(self, open_channel: Callable[[], paramiko.Channel], address: str):
        self.open_channel = open_channel
        self.address = address
        self.idle: list[RootShell] = []
        self.opened = 0
        self.lock = threading.Lock()
        self.refused_until = 0.0  # monotonic time before which no new shell is tried (one was refused)

    def _borrow(self) -> Optional[RootShell]:
        """An idle shell, or None when this thread may open one; ShellUnavailable when MAX_SHELLS are lent
        (the command takes a channel of its own rather than wait behind another)."""
        with self.lock:
            while self.idle:
                shell = self.idle.pop()
                if shell.usable and not shell.channel.closed:
                    return shell
                self.opened -= 1
            if self.opened >= MAX_SHELLS:
                raise ShellUnavailable("every root shell is busy")
            self.opened += 1
            return None

    def _give_back(self, shell: Optional[RootShell]) -> None:
        with self.lock:
            if shell is not None and shell.usable:
                self.idle.append(shell)
            else:
                self.opened -= 1

    def run(self, command: str, *, timeout: float, stdin: Optional[bytes] = None) -> tuple[int, bytes, bytes]:
        """``command`` as root in a lent shell (one is opened when none is idle), ``stdin`` its input: (exit
        status, stdout, stderr). ShellUnavailable when no shell could start: nothing ran, the caller runs it on
        a channel of its own. HarnessError when the command overran ``timeout`` or its shell ended while it ran."""
        if time.monotonic() < self.refused_until:
            raise ShellUnavailable("a root shell was refused moments ago")
        shell = self._borrow()
        try:
            if shell is None:
                try:
                    shell = RootShell.start(self.open_channel(), self.address)
                except (HarnessError, ShellUnavailable) as exc:
                    self.refused_until = time.monotonic() + RETRY_REFUSED
                    raise ShellUnavailable(str(exc)) from None
            return shell.run(command, timeout=timeout, stdin=stdin)
        finally:
            self._give_back(shell)

    def close(self) -> None:
        """Close every idle shell (the connection is closing)."""
        with self.lock:
            for shell in self.idle:
                shell.close()
            self.opened -= len(self.idle)
            self.idle.clear()
