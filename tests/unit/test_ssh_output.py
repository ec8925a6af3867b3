"""A command's output is read to its end, also when sshd sends the exit status before the last output."""
from __future__ import annotations

import threading

import paramiko
import paramiko.common

from harness.ssh import SshSession, open_session, send_eof


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

    lock = threading.Lock()
    eof_sent = False

    class transport:  # noqa: N801 (stands in for paramiko's Transport)
        @staticmethod
        def _send_user_message(_message):
            pass

    def _send_eof(self):
        self.eof_sent = True
        return "EOF"

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


class CloseDuringEofTransport:
    """A connection whose sshd ends the command while the client sends its EOF: the transport thread handles
    sshd's close (paramiko's ``Channel._handle_close``) at the moment the EOF message is on its way out."""

    def __init__(self, channel: paramiko.Channel):
        self.channel = channel
        self.sent: list[str] = []
        self.closer: threading.Thread | None = None

    def _send_user_message(self, message) -> None:
        kind = {paramiko.common.cMSG_CHANNEL_EOF: "EOF", paramiko.common.cMSG_CHANNEL_CLOSE: "CLOSE"}[
            message.asbytes()[:1]]
        if kind == "EOF" and self.closer is None:
            self.closer = threading.Thread(target=self.channel._handle_close, args=(None,))
            self.closer.start()
            self.closer.join(0.5)  # the close gets this long to overtake the EOF
        self.sent.append(kind)

    def _unlink_channel(self, _chanid) -> None:
        pass


def test_the_eof_never_follows_the_channels_close():
    """sshd drops the whole connection on an EOF for a channel it has freed after the close (paramiko #1115):
    with the close arriving while the EOF is being sent, the EOF still goes first. ``channel.shutdown_write()``
    in place of ``send_eof`` fails this test (CLOSE, then EOF)."""
    channel = paramiko.Channel(7)
    channel.transport = transport = CloseDuringEofTransport(channel)
    channel.active = True
    send_eof(channel)
    transport.closer.join(5)
    assert transport.sent == ["EOF", "CLOSE"], f"messages sent in this order: {transport.sent}"
    send_eof(channel)  # a closed channel gets no more EOF
    assert transport.sent == ["EOF", "CLOSE"]
