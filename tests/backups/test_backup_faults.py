"""Fault injection for the backup checks, on the session's deployed sandbox (break, check, repair, check)."""
from __future__ import annotations

import re
import shlex

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


def _archived_wal_names(deployment) -> list[str]:
    from suites import backup_checks

    where = backup_checks.location(deployment)
    keys = [item["Key"] for item in deployment.aws.client("s3").list_objects_v2(
        Bucket=where.bucket, Prefix=f"{where.wal_prefix}/{where.server}/wals/").get("Contents", [])]
    return sorted({re.sub(r"\.(zst|gz)$", "", key.rsplit("/", 1)[-1]) for key in keys} - {""})


def test_wal_prefetch_spools_the_recovery_wal_and_restore_takes_it_from_there(backed_up):
    """wal-prefetch downloads every archived segment from a base backup's begin_wal on, in one process; the
    restore_command (wal-restore with WAL_SPOOL) takes a spooled segment from the spool (as often as asked), the
    same bytes as the bucket gives, and answers a file the bucket did not have as absent."""
    from suites import backup_checks

    deployment = backed_up
    backup_checks.archive_marker(deployment)
    begin = backup_checks.newest_base_backup(deployment)["begin_wal"]
    archived = [n for n in _archived_wal_names(deployment) if len(n) == 24 and n[8:] >= begin[8:]]
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


def test_wal_prefetch_until_waits_for_a_segment_archived_after_it_started(backed_up):
    """wal-prefetch --until, started before that segment is switched, spools the segments already archived,
    then waits and spools that segment once the archiver has sent it; told to wait for one that does not come,
    it fails after --within seconds, naming it."""
    from concurrent.futures import ThreadPoolExecutor

    from harness.retry import wait_until
    from suites import backup_checks

    deployment = backed_up
    begin = backup_checks.newest_base_backup(deployment)["begin_wal"]
    spool = "/var/lib/postgresql/prefetch-until-test"
    # a switch first: archive_timeout (60 s) switches the new segment no earlier than a minute from now
    backup_checks.archive_marker(deployment)
    current = backup_checks.sql(deployment, "SELECT pg_walfile_name(pg_current_wal_lsn())")
    last_archived = [name for name in _archived_wal_names(deployment) if len(name) == 24][-1]
    assert last_archived < current, f"the current segment {current} is archived already ({last_archived})"
    try:
        with ThreadPoolExecutor(max_workers=1) as pool:
            fetched = pool.submit(backup_checks.as_postgres, deployment,
                                  f"inventory-tracker-backup wal-prefetch {begin} {spool} {current} 30", lasting=True)

            def spooled_what_was_there() -> bool:
                listed = str(deployment.ssh.sudo(f"ls -A {spool}", check=False).stdout).split()
                return last_archived in listed or fetched.done()

            # the first listing is done (it could not hold the current segment): only the wait can bring it
            wait_until(f"wal-prefetch to spool {last_archived}", spooled_what_was_there, timeout=30, interval=0.2)
            assert not fetched.done(), f"wal-prefetch ended before {current} was switched: {fetched.result().stderr}"
            switched = backup_checks.switch_marker(deployment)
            assert switched.segment == current
            result = fetched.result()
        assert result.exit_status == 0, result.stderr
        listed = str(deployment.ssh.sudo(f"ls -A {spool}", check=False).stdout).split()
        assert current in listed and ".listed" in listed, f"{current} not spooled after the wait: {listed}"

        never = f"{current[:16]}{int(current[16:], 16) + 200:08X}"
        failed = backup_checks.as_postgres(deployment, f"rm -rf {spool} && inventory-tracker-backup wal-prefetch "
                                                       f"{begin} {spool} {never} 1", lasting=True)
        assert failed.exit_status == 1 and f"segment {never} did not reach" in failed.stderr, failed.stderr
    finally:
        deployment.ssh.sudo(f"rm -rf {spool}", check=False)


def test_failed_archiving_ends_the_restore_checks_waiting_prefetch(backed_up, monkeypatch):
    """When the marker's segment does not reach the bucket, the restore check fails at once: the wal-prefetch
    waiting for that segment is ended (not left to wait out its 30 s), and no process of it is left."""
    import dataclasses
    import time

    from harness.retry import wait_until
    from suites import backup_checks

    deployment = backed_up
    switch_marker = backup_checks.switch_marker

    def switched_to_a_segment_that_never_comes(deployment, **kw):
        switched = switch_marker(deployment, **kw)
        never = f"{switched.segment[:16]}{int(switched.segment[16:], 16) + 200:08X}"
        return dataclasses.replace(switched, segment=never)

    def prefetch_running() -> bool:
        found = deployment.ssh.sudo(f"pgrep -u postgres -f '{backup_checks.PREFETCH_PROCESS}'", check=False)
        return bool(str(found.stdout).strip())

    def archiving_fails(deployment, switched, **kw):
        wait_until("the restore check's wal-prefetch to be waiting", prefetch_running, timeout=30, interval=0.2)
        raise AssertionError(f"WAL segment {switched.segment} did not reach the bucket (broken on purpose)")

    monkeypatch.setattr(backup_checks, "switch_marker", switched_to_a_segment_that_never_comes)
    monkeypatch.setattr(backup_checks, "wait_archived", archiving_fails)
    started = time.monotonic()
    with pytest.raises(AssertionError, match="broken on purpose"):
        backup_checks.check_base_backup_restores(deployment)
    assert time.monotonic() - started < 20, "the restore check waited for its wal-prefetch to give up"
    assert not prefetch_running(), "a wal-prefetch of the restore check is still running"


def test_scratch_processes_are_the_ones_in_or_started_for_the_scratch_folder(backed_up):
    """The scan the restore check stops and waits on lists a process working in the scratch cluster's folder and
    a postmaster started for it, and not one that only names the folder or a folder beside it."""
    from harness.retry import wait_until
    from suites import backup_checks

    deployment = backed_up
    folder, spool = backup_checks.RESTORE_DIR, backup_checks.RESTORE_SPOOL
    started = {  # the sleep each one runs: what tells them apart in the listing
        "61": f"cd {folder} && exec sleep 61",
        "62": f"exec -a postgres perl -e 'sleep 62' -- -D {folder}",
        "63": f"exec -a postgres perl -e 'sleep 63' -- -D {spool}",
        "64": f": {folder}; exec sleep 64",
    }
    try:
        deployment.ssh.sudo(f"install -d -o postgres -g postgres -m 0700 {folder}")
        for command in started.values():
            deployment.ssh.sudo(f"setsid -f bash -c {shlex.quote(command)} </dev/null >/dev/null 2>&1")

        def listed() -> list[str]:
            return [line for line in backup_checks.scratch_processes(deployment) if "sleep 6" in line]

        wait_until("the scratch folder's two processes to be listed", lambda: len(listed()) >= 2, timeout=30,
                   interval=0.2)
        found = listed()
        assert len(found) == 2 and any(line.endswith("sleep 61 ") for line in found), found
        assert any(f"postgres -e sleep 62 -- -D {folder}" in line for line in found), found
    finally:
        deployment.ssh.sudo("pkill -f 'sleep 6[1-4]'", check=False)
        deployment.ssh.sudo(f"rm -rf {folder}", check=False)
