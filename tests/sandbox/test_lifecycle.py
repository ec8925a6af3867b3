"""Boot failures, interrupts and the sweep: nothing of a sandbox instance is ever left behind."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from harness.errors import HarnessError
from harness.sandbox.cleanup import leftovers_by_name, nspawn_pids
from harness.sandbox.cloud_seed import CloudSeed
from harness.sandbox.firewall import IngressRule
from harness.sandbox.image import ensure_image
from harness.sandbox.instance import BootTimeouts, boot_from_api, sandbox_instance
from harness.sandbox.state import STATE_FILE
from harness.sweep import sweep
from harness.keys import generate_keypair
from harness.runid import new_run_id
from sandbox_support import USER_DATA, create_api_instance, requires_root

pytestmark = pytest.mark.timeout(240)

BOOT_SCRIPT = Path(__file__).with_name("boot_script.py")
FAILING_USER_DATA = b"#!/bin/bash\necho 'provisioning step exploded: disk on fire' >&2\nexit 1\n"


@pytest.fixture(autouse=True)
def _root_and_image():
    requires_root()
    ensure_image()


def _no_leftovers(run_id: str, run_dir: Path) -> None:
    assert leftovers_by_name(run_id) == []
    assert not (run_dir / "instance").exists(), "the rootfs copy is still there"
    assert not (run_dir / STATE_FILE).exists(), "the state file says something is left"


def test_failed_user_data_fails_the_stage_with_the_log_tail(ec2, tmp_path):
    """A user data that exits 1 fails the stage; the error shows cloud-init's output; nothing is left."""
    created = create_api_instance(ec2, tmp_path, FAILING_USER_DATA, [22])
    run_id = new_run_id()
    with pytest.raises(HarnessError) as failure:
        with boot_from_api(run_id, tmp_path / run_id, ec2, created.instance_id, created.keypair.private_key_path,
                           timeouts=BootTimeouts(login=10)):
            pytest.fail("the boot must not succeed")
    message = str(failure.value)
    assert "cloud-init reported errors" in message
    assert "provisioning step exploded: disk on fire" in message  # the tail of cloud-init-output.log
    _no_leftovers(run_id, tmp_path / run_id)


def test_exception_inside_the_boot_cleans_up(tmp_path, monkeypatch):
    """An error half-way through setup (after the network, before the container) still removes everything."""
    from harness.sandbox import container

    def broken(*args, **kwargs):
        raise RuntimeError("simulated failure while copying the rootfs")

    monkeypatch.setattr(container, "make_rootfs_copy", broken)
    run_id = new_run_id()
    keypair = generate_keypair(tmp_path / "keys", "t")
    seed = CloudSeed("i-1", "h", USER_DATA.read_bytes(), (keypair.public_openssh,))
    with pytest.raises(RuntimeError, match="simulated"):
        with sandbox_instance(run_id, tmp_path / run_id, seed, lambda: [], keypair.private_key_path):
            pass
    _no_leftovers(run_id, tmp_path / run_id)


