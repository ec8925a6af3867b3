"""The NoCloud seed: how cloud-init in the sandbox container gets the instance's user data and key.

The inputs are what the AWS API returns for the instance (its ``userData``
attribute and the public key of the key pair it references), so the user data
runs exactly as EC2's cloud-init would run it.
"""
from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.errors import HarnessError

SEED_DIR = "var/lib/cloud/seed/nocloud"


@dataclass(frozen=True)
class CloudSeed:
    instance_id: str
    hostname: str
    user_data: bytes  # exactly the instance's user data
    public_keys: tuple[str, ...]  # OpenSSH public key lines

    def meta_data(self) -> str:
        """The NoCloud meta-data document (JSON is valid YAML)."""
        return json.dumps({
            "instance-id": self.instance_id,
            "local-hostname": self.hostname,
            "public-keys": list(self.public_keys),
        }, indent=2) + "\n"

    def write(self, rootfs: Path) -> Path:
        """Write user-data and meta-data into the seed folder of ``rootfs``; return the folder."""
        folder = rootfs / SEED_DIR
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "user-data").write_bytes(self.user_data)
        (folder / "meta-data").write_text(self.meta_data())
        for path in (folder / "user-data", folder / "meta-data"):
            path.chmod(0o600)
        return folder


def decode_user_data(attribute: dict[str, Any]) -> bytes:
    """The user data from ``describe_instance_attribute(Attribute="userData")`` (base64 in the API)."""
    value = (attribute.get("UserData") or {}).get("Value")
    if not value:
        raise HarnessError(
            f"instance {attribute.get('InstanceId', '?')} has no user data in the API; "
            "terraform/main.tf must set user_data = file(\"${path.module}/user_data.sh\")"
        )
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise HarnessError(f"the instance's user data from the API is not valid base64: {exc}") from exc


def seed_from_api(ec2: Any, instance_id: str, *, fallback_public_key: str | None = None) -> CloudSeed:
    """Build the seed from the API: the instance's user data and its key pair's public key.

    When the API does not return the key material (``IncludePublicKey``), the key
    pair must still exist and ``fallback_public_key`` (the run's key, which the
    harness imported under that name) is used.
    """
    attribute = ec2.describe_instance_attribute(InstanceId=instance_id, Attribute="userData")
    user_data = decode_user_data(attribute)
    reservations = ec2.describe_instances(InstanceIds=[instance_id])["Reservations"]
    instance = reservations[0]["Instances"][0]
    key_name = instance.get("KeyName")
    if not key_name:
        raise HarnessError(f"instance {instance_id} references no key pair; terraform must set key_name")
    pairs = ec2.describe_key_pairs(KeyNames=[key_name], IncludePublicKey=True)["KeyPairs"]
    public_key = (pairs[0].get("PublicKey") or "").strip() if pairs else ""
    if not public_key:
        if not fallback_public_key:
            raise HarnessError(f"the API returns no public key for key pair {key_name}")
        public_key = fallback_public_key.strip()
    hostname = instance.get("PrivateDnsName", "").split(".")[0] or instance_id
    return CloudSeed(instance_id=instance_id, hostname=hostname, user_data=user_data, public_keys=(public_key,))
