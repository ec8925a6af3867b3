"""Root commands in long-lived root shells (harness/root_shell.py) give exactly what ``sudo -n sh -c`` on a channel
of its own gives, on the booted sandbox instance; a shell that cannot be root falls back to that channel."""
from __future__ import annotations

import hashlib
import os
import secrets
import shlex
import threading

import pytest

from harness.errors import HarnessError
from harness.ssh import CommandResult, SshSession

pytestmark = pytest.mark.timeout(300)

COMMANDS = [
    "id -un",
    "printf 'no newline at the end'",
    "echo out; echo err >&2; exit 3",
    "printf '%s\\n' \"it's\" 'a \"quoted\" $HOME' && echo tab\there",
    "for i in 1 2 3; do\n  echo line $i\ndone",
    "printf 'caf\\303\\251\\n'",
    "cat; echo stdin-was-closed",
    "echo $(pwd) $USER $HOME; umask",
]


def on_channel(ssh: SshSession, command: str) -> CommandResult:
    """What the same command gives on a channel of its own (the harness's way before root shells), without sudo's
    own warnings (the container's hostname does not resolve): a root shell's sudo gave them once, at its start."""
    result = ssh.run(f"sudo -n sh -c {shlex.quote(command)}", check=False)
    return CommandResult(result.exit_status, result.stdout, without_sudo_warnings(result.stderr))


def without_sudo_warnings(stderr: str) -> str:
    return "".join(line for line in stderr.splitlines(keepends=True) if not line.startswith("sudo: "))


def test_a_root_shell_answers_as_sudo_on_a_channel_does(deploy_ssh):
    for command in COMMANDS:
        assert deploy_ssh.sudo(command, check=False) == on_channel(deploy_ssh, command), command
    assert deploy_ssh.root_shells.idle, "the commands did not go through a root shell"


def test_data_on_stdin_arrives_exactly_and_never_on_a_command_line(deploy_ssh):
    data = os.urandom(1_500_000)
    assert deploy_ssh.sudo("sha256sum", stdin=data).stdout.split()[0] == hashlib.sha256(data).hexdigest()
    assert deploy_ssh.sudo("cat", stdin=b"no newline").stdout == "no newline"
    assert deploy_ssh.sudo("wc -c", stdin=b"").stdout.strip() == "0"
    secret = secrets.token_hex(16)
    # every command line on the host while the command holds the data (it has read it)
    listing = deploy_ssh.sudo("read -r line; ps -eo args", stdin=f"{secret}\n".encode()).stdout
    assert "ps -eo args" in listing and secret not in listing


def test_large_output_on_both_streams_does_not_stall(deploy_ssh):
    result = deploy_ssh.sudo("head -c 3000000 /dev/zero | base64; head -c 3000000 /dev/zero | base64 >&2")
    assert len(result.stdout) == len(result.stderr) == 4052632


def test_a_command_over_its_timeout_takes_its_shell_with_it(deploy_ssh):
    with pytest.raises(HarnessError, match="did not finish within 1 s"):
        deploy_ssh.sudo("sleep 5", timeout=1)
    assert all(shell.usable for shell in deploy_ssh.root_shells.idle)
    assert deploy_ssh.sudo("echo after").stdout == "after\n"


def test_threads_each_get_their_own_answers(deploy_ssh):
    """More threads than root shells: the others take channels of their own; every answer is the asker's."""
    wrong: list[str] = []

    def ask(worker: int) -> None:
        for i in range(15):
            try:
                answer = deploy_ssh.sudo(f"echo {worker}-{i}; echo e{worker}-{i} >&2")
            except Exception as exc:  # noqa: BLE001 (a thread's error must fail the test, not vanish with it)
                wrong.append(f"{worker}-{i}: {exc!r}")
                continue
            if (answer.stdout, without_sudo_warnings(answer.stderr)) != (f"{worker}-{i}\n", f"e{worker}-{i}\n"):
                wrong.append(f"{worker}-{i}: {answer}")

    threads = [threading.Thread(target=ask, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not wrong


def test_a_shell_that_would_not_be_root_is_not_used(booted, deploy_ssh):
    """A sudoers rule that runs the deploy user's commands as nobody: a new connection's root shell refuses to
    start, and sudo() runs on a channel as before (as nobody: what the sudo check must see)."""
    dropin = "/etc/sudoers.d/99-test-runas-nobody"
    deploy_ssh.sudo(f"printf 'Defaults:{booted.ssh_user} runas_default=nobody\\n' > {dropin} && chmod 0440 {dropin}")
    try:
        with SshSession(booted.address, booted.ssh_user, booted.key_path) as fresh:
            assert fresh.sudo("id -un").stdout.strip() == "nobody"
            assert not fresh.root_shells.idle and fresh.root_shells.opened == 0
    finally:
        deploy_ssh.run(f"sudo -n -u root rm -f {dropin}")
    assert deploy_ssh.sudo("id -un").stdout.strip() == "root"


def test_a_lasting_command_leaves_the_root_shells_to_short_ones(booted):
    """``lasting=True`` (a restore, a download: seconds) takes a channel of its own and opens no root shell."""
    with SshSession(booted.address, booted.ssh_user, booted.key_path) as fresh:
        assert fresh.sudo("sleep 0.2; id -un", lasting=True).stdout.strip() == "root"
        assert fresh.root_shells.opened == 0
        assert fresh.sudo("id -un").stdout.strip() == "root"
        assert fresh.root_shells.opened == 1
