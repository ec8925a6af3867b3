"""Helpers for the sandbox instance's own tests (imported by conftest and the tests)."""
from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from harness.keys import KeyPair, generate_keypair
from harness.spec import REPO_ROOT

USER_DATA = REPO_ROOT / "terraform" / "user_data.sh"
BOOT_SECONDS: dict[str, float] = {}


def requires_root() -> None:
    if os.geteuid() != 0:
        pytest.skip("the sandbox instance needs root (network namespaces, nftables, systemd-nspawn)")


@dataclass
class ApiInstance:
    ec2: Any
    instance_id: str
    group_id: str
    keypair: KeyPair


def create_api_instance(ec2: Any, directory: Path, user_data: bytes, ports: list[int]) -> ApiInstance:
    """Create, through the API, what terraform/ would: key pair, security group, instance with user data."""
    keypair = generate_keypair(directory / "keys", comment="sandbox-test")
    name = f"sandbox-test-{secrets.token_hex(3)}"
    ec2.import_key_pair(KeyName=name, PublicKeyMaterial=keypair.public_openssh.encode())
    group_id = ec2.create_security_group(GroupName=name, Description="sandbox test")["GroupId"]
    if ports:
        ec2.authorize_security_group_ingress(GroupId=group_id, IpPermissions=[
            {"IpProtocol": "tcp", "FromPort": port, "ToPort": port, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}
            for port in ports])
    instance_id = ec2.run_instances(
        ImageId="ami-12c6146b", MinCount=1, MaxCount=1, InstanceType="t2.micro", KeyName=name,
        SecurityGroupIds=[group_id], UserData=user_data.decode(),
    )["Instances"][0]["InstanceId"]
    return ApiInstance(ec2, instance_id, group_id, keypair)
