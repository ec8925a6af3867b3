"""Certification: what Terraform created, read back through the AWS API (boto3).

The same checks run against moto in the sandbox and against AWS in staging and
production. Expected values come from spec.json and from the run's effective
Terraform settings (its outputs); the security policy is fixed in
suites/infra_rules.py. Every check only reads.
"""
from __future__ import annotations

import base64
from typing import Any

import pytest

from harness.errors import HarnessError
from harness.security_groups import Permission, flatten_groups
from suites import infra_rules as rules

pytestmark = [pytest.mark.sandbox, pytest.mark.staging, pytest.mark.production]


def _violations(found: list[str]) -> str:
    return "\n".join(f"- {v}" for v in found)


def _setting(infra: Any, name: str) -> Any:
    """An effective Terraform setting of the run (from the outputs the infra stage read)."""
    if name not in infra.outputs:
        raise HarnessError(f"terraform output {name!r} is missing from the infra stage's results; "
                           "terraform/outputs.tf must declare it")
    return infra.outputs[name]


@pytest.fixture(scope="module")
def ec2(aws: Any) -> Any:
    return aws.client("ec2")


@pytest.fixture(scope="module")
def s3(aws: Any) -> Any:
    return aws.client("s3")


def read_instance(ec2: Any, infra: Any) -> dict[str, Any]:
    """The instance as ``describe_instances`` reports it."""
    reservations = ec2.describe_instances(InstanceIds=[infra.instance_id])["Reservations"]
    if not reservations or not reservations[0]["Instances"]:
        raise HarnessError(f"instance {infra.instance_id} from terraform's outputs is unknown to the API")
    return dict(reservations[0]["Instances"][0])


def read_permissions(ec2: Any, infra: Any) -> list[Permission]:
    """The ingress permissions of the run's security group, one per source."""
    groups = ec2.describe_security_groups(GroupIds=[infra.security_group_id])["SecurityGroups"]
    return flatten_groups(groups)


@pytest.fixture(scope="module")
def described_instance(ec2: Any, infra: Any) -> dict[str, Any]:
    """The instance as ``describe_instances`` reports it."""
    return read_instance(ec2, infra)


@pytest.fixture(scope="module")
def permissions(ec2: Any, infra: Any) -> list[Permission]:
    """The ingress permissions of the run's security group, one per source."""
    return read_permissions(ec2, infra)


@pytest.fixture(scope="module")
def policy(run: Any) -> rules.Policy:
    return rules.policy_for(run.policy)


# --- security group ----------------------------------------------------------------------------


def test_ingress_is_exactly_the_declared_rules(permissions, infra, run):
    """The security group's ingress is exactly what terraform/main.tf declares: SSH from
    ssh_allowed_cidrs, HTTP and HTTPS from the internet, Phoenix only when exposed; nothing else."""
    expected = rules.expected_ingress(run.spec["ports"], _setting(infra, "ssh_allowed_cidrs"),
                                      bool(_setting(infra, "expose_phoenix_port")))
    found = rules.check_exact_ingress(permissions, expected)
    assert not found, f"security group {infra.security_group_id} ingress differs from the declaration:\n{_violations(found)}"


def test_ingress_protocols_are_tcp(permissions, infra):
    """Every ingress rule is TCP (no UDP, ICMP or all-traffic rules)."""
    found = rules.check_protocols(permissions)
    assert not found, f"security group {infra.security_group_id}:\n{_violations(found)}"


def test_only_policy_ports_open_to_the_world(permissions, policy, infra):
    """Only the ports the environment's policy allows are open to 0.0.0.0/0 or ::/0
    (80 and 443; 22 in the sandbox; 4000 only when exposed and the policy allows it)."""
    found = rules.check_world_exposure(permissions, policy, bool(_setting(infra, "expose_phoenix_port")))
    assert not found, _violations(found)


def test_ssh_not_open_to_the_world(permissions, policy):
    """SSH is not open to the whole internet outside the sandbox policy."""
    found = rules.check_ssh_source(permissions, policy)
    assert not found, _violations(found)


def test_postgres_never_open(permissions, policy):
    """No rule covers PostgreSQL's 5432 from any source: single ports, ranges and all-traffic rules."""
    found = rules.check_never_open(permissions, policy)
    assert not found, _violations(found)


def test_phoenix_port_only_when_exposed(permissions, policy, infra):
    """Port 4000 is open only when expose_phoenix_port is true, and never where the policy forbids it."""
    found = rules.check_app_port(permissions, policy, bool(_setting(infra, "expose_phoenix_port")))
    assert not found, _violations(found)


def test_instance_has_only_the_declared_group(described_instance, infra):
    """The instance is in exactly the run's security group, so the group checks above are the whole story."""
    groups = sorted(g["GroupId"] for g in described_instance.get("SecurityGroups", []))
    assert groups == [infra.security_group_id], (
        f"instance {infra.instance_id} is in security groups {groups}, expected only {infra.security_group_id}: "
        "the instance's vpc_security_group_ids must list only aws_security_group.web")


# --- instance ------------------------------------------------------------------------------------


def test_instance_type_and_ami(described_instance, run, infra):
    """The instance has spec.json's instance type (t2.micro) and its environment's AMI: spec.json's Debian 13
    where the sandbox provisioner configures the host, the NixOS AMI Terraform chose on AWS."""
    ami = run.spec["instance"]["ami"] if run.host_os == "debian" else infra.outputs["ami_id"]
    found = rules.check_instance_shape(described_instance, run.spec["instance"]["type"], ami)
    assert not found, _violations(found)


