"""Fault injection for the infrastructure checks: change a resource behind Terraform's back, as a console
user would, see exactly its checks fail, put it back.

Each :class:`Fault` changes what Terraform created through the emulated AWS API
(boto3 against the run's moto): a rule added to the security group, the instance
moved into a second group or made to allow IMDSv1, a tag removed, the bucket's
public access block, versioning, default encryption or lifecycle taken away. The
checks are suites/test_infra.py's own test functions, called with what their fixtures
would read from the API now (:func:`infra_check`), so that the same assertions run.
"""
from __future__ import annotations

import inspect
from typing import Any, Callable

import suites.test_infra as infra_suite
from fault_runner import Fault
from suites import infra_rules

INFRA_SUITE = "suites/test_infra.py"


def _arguments(deployment: Any) -> dict[str, Any]:
    """What suites/test_infra.py's fixtures give a check, read from the API now."""
    ec2, s3, infra = deployment.aws.client("ec2"), deployment.aws.client("s3"), deployment.infra
    return {"ec2": ec2, "s3": s3, "infra": infra, "run": deployment.run,
            "described_instance": infra_suite.read_instance(ec2, infra),
            "permissions": infra_suite.read_permissions(ec2, infra),
            "policy": infra_rules.policy_for(deployment.run.policy)}


def infra_check(test: Callable[..., None]) -> Callable[[Any], None]:
    """A check function of the deployment that runs the suite's ``test`` with fresh arguments."""
    def check(deployment: Any) -> None:
        arguments = _arguments(deployment)
        test(**{name: arguments[name] for name in inspect.signature(test).parameters})
    check.__doc__ = test.__doc__
    return check


CHECKS: dict[str, Callable[[Any], None]] = {
    name: infra_check(test) for name, test in vars(infra_suite).items() if name.startswith("test_") and callable(test)
}
CHECK_IDS: dict[str, tuple[str, ...]] = {name: (f"{INFRA_SUITE}::{name}",) for name in CHECKS}


# ------------------------------------------------------------------ the security group


def _rule(protocol: str, port: int, cidr: str) -> list[dict[str, Any]]:
    return [{"IpProtocol": protocol, "FromPort": port, "ToPort": port,
             "IpRanges": [{"CidrIp": cidr, "Description": "added out of band (fault)"}]}]


def _add_rule(protocol: str, port: int, cidr: str) -> Callable[[Any], list[dict[str, Any]]]:
    def inject(deployment: Any) -> list[dict[str, Any]]:
        permissions = _rule(protocol, port, cidr)
        deployment.aws.client("ec2").authorize_security_group_ingress(
            GroupId=deployment.infra.security_group_id, IpPermissions=permissions)
        return permissions
    return inject


def _revoke_rule(deployment: Any, permissions: list[dict[str, Any]]) -> None:
    deployment.aws.client("ec2").revoke_security_group_ingress(
        GroupId=deployment.infra.security_group_id, IpPermissions=permissions)


def _second_group(deployment: Any) -> str:
    ec2, instance = deployment.aws.client("ec2"), infra_suite.read_instance(deployment.aws.client("ec2"),
                                                                            deployment.infra)
    group = ec2.create_security_group(GroupName=f"fault-extra-{deployment.run.run_id}",
                                      Description="a second group added out of band (fault)",
                                      VpcId=instance["VpcId"])["GroupId"]
    ec2.modify_instance_attribute(InstanceId=deployment.infra.instance_id,
                                  Groups=[deployment.infra.security_group_id, group])
    return group


def _drop_second_group(deployment: Any, group: str) -> None:
    ec2 = deployment.aws.client("ec2")
    ec2.modify_instance_attribute(InstanceId=deployment.infra.instance_id, Groups=[deployment.infra.security_group_id])
    ec2.delete_security_group(GroupId=group)


# ------------------------------------------------------------------ the instance


def _instance_type(deployment: Any) -> str:
    ec2 = deployment.aws.client("ec2")
    before = infra_suite.read_instance(ec2, deployment.infra)["InstanceType"]
    ec2.modify_instance_attribute(InstanceId=deployment.infra.instance_id, InstanceType={"Value": "t3.large"})
    return before


