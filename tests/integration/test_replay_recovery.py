"""A request the stand-in API carried out twice is recovered from; real AWS errors never are."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator

import pytest

from harness.aws import AwsEndpoint, MotoServer, endpoint_for
from harness.errors import HarnessError
from harness.keys import generate_keypair
from harness.replay import MAX_RECOVERIES, apply_with_replay_recovery, find_replay
from harness.terraform import Terraform, prepare_workdir, terraform_env

# As CI printed it (terraform's error block, folded by first_error).
SG_REPLAY = (
    "terraform apply failed in /tmp/x/terraform:\nError: revoking default IPv4 egress rule for Security "
    "Group (sg-f7a79c91cb059269e): operation error EC2: RevokeSecurityGroupEgress, https response error "
    "StatusCode: 400, RequestID: vYPS, api error InvalidPermission.NotFound: The specified rule does not "
    "exist in this security group\nwith aws_security_group.web,"
)
KEY_REPLAY = (
    "terraform apply failed in /tmp/x/terraform:\nError: importing EC2 Key Pair (inventory-tracker-sandbox-"
    "it1): operation error EC2: ImportKeyPair, https response error StatusCode: 400, RequestID: 1, api error "
    "InvalidKeyPair.Duplicate: The keypair 'inventory-tracker-sandbox-it1' already exists."
)

KEY_PAIR_CONFIG = """
terraform {
  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "~> 5.100"
    }
  }
}

variable "public_key" {
  type = string
}

provider "aws" {
  region = "us-east-1"
}

resource "aws_key_pair" "deploy" {
  key_name   = "replay-test"
  public_key = var.public_key
}
"""


def test_known_replays_are_recognised():
    sg = find_replay(SG_REPLAY)
    key = find_replay(KEY_REPLAY)
    assert sg is not None and "egress" in sg[0].what
    assert key is not None and key[1].group("key") == "inventory-tracker-sandbox-it1"
    assert find_replay("Error: InvalidPermission.NotFound: revoking ingress rule") is None
    assert find_replay("Error: creating EC2 Instance: InvalidAMIID.NotFound") is None


class FailingTerraform:
    """Stands in for Terraform: every apply fails with ``message``."""

    def __init__(self, message: str):
        self.message = message
        self.applies = 0

    def apply(self, var_file: Path, variables: dict[str, Any], on_created: Any = None) -> None:
        self.applies += 1
        raise HarnessError(self.message)


def test_real_aws_errors_are_never_retried():
    terraform = FailingTerraform(SG_REPLAY)
    real = AwsEndpoint(endpoint_url=None, region="us-east-1", session=None)  # type: ignore[arg-type]
    with pytest.raises(HarnessError, match="InvalidPermission.NotFound"):
        apply_with_replay_recovery(terraform, Path("x.tfvars"), {}, real)
    assert terraform.applies == 1


def test_recovery_gives_up_after_a_few_attempts():
    terraform = FailingTerraform(SG_REPLAY)
    stand_in = endpoint_for("http://127.0.0.1:9")
    with pytest.raises(HarnessError, match="InvalidPermission.NotFound"):
        apply_with_replay_recovery(terraform, Path("x.tfvars"), {}, stand_in)
    assert terraform.applies == MAX_RECOVERIES + 1


@pytest.fixture
def moto(tmp_path: Path) -> Iterator[AwsEndpoint]:
    server = MotoServer.start(tmp_path / "moto.log")
    try:
        yield endpoint_for(server.url)
    finally:
        server.stop()


@pytest.mark.timeout(300)
def test_duplicate_key_pair_is_removed_and_applied_again(tmp_path: Path, moto: AwsEndpoint, caplog):
    """Real terraform against moto: the key pair exists before the apply, as after a replayed create."""
    source = tmp_path / "config"
    source.mkdir()
    (source / "main.tf").write_text(KEY_PAIR_CONFIG)
    (source / "run.tfvars").write_text("")
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    keypair = generate_keypair(run_dir, "replay-test")
    ec2 = moto.client("ec2")
    ec2.import_key_pair(KeyName="replay-test", PublicKeyMaterial=keypair.public_openssh.encode())

    terraform = Terraform(prepare_workdir(source, run_dir, moto.endpoint_url), terraform_env(run_dir, moto.env))
    terraform.init()
    apply_with_replay_recovery(terraform, source / "run.tfvars", {"public_key": keypair.public_openssh}, moto)

    assert "the key pair was already created" in caplog.text  # the first apply did fail
    assert terraform.resources() == ["aws_key_pair.deploy"]
    assert [pair["KeyName"] for pair in ec2.describe_key_pairs()["KeyPairs"]] == ["replay-test"]
