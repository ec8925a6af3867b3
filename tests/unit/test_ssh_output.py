"""A command's output is read to its end, also when sshd sends the exit status before the last output."""
from __future__ import annotations

import paramiko

from harness.ssh import SshSession, open_session


class StatusFirstChannel:
    """A session channel whose exit status arrives before the command's output and its EOF (as sshd may send them
    when the command exited while its output was still in the pipe)."""

    def __init__(self):
        self.polls = 0
        self.eof_received = self.closed = False
        self.pending = b""

    def settimeout(self, _):
        pass

    def exec_command(self, _):
        pass

    def sendall(self, _):
        pass

    def shutdown_write(self):
        pass

    def exit_status_ready(self):
        self.polls += 1
        if self.polls == 3:  # the output, then EOF, come after the status
            self.pending, self.eof_received = b"written\n", True
        return True

    def recv_ready(self):
        return bool(self.pending)

    def recv(self, _):
        data, self.pending = self.pending, b""
        return data

    def recv_stderr_ready(self):
        return False

    def recv_exit_status(self):
        return 0

    def close(self):
        self.closed = True


def test_output_after_the_exit_status_is_not_lost(tmp_path):
    session = SshSession("192.0.2.1", "deploy", None)
    session.open_channel = StatusFirstChannel  # type: ignore[method-assign]
    result = session._run_on_channel("psql -f -", b"SELECT 1;", timeout=5, check=True)
    assert result.exit_status == 0 and result.stdout == "written\n"


class RefusingOnceTransport:
    """A connection whose first session channel is refused the way paramiko reports it when another thread took
    the refusal's ChannelException first: a bare SSHException("Unable to open channel.")."""

    def __init__(self):
        self.opens = 0

    def is_active(self):
        return True

    def open_session(self, timeout):
        self.opens += 1
        if self.opens == 1:
            raise paramiko.SSHException("Unable to open channel.")
        return "channel"


def test_a_refusal_whose_exception_another_thread_took_is_asked_again():
    transport = RefusingOnceTransport()
    assert open_session(transport, timeout=1) == "channel"
    assert transport.opens == 2
