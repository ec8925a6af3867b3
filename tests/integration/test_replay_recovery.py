"""What Terraform does not know about is recovered from: a request the stand-in API carried out twice (real AWS
errors never are), and what an interrupted apply created without recording it (before the sandbox's destroy)."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator

import pytest

from harness.aws import AwsEndpoint, MotoServer, endpoint_for
from harness.errors import HarnessError
from harness.keys import generate_keypair
from harness.replay import MAX_RECOVERIES, apply_with_replay_recovery, find_replay
from harness.terraform import Terraform, prepare_workdir, terraform_env
from harness.unrecorded import destroy_sandbox

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

SG_RULE_REPLAY = (
    "terraform apply failed in /tmp/x/terraform:\nError: updating Security Group (sg-ec2f3878a0654cfd9) egress "
    "rules: authorizing Security Group (egress) rules: operation error EC2: AuthorizeSecurityGroupEgress, https "
    "response error StatusCode: 400, RequestID: dlgM, api error InvalidPermission.Duplicate: The specified rule "
    "already exists\n\non main.tf line 89:"
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
    sg_rule = find_replay(SG_RULE_REPLAY)
    key = find_replay(KEY_REPLAY)
    assert sg is not None and "egress" in sg[0].what
    assert sg_rule is not None and "already authorised" in sg_rule[0].what
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


def initialised_terraform(tmp_path: Path, config: str, moto: AwsEndpoint) -> tuple[Terraform, Path]:
    """``config`` as a working copy against moto, initialised; its (empty) variables file."""
    source = tmp_path / "config"
    source.mkdir()
    (source / "main.tf").write_text(config)
    (source / "run.tfvars").write_text("")
    run_dir = tmp_path / "run"
    run_dir.mkdir(exist_ok=True)
    terraform = Terraform(prepare_workdir(source, run_dir, moto.endpoint_url), terraform_env(run_dir, moto.env))
    terraform.init()
    return terraform, source / "run.tfvars"


@pytest.mark.timeout(300)
def test_duplicate_key_pair_is_removed_and_applied_again(tmp_path: Path, moto: AwsEndpoint, caplog):
    """Real terraform against moto: the key pair exists before the apply, as after a replayed create."""
    (tmp_path / "run").mkdir()
    keypair = generate_keypair(tmp_path / "run", "replay-test")
    ec2 = moto.client("ec2")
    ec2.import_key_pair(KeyName="replay-test", PublicKeyMaterial=keypair.public_openssh.encode())

    terraform, tfvars = initialised_terraform(tmp_path, KEY_PAIR_CONFIG, moto)
    apply_with_replay_recovery(terraform, tfvars, {"public_key": keypair.public_openssh}, moto)

    assert "the key pair was already created" in caplog.text  # the first apply did fail
    assert terraform.resources() == ["aws_key_pair.deploy"]
    assert [pair["KeyName"] for pair in ec2.describe_key_pairs()["KeyPairs"]] == ["replay-test"]


ROLE_CONFIG = """
terraform {
  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "~> 5.100"
    }
  }
}

provider "aws" {
  region = "us-east-1"
}

resource "aws_iam_role" "instance" {
  name = "unrecorded-test"
  assume_role_policy = jsonencode({
    Version   = "2012-10-17"
    Statement = [{ Effect = "Allow", Principal = { Service = "ec2.amazonaws.com" }, Action = "sts:AssumeRole" }]
  })
}

resource "aws_iam_role_policy" "backups" {
  name   = "backups"
  role   = aws_iam_role.instance.id
  policy = jsonencode({ Version = "2012-10-17", Statement = [{ Effect = "Allow", Action = "s3:ListBucket", Resource = "*" }] })
}

resource "aws_iam_role_policy" "logs" {
  name   = "logs"
  role   = aws_iam_role.instance.id
  policy = jsonencode({ Version = "2012-10-17", Statement = [{ Effect = "Allow", Action = "logs:PutLogEvents", Resource = "*" }] })
}

resource "aws_iam_instance_profile" "instance" {
  name = "unrecorded-test"
  role = aws_iam_role.instance.name
}
"""


@pytest.mark.timeout(300)
def test_what_an_interrupted_apply_did_not_record_is_removed_before_the_destroy(tmp_path: Path, moto: AwsEndpoint,
                                                                               caplog):
    """Real terraform against moto: the role holds an inline policy and an instance profile the state forgot, as
    after an apply interrupted while creating them. The provider would retry the role's ``DeleteConflict`` for
    two minutes and fail; the sandbox's destroy removes exactly what the state does not list, then succeeds."""
    terraform, tfvars = initialised_terraform(tmp_path, ROLE_CONFIG, moto)
    terraform.apply(tfvars, {})
    terraform.tf.execute_command("state", "rm", "aws_iam_role_policy.logs", "aws_iam_instance_profile.instance")

    destroy_sandbox(terraform, tfvars, {}, moto)

    removed = [line for line in caplog.text.splitlines() if "did not record" in line]
    assert len(removed) == 2 and "inline policy logs of role unrecorded-test" in removed[0], caplog.text
    assert "role unrecorded-test in instance profile unrecorded-test" in removed[1], caplog.text
    assert terraform.resources() == []
    assert moto.client("iam").list_roles()["Roles"] == []
