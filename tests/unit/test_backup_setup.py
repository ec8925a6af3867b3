"""The sandbox provisioner learns from the bucket, as the harness lists it, whether the first backups exist: the same
tests the host's tools make (barman-cloud-backup-list, pg-dump-to-s3 --if-missing)."""
from __future__ import annotations

from types import SimpleNamespace

from fixtures.sandbox.backup_setup import BackupTarget, bucket_has_first_backups
from harness.spec import load_spec

BASE = "barman/inventory-tracker/base/"
DUMPS = "pg_dump/inventory-tracker/"


def provisioner(keys: list[str] | None) -> SimpleNamespace:
    spec = load_spec()
    spec["backup"].update(wal_prefix="barman", dump_prefix="pg_dump", server_name="inventory-tracker")
    lister = None if keys is None else (lambda prefix: [key for key in keys if key.startswith(prefix)])
    return SimpleNamespace(spec=spec, backup=BackupTarget("bucket", "us-east-1", list_keys=lister))


def test_a_complete_base_backup_and_a_counted_dump_are_found():
    keys = [f"{BASE}20261128T015905/backup.info", f"{BASE}20261128T015905/data.tar.gz",
            f"{DUMPS}inventory-20261128T015906Z.dump", f"{DUMPS}inventory-20261128T015906Z.row-counts.json"]
    assert bucket_has_first_backups(provisioner(keys)) == (True, True)


def test_a_base_backup_without_backup_info_or_a_newest_dump_without_counts_is_not_enough():
    keys = [f"{BASE}20261128T015905/data.tar.gz",
            f"{DUMPS}inventory-20261128T015906Z.dump", f"{DUMPS}inventory-20261128T015906Z.row-counts.json",
            f"{DUMPS}inventory-20261128T020000Z.dump"]
    assert bucket_has_first_backups(provisioner(keys)) == (False, False)
    assert bucket_has_first_backups(provisioner([])) == (False, False)


def test_without_a_view_of_the_bucket_the_host_is_asked():
    assert bucket_has_first_backups(provisioner(None)) == (None, None)
