"""Fault injection for the backup checks, on the session's deployed sandbox (break, check, repair, check)."""
from __future__ import annotations

import re

import pytest

from backup_faults import CHECK_IDS, CHECKS, FAULTS
from fault_runner import Fault, every_check_guarded, exercise, fault_params, run_checks


@pytest.fixture(scope="module")
def backed_up(deployment):
    """The deployed sandbox; every backup check passes on it before any fault is injected."""
    if deployment.environment != "sandbox":
        pytest.skip("fault injection breaks the deployment: sandbox only")
    assert run_checks(CHECKS, deployment) == {}, "the fresh deployment must pass every backup check"
    return deployment


@pytest.mark.parametrize("fault", fault_params(FAULTS, CHECK_IDS))
def test_backup_fault_fails_only_its_checks(backed_up, fault: Fault):
    """The fault fails exactly its guarding checks, naming it; after the repair those checks pass again."""
    exercise(CHECKS, backed_up, fault)


def test_every_backup_check_has_a_fault():
    """Each backup check is guarded by at least one fault."""
    assert every_check_guarded(CHECKS, FAULTS) == set()
    assert set(CHECK_IDS) == set(CHECKS), "every check function names its certification check (CHECK_IDS)"


def test_wal_prefetch_spools_the_recovery_wal_and_restore_takes_it_from_there(backed_up):
    """wal-prefetch downloads every archived segment from a base backup's begin_wal on, in one process; the
    restore_command (wal-restore with WAL_SPOOL) takes a spooled segment from the spool (as often as asked), the
    same bytes as the bucket gives, and answers a file the bucket did not have as absent."""
    from suites import backup_checks

    deployment = backed_up
    backup_checks.archive_marker(deployment)
    begin = backup_checks.newest_base_backup(deployment)["begin_wal"]
    where = backup_checks.location(deployment)
    names = {re.sub(r"\.(zst|gz)$", "", item["Key"].rsplit("/", 1)[-1])
             for item in deployment.aws.client("s3").list_objects_v2(
                 Bucket=where.bucket, Prefix=f"{where.wal_prefix}/{where.server}/wals/").get("Contents", [])}
    archived = sorted(n for n in names if len(n) == 24 and n[8:] >= begin[8:])
    spool, out = "/var/lib/postgresql/prefetch-test", "/var/lib/postgresql/prefetch-test.out"
    try:
        fetched = backup_checks.as_postgres(deployment, f"inventory-tracker-backup wal-prefetch {begin} {spool}")
        assert fetched.exit_status == 0, fetched.stderr
        listed = backup_checks.as_postgres(deployment, f"ls -A {spool}").stdout.split()
        spooled = sorted(name for name in listed if len(name) == 24)
        assert spooled == archived, f"spooled {spooled}, archived from {begin} on: {archived}"
        assert ".listed" in listed, f"wal-prefetch did not mark its spool complete: {listed}"
        segment = spooled[-1]
        after = f"{segment[:16]}{int(segment[16:], 16) + 1:08X}"
        checks = backup_checks.as_postgres(
            deployment, f"WAL_SPOOL={spool} inventory-tracker-backup wal-restore {segment} {out}.spooled && "
                        f"WAL_SPOOL={spool} inventory-tracker-backup wal-restore {segment} {out}.again && "
                        f"inventory-tracker-backup wal-restore {segment} {out}.bucket && "
                        f"cmp {out}.spooled {out}.bucket && cmp {out}.again {out}.bucket && "
                        f"! WAL_SPOOL={spool} inventory-tracker-backup wal-restore {after} {out}.absent && "
                        f"! WAL_SPOOL={spool} inventory-tracker-backup wal-restore 00000009.history {out}.absent")
        assert checks.exit_status == 0, (
            f"the spool gave other bytes than the bucket, not twice, or a file the bucket did not have: {checks.stderr}")
    finally:
        deployment.ssh.sudo(f"rm -rf {spool} {out}.spooled {out}.again {out}.bucket {out}.absent", check=False)
