"""Fixtures for the sandbox instance's own tests: a moto API with an instance, and one shared booted container."""
from __future__ import annotations

import time
from typing import Any, Iterator

import pytest

from harness.aws import MotoServer, endpoint_for
from harness.sandbox.instance import SandboxInstance, boot_from_api
from harness.ssh import SshSession
from harness.runid import new_run_id
from sandbox_support import BOOT_SECONDS, USER_DATA, ApiInstance, create_api_instance, requires_root


@pytest.fixture(scope="session")
def ec2(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """An EC2 client on a moto server of its own."""
    server = MotoServer.start(tmp_path_factory.mktemp("moto") / "moto.log")
    try:
        yield endpoint_for(server.url).client("ec2")
    finally:
        server.stop()


@pytest.fixture(scope="session")
def api_instance(ec2: Any, tmp_path_factory: pytest.TempPathFactory) -> ApiInstance:
    """An instance in the API with the project's user data, SSH and HTTP allowed from anywhere."""
    return create_api_instance(ec2, tmp_path_factory.mktemp("api"), USER_DATA.read_bytes(), [22, 80, 443])


@pytest.fixture(scope="session")
def booted(api_instance: ApiInstance, tmp_path_factory: pytest.TempPathFactory) -> Iterator[SandboxInstance]:
    """One container booted for ``api_instance``, shared by the tests that do not need their own."""
    requires_root()
    run_id = new_run_id()
    run_dir = tmp_path_factory.mktemp(run_id)
    from harness.sandbox.image import ensure_image

    ensure_image()  # a first build is not part of the boot time
    started = time.monotonic()
    with boot_from_api(run_id, run_dir, api_instance.ec2, api_instance.instance_id,
                       api_instance.keypair.private_key_path, api_instance.keypair.public_openssh) as instance:
        BOOT_SECONDS["shared"] = time.monotonic() - started
        print(f"\n[sandbox tests] instance stage (boot to SSH + cloud-init done): {BOOT_SECONDS['shared']:.1f} s")
        yield instance


@pytest.fixture(scope="session")
def deploy_ssh(booted: SandboxInstance) -> Iterator[SshSession]:
    """SSH to the shared container as the deploy user."""
    with SshSession(booted.address, booted.ssh_user, booted.key_path) as session:
        yield session