def _restore_instance_type(deployment: Any, before: str) -> None:
    deployment.aws.client("ec2").modify_instance_attribute(InstanceId=deployment.infra.instance_id,
                                                           InstanceType={"Value": before})


METADATA_FIELDS = ("HttpTokens", "HttpPutResponseHopLimit", "HttpEndpoint", "HttpProtocolIpv6", "InstanceMetadataTags")


def _metadata_options(deployment: Any, options: dict[str, Any]) -> None:
    # Every field, not only the one that changes: moto forgets the fields a modify call leaves out, and
    # terraform plan would then show the instance's metadata_options as drift.
    deployment.aws.client("ec2").modify_instance_metadata_options(
        InstanceId=deployment.infra.instance_id, **{k: v for k, v in options.items() if k in METADATA_FIELDS})


def _imdsv1_allowed(deployment: Any) -> dict[str, Any]:
    before = dict(infra_suite.read_instance(deployment.aws.client("ec2"), deployment.infra)["MetadataOptions"])
    _metadata_options(deployment, {**before, "HttpTokens": "optional"})
    return before


# ------------------------------------------------------------------ tags

REMOVED_TAG = "Project"


def _remove_ec2_tag(resource: Callable[[Any], str]) -> Callable[[Any], tuple[str, list[dict[str, str]]]]:
    def inject(deployment: Any) -> tuple[str, list[dict[str, str]]]:
        ec2, resource_id = deployment.aws.client("ec2"), resource(deployment)
        found = ec2.describe_tags(Filters=[{"Name": "resource-id", "Values": [resource_id]},
                                           {"Name": "key", "Values": [REMOVED_TAG]}])["Tags"]
        removed = [{"Key": tag["Key"], "Value": tag["Value"]} for tag in found]
        ec2.delete_tags(Resources=[resource_id], Tags=[{"Key": REMOVED_TAG}])
        return resource_id, removed
    return inject


def _restore_ec2_tag(deployment: Any, removed: tuple[str, list[dict[str, str]]]) -> None:
    resource_id, tags = removed
    deployment.aws.client("ec2").create_tags(Resources=[resource_id], Tags=tags)


def _remove_bucket_tag(deployment: Any) -> list[dict[str, str]]:
    s3, bucket = deployment.aws.client("s3"), deployment.infra.backup_bucket
    tags = s3.get_bucket_tagging(Bucket=bucket)["TagSet"]
    s3.put_bucket_tagging(Bucket=bucket, Tagging={"TagSet": [t for t in tags if t["Key"] != REMOVED_TAG]})
    return tags


def _restore_bucket_tags(deployment: Any, tags: list[dict[str, str]]) -> None:
    deployment.aws.client("s3").put_bucket_tagging(Bucket=deployment.infra.backup_bucket, Tagging={"TagSet": tags})


# ------------------------------------------------------------------ the backup bucket


def _public_access_unblocked(deployment: Any) -> dict[str, Any]:
    s3, bucket = deployment.aws.client("s3"), deployment.infra.backup_bucket
    before = s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"]
    s3.put_public_access_block(Bucket=bucket, PublicAccessBlockConfiguration={
        "BlockPublicAcls": True, "IgnorePublicAcls": True, "BlockPublicPolicy": False, "RestrictPublicBuckets": False})
    return before


def _restore_public_access_block(deployment: Any, before: dict[str, Any]) -> None:
    deployment.aws.client("s3").put_public_access_block(Bucket=deployment.infra.backup_bucket,
                                                        PublicAccessBlockConfiguration=before)


def _versioning_suspended(deployment: Any) -> None:
    deployment.aws.client("s3").put_bucket_versioning(Bucket=deployment.infra.backup_bucket,
                                                      VersioningConfiguration={"Status": "Suspended"})


def _versioning_enabled(deployment: Any, _: Any) -> None:
    deployment.aws.client("s3").put_bucket_versioning(Bucket=deployment.infra.backup_bucket,
                                                      VersioningConfiguration={"Status": "Enabled"})