def _start_boot(tmp_path: Path, dir_name: str | None = None) -> tuple[subprocess.Popen, str, Path]:
    run_id = new_run_id()
    run_dir = tmp_path / (dir_name or run_id)
    keypair = generate_keypair(tmp_path / "keys", "t")
    public = tmp_path / "keys" / "id_ed25519.pub"
    process = subprocess.Popen(
        [sys.executable, str(BOOT_SCRIPT), run_id, str(run_dir), str(USER_DATA), str(keypair.private_key_path),
         str(public)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    return process, run_id, run_dir


def _wait_for(condition, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_signal_during_boot_leaves_nothing(tmp_path, signum):
    """SIGINT/SIGTERM while the container boots: no nspawn, netns, veth, nft table or rootfs copy remains."""
    process, run_id, run_dir = _start_boot(tmp_path)
    try:
        _wait_for(lambda: nspawn_pids(run_id) or process.poll() is not None, 60, "systemd-nspawn to start")
        assert process.poll() is None, process.stdout.read()
        assert leftovers_by_name(run_id), "the boot created nothing to clean?"
        process.send_signal(signum)
        output, _ = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert "booted" not in output, "the signal came too late to test an interrupted boot"
    assert "KeyboardInterrupt" in output
    _no_leftovers(run_id, run_dir)


def test_sweep_removes_what_a_killed_run_left(tmp_path):
    """A harness killed with SIGKILL cleans nothing; the sweep finds its resources and removes them.

    The run's folder is not named after the run id here: the state file inside says which run it is.
    """
    process, run_id, run_dir = _start_boot(tmp_path, dir_name="killed-run")
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        while line and "booted" not in line:
            line = process.stdout.readline()
        assert "booted" in line, "the container did not boot"
        os.kill(process.pid, signal.SIGKILL)
        process.wait(timeout=10)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    left = leftovers_by_name(run_id)
    assert any(item.startswith("process") for item in left) and any(item.startswith("netns") for item in left)
    assert (run_dir / "instance" / "rootfs" / "usr").is_dir(), "the rootfs copy should still be mounted"
    report = sweep(tmp_path)
    assert report.get(run_id) == [], report
    _no_leftovers(run_id, run_dir)


def test_sweep_leaves_a_live_run_alone(tmp_path):
    """The sweep does not touch a run whose harness process is alive."""
    process, run_id, run_dir = _start_boot(tmp_path)
    try:
        _wait_for(lambda: (run_dir / STATE_FILE).exists() and nspawn_pids(run_id), 60, "the boot to start")
        assert run_id not in sweep(tmp_path)
        assert nspawn_pids(run_id), "the sweep stopped a live run's container"
    finally:
        process.send_signal(signal.SIGINT)
        process.communicate(timeout=60)
    _no_leftovers(run_id, run_dir)


def test_keep_then_reuse_then_remove(tmp_path):
    """--keep leaves the booted container; --reuse attaches to it (SSH, prober); removing it leaves nothing."""
    from harness.sandbox.instance import attach
    from harness.ssh import SshSession

    run_id = new_run_id()
    run_dir = tmp_path / run_id
    keypair = generate_keypair(tmp_path / "keys", "t")
    seed = CloudSeed("i-1", "h", USER_DATA.read_bytes(), (keypair.public_openssh,))
    rules = [IngressRule("tcp", 22, 22, ("0.0.0.0/0",))]
    try:
        with sandbox_instance(run_id, run_dir, seed, lambda: rules, keypair.private_key_path, keep=True) as first:
            address = first.address
        assert nspawn_pids(run_id), "the kept container was stopped"
        with attach(run_id, run_dir, keypair.private_key_path, "i-1", lambda: rules, keep=True) as again:
            assert again.address == address
            assert again.internet.is_open(22)
            with SshSession(again.address, "deploy", keypair.private_key_path) as ssh:
                assert ssh.run("test -e /var/lib/user-data/done", check=False).exit_status == 0
        assert nspawn_pids(run_id), "attaching with keep must not stop the container"
        with attach(run_id, run_dir, keypair.private_key_path, "i-1", lambda: rules, keep=False):
            pass
        _no_leftovers(run_id, run_dir)
    finally:
        from harness.sweep import sweep_run

        sweep_run(run_dir)


def test_container_that_does_not_halt_in_time_is_killed(tmp_path):
    """No time to halt (stop timeout 0): SIGKILL ends systemd-nspawn and the container's init; nothing remains."""
    run_id = new_run_id()
    keypair = generate_keypair(tmp_path / "keys", "t")
    seed = CloudSeed("i-1", "h", USER_DATA.read_bytes(), (keypair.public_openssh,))
    with sandbox_instance(run_id, tmp_path / run_id, seed, lambda: [], keypair.private_key_path,
                          timeouts=BootTimeouts(stop=0)):
        assert nspawn_pids(run_id)
    _no_leftovers(run_id, tmp_path / run_id)
