"""Moto servers forked from a zygote that imported moto once (harness/moto_zygote.py), and started from disk."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Iterator

import pytest

import harness.aws
from harness.aws import MotoServer, endpoint_for
from harness.moto_zygote import ZYGOTE_ENV, Zygote
from harness.process import pid_alive
from harness.retry import wait_until
from harness_run import processes_tagged


@pytest.fixture
def zygote(monkeypatch) -> Iterator[Zygote]:
    """A zygote of this test's own, named to MotoServer.start through the environment."""
    started = Zygote()
    monkeypatch.setenv(ZYGOTE_ENV, started.socket_path)
    try:
        yield started
    finally:
        started.stop()


def _server(folder: Path) -> MotoServer:
    folder.mkdir()
    return MotoServer.start(folder / "moto.log")


@pytest.mark.timeout(120)
def test_forked_servers_run_apart_in_their_runs_folders_and_hand_out_their_own_ids(tmp_path: Path, zygote: Zygote):
    """Two servers from one zygote: each its own session, in its run's folder (where the leak check finds it),
    logging to its run's log, with its own state and ids (random generators seeded anew); stopped, each is gone."""
    servers = [_server(tmp_path / "a"), _server(tmp_path / "b")]
    try:
        ids = []
        for server in servers:
            assert server.pid != zygote.process.pid and os.getsid(server.pid) == server.pid
            assert os.readlink(f"/proc/{server.pid}/cwd") == str(server.log_path.parent)
            assert any(leak.startswith(f"{server.pid} ") for leak in processes_tagged(str(server.log_path.parent)))
            ec2 = endpoint_for(server.url).client("ec2")
            ids.append(ec2.create_security_group(GroupName="web", Description="zygote test")["GroupId"])
            assert [group["GroupName"] for group in ec2.describe_security_groups()["SecurityGroups"]
                    if group["GroupName"] == "web"] == ["web"]  # its own state: one group each
            assert "POST / HTTP" in server.log_path.read_text()
        assert ids[0] != ids[1]
        # the sandbox's AMI (MOTO_AMIS_PATH, read by moto at import: the zygote's is the same list)
        ami = harness.aws.sandbox_amis()[0]["ami_id"]
        images = endpoint_for(servers[0].url).client("ec2").describe_images(ImageIds=[ami])["Images"]
        assert [image["ImageId"] for image in images] == [ami]
    finally:
        for server in servers:
            server.stop()
    for server in servers:
        wait_until(f"moto server {server.pid} to be gone", lambda: not pid_alive(server.pid), timeout=10)


@pytest.mark.timeout(120)
def test_a_run_with_other_amis_than_the_zygotes_starts_its_server_from_disk(tmp_path: Path, zygote: Zygote,
                                                                            monkeypatch):
    """moto reads its AMI list at import: a run whose list differs gets a server of its own making, from disk."""
    other = [{**harness.aws.sandbox_amis()[0], "ami_id": "ami-0123456789abcdef0"}]
    monkeypatch.setattr(harness.aws, "sandbox_amis", lambda: other)
    server = _server(tmp_path / "run")
    try:
        assert "moto.server" in Path(f"/proc/{server.pid}/cmdline").read_text()
        images = endpoint_for(server.url).client("ec2").describe_images(ImageIds=["ami-0123456789abcdef0"])["Images"]
        assert len(images) == 1
    finally:
        server.stop()


def _temporary_files(pid: int) -> list[str]:
    """The files a process holds open that are deleted temporary files (how SpooledTemporaryFile spills to disk)."""
    names = []
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.endswith("(deleted)"):
            names.append(target)
    return names


@pytest.mark.timeout(120)
def test_large_objects_stay_in_the_servers_memory(tmp_path: Path, zygote: Zygote):
    """An object over moto's 5 MB spill size (a base backup's part) is kept in memory, not in a temporary file."""
    server = _server(tmp_path / "s3")
    try:
        s3 = endpoint_for(server.url).client("s3")
        s3.create_bucket(Bucket="spill-test")
        s3.put_object(Bucket="spill-test", Key="big", Body=os.urandom(6 << 20))
        assert _temporary_files(server.pid) == [], "moto spilled a 6 MB object to a temporary file on disk"
        assert len(s3.get_object(Bucket="spill-test", Key="big")["Body"].read()) == 6 << 20
    finally:
        server.stop()


def test_the_zygote_loads_every_services_model_once_for_its_servers():
    """After the zygote's preload each service's botocore model is loaded, and moto's botocore session exists (a
    forked server would otherwise parse them again on its first requests: about 0.45 CPU-s a server)."""
    script = ("from harness.moto_zygote import SERVICES, _preload; _preload()\n"
              "from moto.core.utils import get_service_model\n"
              "from moto.core.base_backend import AccountSpecificBackend\n"
              "print(get_service_model.cache_info().currsize, len(SERVICES),\n"
              "      AccountSpecificBackend.get_session.cache_info().currsize)\n")
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-2000:]
    loaded, services, sessions = result.stdout.split()
    assert loaded == services, f"{loaded} of {services} service models loaded by the zygote"
    assert sessions == "1", "moto's botocore session (endpoint data) is not made in the zygote"