def test_imdsv2_required(described_instance):
    """Instance metadata needs session tokens (IMDSv2)."""
    found = rules.check_imdsv2(described_instance)
    assert not found, _violations(found)


def test_root_volume_encrypted_and_sized(described_instance, ec2, run):
    """The root volume is encrypted, 8 GB and gp3 (spec.json instance.root_volume_gb / root_volume_type)."""
    volume_id = rules.root_volume_id(described_instance)
    assert volume_id, (f"instance {described_instance.get('InstanceId')} has no EBS volume at its root device "
                       f"{described_instance.get('RootDeviceName')}")
    volume = ec2.describe_volumes(VolumeIds=[volume_id])["Volumes"][0]
    spec = run.spec["instance"]
    found = rules.check_root_volume(volume, spec["root_volume_gb"], spec["root_volume_type"])
    assert not found, _violations(found)


def test_user_data_is_the_repository_script(ec2, infra, run):
    """The instance's user data is terraform/user_data.sh, byte for byte."""
    path = run.options.terraform_dir / "user_data.sh"
    if not path.is_file():
        raise HarnessError(f"{path} does not exist; the configuration's user data script is missing")
    answer = ec2.describe_instance_attribute(InstanceId=infra.instance_id, Attribute="userData")
    encoded = (answer.get("UserData") or {}).get("Value")
    assert encoded, f"instance {infra.instance_id} has no user data; expected the contents of {path}"
    actual, expected = base64.b64decode(encoded), path.read_bytes()
    assert actual == expected, (
        f"instance {infra.instance_id} user data ({len(actual)} bytes) differs from {path} ({len(expected)} bytes); "
        "the instance runs an older script: apply again (user_data_replace_on_change replaces the instance)")


# --- tags ----------------------------------------------------------------------------------------


def _expected_tags(run: Any, infra: Any) -> dict[str, Any]:
    return {"Name": None, "Environment": run.environment, "Project": run.spec["project"],
            "RunId": infra.outputs.get("run_id") or run.run_id}


def test_instance_tags(described_instance, infra, run):
    """The instance carries Name, Environment, Project and RunId (leak sweeps find resources by RunId)."""
    found = rules.check_tags(f"instance {infra.instance_id}", described_instance.get("Tags"), _expected_tags(run, infra))
    assert not found, _violations(found)


def test_security_group_tags(ec2, infra, run):
    """The security group carries Name, Environment, Project and RunId."""
    group = ec2.describe_security_groups(GroupIds=[infra.security_group_id])["SecurityGroups"][0]
    found = rules.check_tags(f"security group {infra.security_group_id}", group.get("Tags"), _expected_tags(run, infra))
    assert not found, _violations(found)


def test_bucket_tags(s3, infra, run):
    """The backup bucket carries Name, Environment, Project and RunId."""
    try:
        tags = s3.get_bucket_tagging(Bucket=infra.backup_bucket)["TagSet"]
    except s3.exceptions.ClientError as exc:
        if exc.response.get("Error", {}).get("Code") != "NoSuchTagSet":
            raise
        tags = []
    found = rules.check_tags(f"bucket {infra.backup_bucket}", tags, _expected_tags(run, infra))
    assert not found, _violations(found)


# --- backup bucket -------------------------------------------------------------------------------


def _client_error_code(exc: Exception) -> str:
    return str(getattr(exc, "response", {}).get("Error", {}).get("Code", ""))


def test_bucket_blocks_public_access(s3, infra):
    """The backup bucket's public access block has all four settings on."""
    try:
        config = s3.get_public_access_block(Bucket=infra.backup_bucket)["PublicAccessBlockConfiguration"]
    except s3.exceptions.ClientError as exc:
        if _client_error_code(exc) != "NoSuchPublicAccessBlockConfiguration":
            raise
        config = None
    found = rules.check_public_access_block(infra.backup_bucket, config)
    assert not found, _violations(found)


def test_bucket_versioned(s3, infra):
    """The backup bucket keeps old versions (versioning enabled)."""
    found = rules.check_versioning(infra.backup_bucket, s3.get_bucket_versioning(Bucket=infra.backup_bucket))
    assert not found, _violations(found)


def test_bucket_encrypted(s3, infra):
    """The backup bucket encrypts objects by default."""
    try:
        encryption = s3.get_bucket_encryption(Bucket=infra.backup_bucket)["ServerSideEncryptionConfiguration"]["Rules"]
    except s3.exceptions.ClientError as exc:
        if _client_error_code(exc) != "ServerSideEncryptionConfigurationNotFoundError":
            raise
        encryption = None
    found = rules.check_encryption(infra.backup_bucket, encryption)
    assert not found, _violations(found)


def test_bucket_moves_backups_to_long_term_storage(s3, infra):
    """A lifecycle rule moves backups to long-term (Glacier) storage."""
    try:
        lifecycle = s3.get_bucket_lifecycle_configuration(Bucket=infra.backup_bucket)["Rules"]
    except s3.exceptions.ClientError as exc:
        if _client_error_code(exc) != "NoSuchLifecycleConfiguration":
            raise
        lifecycle = None
    found = rules.check_lifecycle(infra.backup_bucket, lifecycle)
    assert not found, _violations(found)
