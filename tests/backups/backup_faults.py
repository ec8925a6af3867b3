"""Fault injection for the backup checks: break backups one way, see exactly their checks fail, repair.

Each :class:`BackupFault` breaks the deployed sandbox's backups through the host
(SSH) or the emulated AWS API, the way a real deployment breaks: the archive
command pointed at a wrong bucket, the instance profile taken away, the newest
base backup deleted or corrupted in the bucket, a lifecycle rule that sends
backups to Glacier too early.
"""
from __future__ import annotations

from typing import Any, Callable

from fault_runner import Fault
from harness.bucket import delete_every_version
from harness.unit_jobs import run_unit_job
from suites import backup_checks

CHECKS: dict[str, Callable[[Any], Any]] = {
    "wal_archiving": backup_checks.check_wal_archiving,
    "base_backup_fresh": backup_checks.check_base_backup_fresh,
    "dump_fresh": backup_checks.check_dump_fresh,
    "base_backup_restores": backup_checks.check_base_backup_restores,
    "dump_restores": backup_checks.check_dump_restores,
    "lifecycle_keeps_retention": backup_checks.check_lifecycle_keeps_retention,
}
# The certification check (as the certificate lists it) each check function above stands for.
CHECK_IDS: dict[str, tuple[str, ...]] = {
    "wal_archiving": ("suites/test_backups.py::test_wal_archiving_reaches_the_bucket",),
    "base_backup_fresh": ("suites/test_backups.py::test_base_backup_is_fresh",),
    "dump_fresh": ("suites/test_backups.py::test_pg_dump_is_fresh",),
    "base_backup_restores": ("suites/test_backups.py::test_base_backup_and_wal_restore",),
    "dump_restores": ("suites/test_backups.py::test_pg_dump_restores",),
    "lifecycle_keeps_retention": ("suites/test_backups.py::test_bucket_lifecycle_keeps_backups_restorable",),
}
WRONG_BUCKET = "inventory-tracker-backups-no-such-bucket"


BackupFault = Fault


def reprovision(deployment: Any, _: Any = None) -> None:
    """Run the sandbox provisioner again (it restores the desired state, taking a base backup if none is left)."""
    from fixtures.sandbox.provisioner import provision

    provision(deployment.ssh, deployment.spec, deployment.db.password.reveal(), tls=deployment.run.ca,
              backup=deployment.config.backup)


def _wrong_bucket(deployment: Any) -> None:
    env_file = deployment.spec["backup"]["env_file"]
    deployment.ssh.sudo(f"sed -i 's/^BACKUP_BUCKET=.*/BACKUP_BUCKET={WRONG_BUCKET}/' {env_file}")


def _instance_profile_association(deployment: Any) -> dict[str, Any]:
    ec2 = deployment.aws.client("ec2")
    found = ec2.describe_iam_instance_profile_associations(
        Filters=[{"Name": "instance-id", "Values": [deployment.infra.instance_id]}])["IamInstanceProfileAssociations"]
    return next(a for a in found if a.get("State") in ("associated", "associating"))


def _remove_instance_profile(deployment: Any) -> str:
    association = _instance_profile_association(deployment)
    deployment.aws.client("ec2").disassociate_iam_instance_profile(AssociationId=association["AssociationId"])
    return association["IamInstanceProfile"]["Arn"]


def _restore_instance_profile(deployment: Any, arn: str) -> None:
    deployment.aws.client("ec2").associate_iam_instance_profile(
        IamInstanceProfile={"Arn": arn}, InstanceId=deployment.infra.instance_id)


def _newest_base_backup_keys(deployment: Any) -> list[str]:
    where = backup_checks.location(deployment)
    s3 = deployment.aws.client("s3")
    newest = backup_checks.newest_base_backup_id(deployment)
    listed = s3.list_objects_v2(Bucket=where.bucket, Prefix=f"{where.base_prefix}{newest}/")
    return [item["Key"] for item in listed.get("Contents", [])]


def _delete_recent(deployment: Any, prefix: str) -> None:
    """Delete every object under ``prefix`` that is younger than its schedule allows (the newest among them)."""
    import datetime as dt

    s3 = deployment.aws.client("s3")
    backup = deployment.spec["backup"]
    horizon = max(backup["base_backup_interval_seconds"], backup["dump_interval_seconds"]) \
        + backup["freshness_slack_seconds"]
    cutoff = dt.datetime.now(dt.timezone.utc) - dt.timedelta(seconds=horizon)
    delete_every_version(s3, deployment.infra.backup_bucket, prefix, lambda version: version["LastModified"] > cutoff)


