"""The AWS endpoint of a run and boto3 clients pointed at it.

In the sandbox the run starts a moto server (the real moto, serving the AWS API
on a free loopback port) as its own process, so that a run kept with ``--keep``
can be reused by a later one. ``--aws-endpoint`` or LocalStack's variables
(``AWS_ENDPOINT_URL`` / ``LOCALSTACK_HOST``, read through localstack-client)
point a run at another endpoint.
"""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

import boto3

from harness.errors import HarnessError
from harness.http import http_session
from harness.moto_zygote import ZYGOTE_ENV, fork_server, zygote_amis
from harness.process import pid_alive, stop_group
from harness.retry import wait_until
from harness.secrets import AWS_SECRET_ACCESS_KEY, canary_value
from harness.spec import load_spec

SANDBOX_REGION = "us-east-1"


def sandbox_credentials() -> dict[str, str]:
    """The emulator's credentials (moto accepts any; the secret key is the canary's in the secret canary test)."""
    return {"AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": canary_value(AWS_SECRET_ACCESS_KEY) or "testing"}


@dataclass
class AwsEndpoint:
    """Where the run's AWS API is, and a boto3 session for it."""

    endpoint_url: Optional[str]
    region: str
    session: boto3.Session
    env: dict[str, str] = field(default_factory=dict, repr=False)  # extra environment for terraform (credentials)
    _clients: dict[str, Any] = field(default_factory=dict, init=False, repr=False, compare=False)
    _clients_lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False, compare=False)

    def client(self, name: str) -> Any:
        """A boto3 client for ``name`` pointed at the run's endpoint: one per service, made at its first use.

        Making a client reads the service's model (0.05-0.1 CPU-s each; the checks asked for about 30), and boto3's
        clients, unlike its sessions, may be shared between threads."""
        with self._clients_lock:  # a session must not make two clients at once
            if name not in self._clients:
                self._clients[name] = self.session.client(name, endpoint_url=self.endpoint_url, region_name=self.region)
            return self._clients[name]


def free_loopback_port() -> int:
    """Ask the kernel for a free TCP port on 127.0.0.1."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def localstack_endpoint() -> Optional[str]:
    """The endpoint LocalStack's environment variables name, if any (via localstack-client)."""
    if not (os.environ.get("AWS_ENDPOINT_URL") or os.environ.get("LOCALSTACK_HOST")):
        return None
    from localstack_client.config import get_service_endpoint

    return get_service_endpoint("ec2")


# moto keeps an S3 object or upload part of more than 5 MB in a temporary file (SpooledTemporaryFile), so base backups
# crossed the disk: kept in memory instead, as the sandbox cloud's state is (harness/sandbox/cloud.py).
IN_MEMORY_OBJECTS = {"MOTO_S3_DEFAULT_KEY_BUFFER_SIZE": str(1 << 30)}


@dataclass
class MotoServer:
    """A moto server process on a loopback port (the sandbox's AWS API)."""

    port: int
    pid: int
    log_path: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @classmethod
    def start(cls, log_path: Path) -> "MotoServer":
        """Start moto on a free loopback port and wait until it answers."""
        port = free_loopback_port()
        amis = log_path.parent / "moto-amis.json"
        amis.write_text(json.dumps(sandbox_amis()))
        argv = ["-H", "127.0.0.1", "-p", str(port)]
        env = {**os.environ, "MOTO_AMIS_PATH": str(amis), **IN_MEMORY_OBJECTS}
        pid = forked_by_zygote(argv, env, log_path, amis)
        proc: Optional[subprocess.Popen] = None
        if pid is None:
            with open(log_path, "ab") as log:
                proc = subprocess.Popen(
                    [sys.executable, "-m", "moto.server", *argv], env=env, stdout=log, stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL,
                    start_new_session=True,  # survives the run when --keep asks for it
                )
            pid = proc.pid
        server = cls(port, pid, log_path)
        try:
            wait_until(
                f"moto server on 127.0.0.1:{port}",
                lambda: server.alive(proc) and server.answers() or _raise_if_dead(server, proc, log_path),
                timeout=30,
                explain=lambda: log_path.read_text()[-2000:],
            )
        except BaseException:
            server.stop()
            raise
        return server

    def alive(self, proc: Optional[subprocess.Popen] = None) -> bool:
        """The server process is still there (``proc``: when this process started it)."""
        return proc.poll() is None if proc is not None else pid_alive(self.pid)

    def answers(self) -> bool:
        with http_session(True) as session:
            return bool(session.get(f"{self.url}/moto-api/", timeout=2).status_code == 200)

    def stop(self, timeout: float = 10) -> None:
        """Stop the server (SIGTERM, then SIGKILL after ``timeout``)."""
        stop_group(self.pid, timeout)


def sandbox_amis() -> list[dict[str, Any]]:
    """moto's AMI list for the sandbox: the spec's Debian 13 AMI (moto ships no Debian 13 image).

    The AWS provider looks the AMI up for the root device; the entry mirrors
    what DescribeImages returns for Debian's official image.
    """
    ami = load_spec()["instance"]["ami"]
    return [{
        "ami_id": ami, "state": "available", "public": True, "owner_id": "136693071363",
        "image_location": "136693071363/debian-13-amd64", "root_device_type": "ebs",
        "root_device_name": "/dev/xvda", "description": "Debian 13 (trixie) amd64",
        "image_type": "machine", "architecture": "x86_64", "name": "debian-13-amd64",
        "virtualization_type": "hvm", "hypervisor": "xen",
    }]


def _raise_if_dead(server: MotoServer, proc: Optional[subprocess.Popen], log_path: Path) -> bool:
    if not server.alive(proc):
        status = proc.returncode if proc is not None else "?"
        raise HarnessError(f"moto server exited with {status}: {log_path.read_text()[-1000:]}")
    return False


def forked_by_zygote(argv: list[str], env: dict[str, str], log_path: Path, amis: Path) -> Optional[int]:
    """The pid of a moto server forked by the zygote that ``HARNESS_MOTO_ZYGOTE`` names (harness/moto_zygote.py), or
    None: no zygote, it does not answer, or it loaded other AMIs than ``amis`` (moto reads them at import)."""
    socket_path = os.environ.get(ZYGOTE_ENV)
    if not socket_path:
        return None
    try:
        if Path(zygote_amis(socket_path)).read_bytes() != amis.read_bytes():
            return None
    except OSError:
        return None
    return fork_server(socket_path, argv, env, log_path, log_path.parent)


def sandbox_session(region: str = SANDBOX_REGION) -> boto3.Session:
    """A boto3 session with the emulator's credentials."""
    credentials = sandbox_credentials()
    return boto3.Session(
        aws_access_key_id=credentials["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=credentials["AWS_SECRET_ACCESS_KEY"],
        region_name=region,
    )


def endpoint_for(url: str) -> AwsEndpoint:
    """An AwsEndpoint for a non-AWS API (moto, LocalStack) at ``url``."""
    return AwsEndpoint(url, SANDBOX_REGION, sandbox_session(), env=dict(sandbox_credentials(), AWS_REGION=SANDBOX_REGION))


def real_aws(region: Optional[str] = None) -> AwsEndpoint:
    """An AwsEndpoint for real AWS with the caller's credentials (profile or environment)."""
    session = boto3.Session(region_name=region or os.environ.get("AWS_REGION") or "us-east-1")
    if session.get_credentials() is None:
        raise HarnessError(
            "no AWS credentials found for a staging/production run; set AWS_PROFILE or "
            "AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, or run the sandbox (plain `pytest`)"
        )
    return AwsEndpoint(None, session.region_name, session)