def _encryption_removed(deployment: Any) -> dict[str, Any]:
    # moto removes the configuration; AWS answers SSE-S3 for a bucket without one since 2023, so there this
    # fault stands for a configuration someone replaced by an unknown algorithm.
    s3, bucket = deployment.aws.client("s3"), deployment.infra.backup_bucket
    before = s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]
    s3.delete_bucket_encryption(Bucket=bucket)
    return before


def _restore_encryption(deployment: Any, before: dict[str, Any]) -> None:
    deployment.aws.client("s3").put_bucket_encryption(Bucket=deployment.infra.backup_bucket,
                                                      ServerSideEncryptionConfiguration=before)


def _lifecycle_removed(deployment: Any) -> list[dict[str, Any]]:
    s3, bucket = deployment.aws.client("s3"), deployment.infra.backup_bucket
    rules = s3.get_bucket_lifecycle_configuration(Bucket=bucket)["Rules"]
    s3.delete_bucket_lifecycle(Bucket=bucket)
    return rules


def _restore_lifecycle(deployment: Any, rules: list[dict[str, Any]]) -> None:
    deployment.aws.client("s3").put_bucket_lifecycle_configuration(
        Bucket=deployment.infra.backup_bucket, LifecycleConfiguration={"Rules": rules})


def _set(*names: str) -> frozenset[str]:
    unknown = set(names) - set(CHECKS)
    assert not unknown, f"no such check in {INFRA_SUITE}: {sorted(unknown)}"
    return frozenset(names)


FAULTS = [
    Fault("UDP 53 opened to the world", _add_rule("udp", 53, "0.0.0.0/0"),
          _set("test_ingress_is_exactly_the_declared_rules", "test_ingress_protocols_are_tcp",
               "test_only_policy_ports_open_to_the_world"),
          hint="udp", repair=_revoke_rule),
    Fault("PostgreSQL opened to a private network", _add_rule("tcp", 5432, "10.0.0.0/8"),
          _set("test_ingress_is_exactly_the_declared_rules", "test_postgres_never_open"),
          hint="5432", repair=_revoke_rule),
    Fault("the Phoenix port opened to the world", _add_rule("tcp", 4000, "0.0.0.0/0"),
          _set("test_ingress_is_exactly_the_declared_rules", "test_only_policy_ports_open_to_the_world",
               "test_phoenix_port_only_when_exposed"),
          hint="4000", repair=_revoke_rule),
    Fault("the instance in a second security group", _second_group,
          _set("test_instance_has_only_the_declared_group"), hint="in security groups", repair=_drop_second_group),
    Fault("the instance type changed", _instance_type, _set("test_instance_type_and_ami"), hint="t3.large",
          repair=_restore_instance_type),
    Fault("instance metadata without session tokens (IMDSv1)", _imdsv1_allowed, _set("test_imdsv2_required"),
          hint="token", repair=_metadata_options),
    Fault("the instance's Project tag removed", _remove_ec2_tag(lambda d: d.infra.instance_id),
          _set("test_instance_tags"), hint=f"no {REMOVED_TAG} tag", repair=_restore_ec2_tag),
    Fault("the security group's Project tag removed", _remove_ec2_tag(lambda d: d.infra.security_group_id),
          _set("test_security_group_tags"), hint=f"no {REMOVED_TAG} tag", repair=_restore_ec2_tag),
    Fault("the bucket's Project tag removed", _remove_bucket_tag, _set("test_bucket_tags"),
          hint=f"no {REMOVED_TAG} tag", repair=_restore_bucket_tags),
    Fault("the bucket's public access block loosened", _public_access_unblocked,
          _set("test_bucket_blocks_public_access"), hint="BlockPublicPolicy", repair=_restore_public_access_block),
    Fault("the bucket's versioning suspended", _versioning_suspended, _set("test_bucket_versioned"),
          hint="Suspended", repair=_versioning_enabled),
    Fault("the bucket's default encryption removed", _encryption_removed, _set("test_bucket_encrypted"),
          hint="no default encryption", repair=_restore_encryption),
    Fault("the bucket's lifecycle removed", _lifecycle_removed, _set("test_bucket_moves_backups_to_long_term_storage"),
          hint="long-term storage", repair=_restore_lifecycle),
]