def _delete_newest_base_backup(deployment: Any) -> None:
    # With one base backup (a fresh deployment) this is the newest; with more, every one that is
    # still fresh goes, so that what is left is as stale as the check must notice.
    _delete_recent(deployment, backup_checks.location(deployment).base_prefix)


def _delete_dumps(deployment: Any) -> None:
    _delete_recent(deployment, backup_checks.location(deployment).dumps_prefix)


def _corrupt_newest_base_backup(deployment: Any) -> None:
    data = [key for key in _newest_base_backup_keys(deployment) if "/data.tar" in key]
    assert data, "the newest base backup has no data.tar object to corrupt"
    deployment.aws.client("s3").put_object(Bucket=deployment.infra.backup_bucket, Key=data[0],
                                           Body=b"not a tar archive\n" * 64)


def _take_base_backup(deployment: Any, _: Any = None) -> None:
    unit = f"{deployment.spec['app']['name']}-base-backup.service"
    run_unit_job(deployment.ssh, unit, "base backup of the fault's repair", timeout=300)


def _early_glacier(deployment: Any) -> list[dict[str, Any]]:
    s3 = deployment.aws.client("s3")
    bucket = deployment.infra.backup_bucket
    rules = s3.get_bucket_lifecycle_configuration(Bucket=bucket)["Rules"]
    s3.put_bucket_lifecycle_configuration(Bucket=bucket, LifecycleConfiguration={"Rules": [{
        "ID": "out-of-band-early-glacier", "Status": "Enabled", "Filter": {"Prefix": ""},
        "Transitions": [{"Days": 1, "StorageClass": "GLACIER"}]}]})
    return rules


def _restore_lifecycle(deployment: Any, rules: list[dict[str, Any]]) -> None:
    deployment.aws.client("s3").put_bucket_lifecycle_configuration(
        Bucket=deployment.infra.backup_bucket, LifecycleConfiguration={"Rules": rules})


def _reprovision_and_rebase(deployment: Any, _: Any = None) -> None:
    """Point archiving back at the bucket, then take a base backup: the WAL that went elsewhere is a gap
    that no restore from an older base backup can cross (barman-cloud created the wrong bucket and filled it)."""
    reprovision(deployment)
    _take_base_backup(deployment)


def _break_wal_prefetch(deployment: Any) -> None:
    from fixtures.sandbox.render import Layout

    deployment.ssh.sudo(f"printf '#!/bin/sh\\necho wal-prefetch: broken on purpose >&2\\nexit 3\\n' "
                        f"> {Layout().wal_prefetch_tool}")


# In this order: the first runs while the deployment has exactly one base backup.
FAULTS = [
    BackupFault("newest base backup deleted", _delete_newest_base_backup,
                frozenset({"base_backup_fresh", "base_backup_restores"}), hint="base backup", repair=reprovision),
    BackupFault("newest pg_dump deleted", _delete_dumps, frozenset({"dump_fresh", "dump_restores"}),
                hint="pg_dump", repair=reprovision),
    BackupFault("base backup object corrupted", _corrupt_newest_base_backup,
                frozenset({"base_backup_restores"}), hint="barman-cloud-restore", repair=_take_base_backup),
    BackupFault("archive command to a wrong bucket", _wrong_bucket,
                frozenset({"wal_archiving", "base_backup_restores", "dump_restores"}), hint=WRONG_BUCKET,
                repair=_reprovision_and_rebase),
    BackupFault("instance profile removed (no credentials for the role)", _remove_instance_profile,
                frozenset({"wal_archiving", "base_backup_restores", "dump_restores"}), hint="credentials",
                repair=_restore_instance_profile),
    BackupFault("WAL prefetch tool broken", _break_wal_prefetch, frozenset({"base_backup_restores"}),
                hint="wal-prefetch", repair=reprovision),
    BackupFault("lifecycle sends backups to Glacier after 1 day", _early_glacier,
                frozenset({"lifecycle_keeps_retention"}), hint="GLACIER after 1 days", repair=_restore_lifecycle),
]
