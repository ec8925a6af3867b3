"""Certification: backups are taken, fresh, and proven by real restores (every environment).

WAL archiving and base backups with barman-cloud, a scheduled pg_dump, all into
the backup bucket with the instance profile's credentials. A backup counts only
once a restore of it has been verified: the restore checks bring the newest base
backup plus archived WAL up in a scratch cluster on the host, and the newest
dump into a scratch database, and compare them with what is live.
"""
from __future__ import annotations

import logging

import pytest

from suites import backup_checks

log = logging.getLogger("harness.suites.backups")


@pytest.mark.sandbox
@pytest.mark.staging
@pytest.mark.production
def test_base_backup_is_fresh(deployment):
    """The newest base backup is younger than its schedule plus slack (spec.json backup)."""
    backup_checks.check_base_backup_fresh(deployment)


@pytest.mark.sandbox
@pytest.mark.staging
@pytest.mark.production
def test_pg_dump_is_fresh(deployment):
    """The newest pg_dump in the bucket is younger than its schedule plus slack."""
    backup_checks.check_dump_fresh(deployment)


# Before the archiving check: concurrent checks start in this order, and the two switch WAL segments one at a time,
# archived in that order; the restore is the longer chain, so its segment goes first.
@pytest.mark.sandbox
@pytest.mark.staging
@pytest.mark.production
@pytest.mark.concurrent
def test_base_backup_and_wal_restore(deployment):
    """The newest base backup + archived WAL restores into a scratch cluster holding a just-archived marker row."""
    restored = backup_checks.check_base_backup_restores(deployment)
    log.info("restored base backup %s up to %s in %.1f s", restored["backup_id"], restored["wal"],
             restored["seconds"])


@pytest.mark.sandbox
@pytest.mark.staging
@pytest.mark.production
@pytest.mark.concurrent
def test_wal_archiving_reaches_the_bucket(deployment):
    """After pg_switch_wal() the segment is in the bucket within 30 s; the archiver reports no newer failure."""
    latency = backup_checks.check_wal_archiving(deployment)
    log.info("WAL segment delivered to the bucket in %.2f s", latency)


@pytest.mark.sandbox
@pytest.mark.staging
@pytest.mark.production
@pytest.mark.concurrent
def test_pg_dump_restores(deployment):
    """The newest pg_dump restores with pg_restore; its table row counts match those recorded at dump time."""
    counts = backup_checks.check_dump_restores(deployment)
    log.info("pg_dump restored with row counts %s", counts)


@pytest.mark.sandbox
@pytest.mark.staging
@pytest.mark.production
def test_bucket_lifecycle_keeps_backups_restorable(deployment):
    """No lifecycle rule moves or expires a backup object while the retention may still need it."""
    backup_checks.check_lifecycle_keeps_retention(deployment)
