"""Waiting for an instance, in every environment: running in the API, then a login over SSH.

The EC2 stage (fixtures/stage_instance.py) and the sandbox boot
(harness/sandbox/instance.py) wait for the same two things; this module is the
one place that says how.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from harness.errors import HarnessError
from harness.retry import wait_until
from harness.ssh import SshSession


def wait_running(ec2: Any, instance_id: str, *, timeout: float, interval: float = 0.5) -> None:
    """Wait until the API reports ``instance_id`` in state ``running``."""

    def running() -> bool:
        reservations = ec2.describe_instances(InstanceIds=[instance_id])["Reservations"]
        return reservations[0]["Instances"][0]["State"]["Name"] == "running"

    wait_until(f"instance {instance_id} to be running (API)", running, timeout=timeout, interval=interval)


def wait_login(address: str, user: str, key_path: Path, *, command: str = "true", timeout: float,
               interval: float = 0.2, connect_timeout: float = 5, description: str = "") -> None:
    """Wait until ``user`` logs in on ``address`` with the run's key and ``command`` exits 0.

    A refused or failed SSH connection means "not yet" here (the instance is still
    booting), so it is turned into a ``ConnectionError`` that the wait retries.
    """

    def login() -> bool:
        try:
            with SshSession(address, user, key_path, connect_timeout=connect_timeout) as session:
                return session.run(command, timeout=max(10.0, 2 * connect_timeout), check=False).exit_status == 0
        except HarnessError as exc:
            raise ConnectionError(str(exc)) from exc

    wait_until(description or f"SSH login as {user} on {address}", login, timeout=timeout, interval=interval)
