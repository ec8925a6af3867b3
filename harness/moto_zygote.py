"""A process that imported moto once and forks a moto server for each run that asks for one.

A moto server spends about 2.5 CPU-s importing moto and the modules of the services a run uses (EC2 alone loads
the instance types and every region's offerings: 0.7 s) before it answers the first request. `make test` starts
about 35 of them. ``python -m harness.moto_zygote SOCKET`` imports them once and listens on the Unix socket
SOCKET; :class:`harness.aws.MotoServer` asks it (when ``HARNESS_MOTO_ZYGOTE`` names the socket) and gets the pid of
a child that runs ``moto.server``'s own ``main`` with the run's arguments and environment, in its own session and
folder, logging to the run's log: the same moto server, started from memory instead of from disk. The child's
random generators are seeded anew, so no two servers hand out the same resource ids.

The zygote ends when its standard input closes (the test session that started it ended, or died); the servers it
forked belong to their runs, which stop them (or keep them, ``--keep``).
"""
from __future__ import annotations

import json
import os
import random
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any, Optional

ZYGOTE_ENV = "HARNESS_MOTO_ZYGOTE"
# The services a run's Terraform configuration and the harness use (terraform/main.tf, harness/).
SERVICES = ("ec2", "s3", "iam", "sts", "logs", "cloudwatch")


def zygote_amis(socket_path: str) -> str:
    """The AMI list the zygote at ``socket_path`` was started with (``MOTO_AMIS_PATH``: moto reads it at import)."""
    return f"{socket_path}.amis.json"


def _preload() -> None:
    """Import moto's server and the models of SERVICES (module state only: no backend, no resource exists yet)."""
    import importlib

    import moto.server  # noqa: F401

    for service in SERVICES:
        importlib.import_module(f"moto.{service}.models")
        importlib.import_module(f"moto.{service}.responses")
    _load_service_data()


def _load_service_data() -> None:
    """Load what every server would otherwise load on its first requests, read-only data the same for all: each
    service's botocore model (moto caches it per process) and botocore's endpoint data, in the session moto keeps
    for listing a service's regions."""
    from moto.core.base_backend import AccountSpecificBackend
    from moto.core.utils import get_service_model

    session = AccountSpecificBackend.get_session()
    for service in SERVICES:
        get_service_model(service)
        for partition in session.get_available_partitions():
            session.get_available_regions(service, partition_name=partition)


def _reap(*_: Any) -> None:
    """Reap every ended child at once: a run waiting for its server to go must not see a zombie."""
    while True:
        try:
            pid, _status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def _run_server(request: dict[str, Any]) -> None:
    """In the forked child: become the run's moto server (never returns)."""
    try:
        os.setsid()
        os.chdir(request["cwd"])
        log = os.open(request["log"], os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        os.dup2(log, 1)
        os.dup2(log, 2)
        os.environ.clear()
        os.environ.update(request["env"])
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        from moto.moto_api._internal import mock_random

        random.seed()
        mock_random.seed()
        sys.argv = ["moto.server", *request["argv"]]
        from moto.server import main

        main(request["argv"])
    except BaseException:  # noqa: BLE001 (the child must never return into the zygote's loop)
        import traceback

        traceback.print_exc()
        os._exit(1)
    os._exit(0)


def serve(socket_path: str) -> int:
    """Listen on ``socket_path`` and fork a server for each request until stdin closes."""
    _preload()
    signal.signal(signal.SIGCHLD, _reap)
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(socket_path)
    listener.listen(16)
    sys.stdout.write("ready\n")
    sys.stdout.flush()
    try:
        while True:
            try:
                readable, _, _ = select.select([listener, sys.stdin], [], [])
            except InterruptedError:
                continue
            if sys.stdin in readable and not os.read(sys.stdin.fileno(), 4096):
                return 0
            if listener in readable:
                connection, _ = listener.accept()
                with connection:
                    request = json.loads(connection.makefile("r").readline())
                    pid = os.fork()
                    if pid == 0:
                        listener.close()
                        connection.close()
                        _run_server(request)
                    connection.sendall(json.dumps({"pid": pid}).encode() + b"\n")
    finally:
        listener.close()
        Path(socket_path).unlink(missing_ok=True)


class Zygote:
    """A zygote started by this process (the test session), in a folder of its own; :meth:`stop` ends it."""

    def __init__(self) -> None:
        from harness.aws import sandbox_amis  # here: harness.aws imports this module

        self.folder = Path(tempfile.mkdtemp(prefix="moto-zygote-"))
        self.socket_path = str(self.folder / "socket")
        amis = Path(zygote_amis(self.socket_path))
        amis.write_text(json.dumps(sandbox_amis()))  # as MotoServer.start writes a run's
        self.process = subprocess.Popen([sys.executable, "-m", "harness.moto_zygote", self.socket_path],
                                        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                                        env={**os.environ, "MOTO_AMIS_PATH": str(amis)}, start_new_session=True)
        assert self.process.stdout is not None
        if self.process.stdout.readline().strip() != "ready":
            self.stop()
            shutil.rmtree(self.folder, ignore_errors=True)
            raise RuntimeError("the moto zygote did not start")

    def stop(self) -> None:
        """Close its stdin (it ends), wait for it, remove its folder."""
        if self.process.stdin is not None:
            self.process.stdin.close()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        shutil.rmtree(self.folder, ignore_errors=True)


def fork_server(socket_path: str, argv: list[str], env: dict[str, str], log: Path, cwd: Path,
                timeout: float = 30) -> Optional[int]:
    """The pid of a moto server the zygote at ``socket_path`` forked for us, or None when no zygote answers."""
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as connection:
            connection.settimeout(timeout)
            connection.connect(socket_path)
            connection.sendall(json.dumps({"argv": argv, "env": env, "log": str(log), "cwd": str(cwd)}).encode() + b"\n")
            answer = connection.makefile("r").readline()
    except OSError:
        return None
    return int(json.loads(answer)["pid"]) if answer else None


if __name__ == "__main__":
    sys.exit(serve(sys.argv[1]))
