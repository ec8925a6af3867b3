"""Backup checks: WAL archiving, fresh base backups and dumps, and restores that really work.

Each check raises AssertionError with what is wrong and where (bucket, key, age,
setting). They run the host's own backup tools (``nixos/backup/``, installed by
the NixOS module or the sandbox provisioner) over SSH, and read the bucket
through the run's AWS API.
"""
from __future__ import annotations

import datetime as dt
import json
import logging
import secrets
import shlex
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Optional

from harness.errors import HarnessError
from harness.hostprobes import PG_BIN_FIRST
from harness.redaction import redact
from harness.retry import wait_until

log = logging.getLogger("harness.checks.backups")

ARCHIVE_DEADLINE = 30.0  # seconds a switched WAL segment may take to reach the bucket
RESTORE_DIR = "/var/lib/postgresql/restore-check"  # scratch cluster's data directory (removed afterwards)
RESTORE_SPOOL = "/var/lib/postgresql/restore-check.spool"  # the WAL prefetched for its recovery (removed with it)
PREFETCH_PROCESS = f"wal-prefetch .*{RESTORE_SPOOL}"  # the restore check's wal-prefetch, as pkill -f matches it
RESTORE_PORT = 5499  # the scratch cluster's port (socket only, never TCP)
RESTORE_TIMEOUT = 180.0
DUMP_FILE = "/var/lib/postgresql/restore-check.dump"
DUMP_DB = "restore_check_dump"
MARKER_TABLE = "backup_restore_marker"  # in the postgres database: outside the app's data and dumps
COUNT_ROWS = (
    "SELECT table_schema || '.' || table_name, (xpath('/row/c/text()', query_to_xml(format("
    "'SELECT count(*) AS c FROM %I.%I', table_schema, table_name), false, true, '')))[1]::text "
    "FROM information_schema.tables WHERE table_type = 'BASE TABLE' "
    "AND table_schema NOT IN ('pg_catalog', 'information_schema') ORDER BY 1"
)


@dataclass(frozen=True)
class BackupLocation:
    """Where the deployment's backups are in the bucket (spec.json backup.*)."""

    bucket: str
    server: str
    wal_prefix: str
    dump_prefix: str

    @property
    def url(self) -> str:
        return f"s3://{self.bucket}/{self.wal_prefix}/{self.server}"

    @property
    def base_prefix(self) -> str:
        return f"{self.wal_prefix}/{self.server}/base/"

    @property
    def dumps_prefix(self) -> str:
        return f"{self.dump_prefix}/{self.server}/"

    def wal_key_prefix(self, segment: str) -> str:
        """barman-cloud's key of a WAL segment (before its compression suffix)."""
        return f"{self.wal_prefix}/{self.server}/wals/{segment[:16]}/{segment}"


def location(deployment: Any) -> BackupLocation:
    backup = deployment.spec["backup"]
    # The host stage's bucket (known before the apply finished), else the apply's output.
    target = getattr(deployment.config, "backup", None)
    bucket = target.bucket if target is not None else deployment.infra.backup_bucket
    return BackupLocation(bucket, backup["server_name"], backup["wal_prefix"],
                          backup["dump_prefix"])


def as_postgres(deployment: Any, command: str, *, timeout: float = 120, stdin: Optional[str] = None,
                lasting: bool = False) -> Any:
    """Run ``command`` on the host as the postgres user (with the backup settings in its environment).

    ``command`` is a shell command line run whole by a shell of the postgres user: every part of a
    ``a || b`` or ``a && b`` runs as postgres (pg_ctl refuses to run as root). ``lasting``: it takes seconds
    (barman-cloud, pg_restore), so it takes a channel of its own (``SshSession.sudo``).
    """
    env_file = deployment.spec["backup"]["env_file"]
    wrapped = f"cd / && {PG_BIN_FIRST}runuser -u postgres -- env INVENTORY_TRACKER_BACKUP_ENV={shlex.quote(env_file)} " \
              f"PATH=$PG_BIN/usr/local/bin:/run/current-system/sw/bin:/usr/bin:/bin sh -c {shlex.quote(command)}"
    return deployment.ssh.sudo(wrapped, check=False, timeout=timeout, lasting=lasting,
                               stdin=stdin.encode() if stdin is not None else None)


def sql(deployment: Any, query: str, *, database: str = "postgres", extra: str = "") -> str:
    """Run ``query`` as the postgres superuser (socket, peer) and return psql's unaligned output."""
    port = deployment.spec["database"]["port"]
    result = as_postgres(deployment, f"psql -X -q -At -v ON_ERROR_STOP=1 -p {port} {extra} -d {shlex.quote(database)}",
                         stdin=query)
    if result.exit_status != 0:
        raise HarnessError(f"psql on the host failed: {redact(result.stderr.strip()[-600:])}")
    return str(result.stdout).strip()


def _objects(s3: Any, bucket: str, prefix: str) -> list[dict[str, Any]]:
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
    return [item for page in pages for item in page.get("Contents", [])]


def _archiver_state(deployment: Any) -> dict[str, str]:
    row = sql(deployment, "SELECT archived_count, coalesce(last_archived_wal, ''), "
                          "coalesce(last_archived_time::text, ''), failed_count, coalesce(last_failed_wal, ''), "
                          "coalesce(last_failed_time::text, ''), "
                          "coalesce(last_failed_time > coalesce(last_archived_time, '-infinity'), false) "
                          "FROM pg_stat_archiver")
    keys = ("archived_count", "last_archived_wal", "last_archived_time", "failed_count", "last_failed_wal",
            "last_failed_time", "failing")
    return dict(zip(keys, row.split("|")))


def _archiver_log(deployment: Any, lines: int = 8) -> str:
    """The last archiver complaints in PostgreSQL's log (redacted), to name the failing call."""
    result = deployment.ssh.sudo(
        "tail -n 400 /var/log/postgresql/postgresql-*-main.log 2>/dev/null "
        "|| journalctl -u postgresql.service -n 400 --no-pager", check=False, timeout=30)
    wanted = [line for line in str(result.stdout).splitlines()
              if "archive" in line.lower() or "error" in line.lower() or "denied" in line.lower()]
    return redact("\n".join(wanted[-lines:])) or "(nothing about archiving in PostgreSQL's log)"


def write_marker(deployment: Any) -> tuple[str, str]:
    """A marker row (id, payload) in the postgres database, written now."""
    marker, payload = secrets.token_hex(8), secrets.token_hex(16)
    sql(deployment, f"CREATE TABLE IF NOT EXISTS {MARKER_TABLE} (id text PRIMARY KEY, payload text NOT NULL, "
                    f"written_at timestamptz NOT NULL DEFAULT now());"
                    f"INSERT INTO {MARKER_TABLE} (id, payload) VALUES ('{marker}', '{payload}');")
    return marker, payload


# Checks that run concurrently (harness/plugin/concurrent_checks.py) each write a marker and switch the WAL
# segment: one at a time, so that each switch follows its own write (a switch with nothing written since the
# last one switches nothing) and no two CREATE TABLE IF NOT EXISTS collide in PostgreSQL's catalog.
_SWITCHING = threading.Lock()


@dataclass(frozen=True)
class ArchivedMarker:
    """A marker row whose WAL segment reached the bucket."""

    marker: str
    payload: str
    key: str  # the segment's key in the bucket
    seconds: float  # from the switch until the segment was in the bucket


@dataclass(frozen=True)
class SwitchedMarker:
    """A marker row written, and the WAL segment holding it switched (on its way to the bucket)."""

    marker: str
    payload: str
    segment: str
    failures_before: int  # pg_stat_archiver's failed_count before the switch
    switched_at: float  # time.monotonic()


def switch_marker(deployment: Any, *, restore_point: Optional[str] = None) -> SwitchedMarker:
    """Write a marker row (and, when named, a restore point after it) and switch to a new WAL segment."""
    with _SWITCHING:
        marker, payload = write_marker(deployment)
        failures_before = int(_archiver_state(deployment).get("failed_count") or 0)
        # A recovery that targets the restore point stops there: it asks the bucket for no segment after it.
        point = f"SELECT pg_create_restore_point('{restore_point}'); " if restore_point else ""
        segment = sql(deployment, f"{point}SELECT pg_walfile_name(pg_switch_wal())").splitlines()[-1]
    return SwitchedMarker(marker, payload, segment, failures_before, time.monotonic())


def archive_marker(deployment: Any, *, restore_point: Optional[str] = None,
                   deadline: float = ARCHIVE_DEADLINE) -> ArchivedMarker:
    """Write a marker row (and, when named, a restore point after it), switch to a new WAL segment and wait until
    the old one (holding both) is in the bucket (:func:`switch_marker`, then :func:`wait_archived`)."""
    return wait_archived(deployment, switch_marker(deployment, restore_point=restore_point), deadline=deadline)


def wait_archived(deployment: Any, switched: SwitchedMarker, *, deadline: float = ARCHIVE_DEADLINE) -> ArchivedMarker:
    """Wait until the switched marker's WAL segment is in the bucket.

    The wait ends early when the archiver has failed on that segment three times (PostgreSQL's
    own retry count before it pauses): the archive command is broken, not slow.
    """
    where = location(deployment)
    s3 = deployment.aws.client("s3")
    marker, payload, segment, failures_before = (switched.marker, switched.payload, switched.segment,
                                                 switched.failures_before)
    prefix = where.wal_key_prefix(segment)
    start = switched.switched_at

    archived_elsewhere: list[float] = []

    def archived_or_failing() -> Optional[tuple[str, str]]:
        found = _objects(s3, where.bucket, prefix)
        if found:
            return ("archived", found[0]["Key"])
        state = _archiver_state(deployment)
        if int(state.get("failed_count") or 0) - failures_before >= 3:
            return ("failing", "")  # the archiver works in order: an earlier segment failing blocks this one
        if (state.get("last_archived_wal") or "") >= segment:
            archived_elsewhere.append(time.monotonic())
            if archived_elsewhere[-1] - archived_elsewhere[0] > 2.0:
                return ("elsewhere", "")
        return None

    try:
        outcome, key = wait_until(f"WAL segment {segment} in s3://{where.bucket}/{prefix}", archived_or_failing,
                                  timeout=deadline, interval=0.3)
    except HarnessError:
        outcome, key = "timeout", ""
    if outcome != "archived":
        state = _archiver_state(deployment)
        how = {"failing": "the archiver failed 3 times",
               "elsewhere": "the archiver reports it archived, but not into this bucket"}.get(
                   outcome, f"not within {deadline:.0f} s")
        raise AssertionError(
            f"WAL segment {segment} did not reach s3://{where.bucket}/{prefix}* ({how}); "
            f"pg_stat_archiver: failed_count={state.get('failed_count')}, last_failed_wal="
            f"{state.get('last_failed_wal') or '-'}, last_archived_wal={state.get('last_archived_wal') or '-'}; "
            f"archive_command={sql(deployment, 'SHOW archive_command')!r}; PostgreSQL's log:\n"
            f"{_archiver_log(deployment)}")
    return ArchivedMarker(marker, payload, key, time.monotonic() - start)


def check_wal_archiving(deployment: Any) -> float:
    """A switched WAL segment reaches the bucket within 30 s; the archiver's last failure is older than its last success.

    Returns the delivery latency in seconds.
    """
    latency = archive_marker(deployment).seconds
    state = _archiver_state(deployment)
    assert state.get("failing") != "t", (
        f"pg_stat_archiver's last failure ({state.get('last_failed_wal')} at {state.get('last_failed_time')}) is "
        f"newer than its last success ({state.get('last_archived_wal')} at {state.get('last_archived_time')}); "
        f"PostgreSQL's log:\n{_archiver_log(deployment)}")
    return latency


def _newest(objects: list[dict[str, Any]], suffix: str) -> Optional[dict[str, Any]]:
    matching = [o for o in objects if o["Key"].endswith(suffix)]
    return max(matching, key=lambda o: o["LastModified"]) if matching else None


def _check_fresh(deployment: Any, prefix: str, suffix: str, what: str, interval_key: str) -> None:
    where = location(deployment)
    backup = deployment.spec["backup"]
    allowed = backup[interval_key] + backup["freshness_slack_seconds"]
    newest = _newest(_objects(deployment.aws.client("s3"), where.bucket, prefix), suffix)
    assert newest is not None, (
        f"no {what} in s3://{where.bucket}/{prefix} (nothing ending in {suffix}); the host's backup timer or its "
        "first run at configuration did not write one")
    age = (dt.datetime.now(dt.timezone.utc) - newest["LastModified"]).total_seconds()
    assert age <= allowed, (
        f"the newest {what} s3://{where.bucket}/{newest['Key']} is {age:.0f} s old; its schedule allows "
        f"{allowed} s (spec.json backup.{interval_key} + freshness_slack_seconds)")


def check_base_backup_fresh(deployment: Any) -> None:
    """A base backup exists in the bucket and is younger than its schedule plus slack."""
    _check_fresh(deployment, location(deployment).base_prefix, "/backup.info", "base backup",
                 "base_backup_interval_seconds")


def check_dump_fresh(deployment: Any) -> None:
    """A pg_dump exists in the bucket and is younger than its schedule plus slack."""
    _check_fresh(deployment, location(deployment).dumps_prefix, ".dump", "pg_dump", "dump_interval_seconds")


def newest_base_backup_id(deployment: Any) -> str:
    """The id of the newest complete base backup in the bucket."""
    return str(newest_base_backup(deployment)["backup_id"])


def newest_base_backup(deployment: Any) -> dict[str, Any]:
    """The newest complete base backup in the bucket: its ``backup.info`` (begin_wal, status...) with its
    ``backup_id``, as barman-cloud-backup-list finds it (the newest backup folder whose backup.info says DONE), read
    by the harness: a barman-cloud process on the host took about 0.5 s of start-up alone, 2.5 s beside the other
    checks. The host's own tools still download the backup and its WAL (the restore check)."""
    where = location(deployment)
    s3 = deployment.aws.client("s3")
    infos = sorted(item["Key"] for item in _objects(s3, where.bucket, where.base_prefix)
                   if item["Key"].endswith("/backup.info"))  # in folders named by the backup id, a time stamp
    for key in reversed(infos):
        info = parse_backup_info(s3.get_object(Bucket=where.bucket, Key=key)["Body"].read().decode(errors="replace"))
        if info.get("status") == "DONE":
            return {**info, "backup_id": key.rsplit("/", 2)[-2]}
    raise AssertionError(f"no complete base backup in {where.url}" + (
        f" ({len(infos)} backup.info, none with status=DONE)" if infos else ""))


def parse_backup_info(text: str) -> dict[str, str]:
    """barman's ``backup.info``: one ``key=value`` per line (multi-line values are escaped onto one)."""
    return dict(line.split("=", 1) for line in text.splitlines() if "=" in line)


# pg_ctl on the host: on PATH (NixOS), else the newest version's under /usr/lib/postgresql (Debian).
FIND_PG_CTL = "command -v pg_ctl || ls -d /usr/lib/postgresql/*/bin/pg_ctl 2>/dev/null | sort -V | tail -n 1"


def _pg_bin(deployment: Any) -> str:
    found = deployment.ssh.run(FIND_PG_CTL, check=False, timeout=20)
    path = str(found.stdout).strip().splitlines()
    if not path:
        raise HarnessError("pg_ctl not found on the host (neither on PATH nor under /usr/lib/postgresql)")
    return path[-1].rsplit("/", 1)[0]


def scratch_config(env_file: str, restore_point: str) -> str:
    """postgresql.conf of the scratch cluster: socket only, own port, recovery from the bucket up to
    ``restore_point`` (then promoted), no archiving."""
    return "\n".join([
        "# Scratch cluster of the restore check (removed afterwards).",
        f"port = {RESTORE_PORT}",
        "listen_addresses = ''",
        f"unix_socket_directories = '{RESTORE_DIR}'",
        f"hba_file = '{RESTORE_DIR}/pg_hba.conf'",
        f"ident_file = '{RESTORE_DIR}/pg_ident.conf'",
        "archive_mode = off",
        "shared_buffers = 32MB",
        f"restore_command = 'env INVENTORY_TRACKER_BACKUP_ENV={env_file} WAL_SPOOL={RESTORE_SPOOL} "
        "inventory-tracker-backup wal-restore %f %p'",
        "recovery_target_timeline = 'latest'",
        f"recovery_target_name = '{restore_point}'",
        "recovery_target_action = 'promote'",
        "",
    ])


@dataclass(frozen=True)
class ScratchCluster:
    """A base backup downloaded into the scratch cluster's folder, not started yet."""

    backup_id: str
    pg_bin: str  # the folder of PostgreSQL's programs on the host


def download_base_backup(deployment: Any, restore_point: str, pg_bin: Future, listed: Future, cleared: Future
                         ) -> ScratchCluster:
    """Download the newest base backup (``listed``) into a fresh scratch cluster (once the old one is ``cleared``),
    set to recover up to ``restore_point``; ``pg_bin``: the folder of PostgreSQL's programs on the host."""
    cleared.result()  # the folder is there, empty
    newest = listed.result()
    backup_id = str(newest["backup_id"])
    files = {"postgresql.conf": scratch_config(deployment.spec["backup"]["env_file"], restore_point),
             "pg_hba.conf": "local all postgres peer\n", "pg_ident.conf": "", "recovery.signal": ""}
    settings = " && ".join(f"printf %s {shlex.quote(text)} > {RESTORE_DIR}/{name}" for name, text in files.items())
    restored = as_postgres(deployment, f"inventory-tracker-backup restore {shlex.quote(backup_id)} {RESTORE_DIR} && "
                                       f"{settings}", timeout=RESTORE_TIMEOUT, lasting=True)
    assert restored.exit_status == 0, (
        f"barman-cloud-restore of base backup {backup_id} from {location(deployment).url} failed: "
        f"{redact(str(restored.stderr or restored.stdout).strip()[-800:])}")
    return ScratchCluster(backup_id, pg_bin.result())


def prefetch_wal(deployment: Any, listed: Future, cleared: Future, until: str, abandoned: threading.Event) -> None:
    """Download the WAL the recovery of the newest base backup (``listed``) replays, up to the segment ``until``,
    into the scratch cluster's spool (once the old one is ``cleared``), in one process (wal-prefetch): its
    restore_command then takes each file from there instead of starting barman-cloud once per file.

    wal-prefetch starts before ``until`` is archived and waits for it: its start-up and the earlier segments
    are done while the marker's segment travels. Not started once ``abandoned`` (the archiving failed)."""
    cleared.result()
    newest = listed.result()
    if abandoned.is_set():
        return
    begin_wal = str(newest.get("begin_wal") or "")
    fetched = as_postgres(deployment, f"inventory-tracker-backup wal-prefetch {shlex.quote(begin_wal)} "
                                      f"{RESTORE_SPOOL} {shlex.quote(until)} {ARCHIVE_DEADLINE:.0f}",
                          timeout=RESTORE_TIMEOUT, lasting=True)
    assert fetched.exit_status == 0, (
        f"wal-prefetch of the archived WAL from {begin_wal} to {until} (base backup {newest.get('backup_id')}) "
        f"from {location(deployment).url} failed: {redact(str(fetched.stderr or fetched.stdout).strip()[-600:])}")


def abandon_prefetch(deployment: Any, abandoned: threading.Event, spooled: Future) -> None:
    """Stop the restore check's wal-prefetch, which waits for a segment that will not come (the archiving
    failed): no later one starts (``abandoned``), and a running one is ended until its call (``spooled``) returns."""
    abandoned.set()

    def ended() -> bool:
        # as root, so that the pattern matches only the postgres user's processes, not this shell
        deployment.ssh.sudo(f"pkill -u postgres -f '{PREFETCH_PROCESS}'", check=False, timeout=30)
        return spooled.done()

    wait_until(f"the restore check's wal-prefetch into {RESTORE_SPOOL} to end", ended, timeout=60, interval=0.3)


def recover_scratch_cluster(deployment: Any, cluster: ScratchCluster) -> None:
    """Start the downloaded scratch cluster and wait until its recovery from the bucket ended promoted."""
    backup_id, pg_bin = cluster.backup_id, cluster.pg_bin
    # pg_ctl starts the cluster and returns (-W): the wait below is the harness's own, and it ends at once
    # when no process of the cluster is left (a failed start or recovery).
    started = as_postgres(deployment, f"{pg_bin}/pg_ctl -D {RESTORE_DIR} -l {RESTORE_DIR}/startup.log -W start",
                          timeout=60)

    def log_tail() -> str:
        return redact(str(deployment.ssh.sudo(f"tail -n 25 {RESTORE_DIR}/startup.log", check=False).stdout))

    assert started.exit_status == 0, (
        f"the scratch cluster restored from base backup {backup_id} did not start (recovery from "
        f"{location(deployment).url} failed): {redact(str(started.stderr).strip()[-300:])}\n{log_tail()}")

    refused: list[str] = []
    vanished: list[bool] = []  # probes in a row that found no process of the cluster

    def promoted() -> bool:
        try:
            return sql(deployment, "SELECT pg_is_in_recovery()", extra=f"-h {RESTORE_DIR} -p {RESTORE_PORT}") == "f"
        except HarnessError as exc:  # starting, or ending its recovery: the cluster refuses connections for a while
            refused[:] = [str(exc)]
        vanished[:] = vanished + [True] if not scratch_processes(deployment) else []
        if len(vanished) >= 2:  # twice: not the moment between pg_ctl's fork and the postmaster's exec
            raise HarnessError(f"no process of the scratch cluster in {RESTORE_DIR} is left: it stopped")
        return False

    try:
        wait_until(f"the restored cluster to finish recovery from {location(deployment).url}", promoted,
                   timeout=RESTORE_TIMEOUT, interval=0.15)
    except HarnessError as exc:
        raise AssertionError(f"the cluster restored from base backup {backup_id} did not reach a consistent, "
                             f"promoted state ({exc})"
                             f"{(' (last refusal: ' + refused[0] + ')') if refused else ''}:\n"
                             f"{log_tail()}") from None


# Lists the processes of a scratch cluster in RESTORE_DIR, one "pid argv" line each: every process working in
# the folder (a postmaster and its children chdir to their data directory; its restore_command's too), also
# after the folder was removed under it, and a postmaster started for it that has not changed into it yet.
# One find and one grep over /proc pick the candidates (a loop with a readlink and a tr for every process on
# the host took 0.7 s beside the other checks); only those are looked at one by one.
SCRATCH_PROCESSES = r"""
{ find /proc -mindepth 2 -maxdepth 2 -name cwd \( -lname 'DIR' -o -lname 'DIR/*' -o -lname 'DIR (deleted)' \) \
    -printf '%h\n' 2>/dev/null
  grep -l -a -F -- 'DIR' /proc/[0-9]*/cmdline 2>/dev/null | sed 's,/cmdline$,,'
} | sort -u | while read -r p; do
  argv=$(tr '\0' ' ' 2>/dev/null < "$p/cmdline") || continue  # gone since: nothing to stop
  [ -n "$argv" ] || continue
  cwd=$(readlink "$p/cwd" 2>/dev/null) || cwd=""
  case "$cwd" in
    DIR|DIR/*|"DIR (deleted)") echo "${p#/proc/} $argv"; continue ;;
  esac
  first=${argv%% *}
  case "${first##*/}" in
    postgres) case " $argv" in *" DIR "*) echo "${p#/proc/} $argv" ;; esac ;;
  esac
done
"""
SCRATCH_STOP_GRACE = 15.0  # seconds an immediate shutdown may take before what is left gets SIGKILL
SCRATCH_STOP_TIMEOUT = 60.0


def scratch_processes(deployment: Any) -> list[str]:
    """The processes of any scratch cluster of the restore check on the host: ``"pid argv"`` each."""
    found = deployment.ssh.sudo(SCRATCH_PROCESSES.replace("DIR", RESTORE_DIR), check=False, timeout=30)
    return [line for line in str(found.stdout).splitlines() if line.strip()]


def stop_scratch_processes(deployment: Any, pg_bin: str) -> None:
    """Stop the scratch cluster (immediate shutdown) and wait until none of its processes is left.

    A postmaster that outlives its removed folder (a stop that timed out, a postmaster.pid that was gone)
    unlinks its socket and lock files by path when it finally exits: they are the next scratch cluster's,
    which then runs without a socket. So nothing of an old cluster may be left when a new one is set up.
    """
    # pg_ctl waits for the postmaster (up to the grace): usually none of its processes is left when it returns.
    kill_after = time.monotonic() + SCRATCH_STOP_GRACE
    as_postgres(deployment, f"test ! -f {RESTORE_DIR}/postmaster.pid || {pg_bin}/pg_ctl -D {RESTORE_DIR} "
                            f"-m immediate -w -t {SCRATCH_STOP_GRACE:.0f} stop", timeout=60, lasting=True)

    def none_left() -> bool:
        left = scratch_processes(deployment)
        if left and time.monotonic() > kill_after:
            log.warning("scratch cluster processes left %.0f s after an immediate shutdown, killed: %s",
                        SCRATCH_STOP_GRACE, redact("; ".join(left)))
            deployment.ssh.sudo(f"kill -KILL {' '.join(line.split()[0] for line in left)}", check=False, timeout=30)
        return not left

    wait_until(f"every process of the scratch cluster in {RESTORE_DIR} to exit (an immediate shutdown, SIGKILL "
               f"after {SCRATCH_STOP_GRACE:.0f} s)", none_left, timeout=SCRATCH_STOP_TIMEOUT, interval=0.25,
               explain=lambda: redact("\n".join(scratch_processes(deployment))))


# The usual case in one command (one SSH round trip instead of four; each took 0.1-0.2 s beside the other checks,
# before the download could start): stop a scratch cluster that has a postmaster.pid (pg_ctl as FIND_PG_CTL
# finds it), list what is left of any, and only when nothing is, remove the folder and the spool. Exit status 3 and
# the listing when processes are left: then remove_scratch_cluster waits for them (stop_scratch_processes).
CLEAR_SCRATCH = """cd / && PATH=$PATH:/run/current-system/sw/bin
pg_ctl=$(FIND_PG_CTL)
if [ -f DIR/postmaster.pid ] && [ -n "$pg_ctl" ]; then
  runuser -u postgres -- "$pg_ctl" -D DIR -m immediate -w -t GRACE stop >/dev/null 2>&1
fi
left=$(SCAN)
if [ -n "$left" ]; then printf '%s\\n' "$left"; exit 3; fi
rm -rf DIR SPOOL
"""


def remove_scratch_cluster(deployment: Any, pg_bin: Optional[str] = None, *, recreate: bool = False) -> None:
    """Stop the restore check's scratch cluster, if any, wait until no process of it is left, and remove it;
    ``recreate``: then make its folder anew, empty, for a download."""
    make_folder = f"install -d -o postgres -g postgres -m 0700 {RESTORE_DIR}"
    script = (CLEAR_SCRATCH.replace("FIND_PG_CTL", FIND_PG_CTL).replace("SCAN", SCRATCH_PROCESSES.strip())
              .replace("DIR", RESTORE_DIR)
              .replace("SPOOL", RESTORE_SPOOL).replace("GRACE", f"{SCRATCH_STOP_GRACE:.0f}"))
    cleared = deployment.ssh.sudo(script + (make_folder if recreate else ""), check=False, timeout=60, lasting=True)
    if cleared.exit_status == 0:
        return
    stop_scratch_processes(deployment, pg_bin or _pg_bin(deployment))  # something is left: wait for it, kill it
    deployment.ssh.sudo(f"rm -rf {RESTORE_DIR} {RESTORE_SPOOL}" + (f" && {make_folder}" if recreate else ""),
                        check=False, timeout=60)


def check_base_backup_restores(deployment: Any) -> dict[str, Any]:
    """The newest base backup plus archived WAL restores into a scratch cluster, up to a restore point written
    just after a marker row, and holds that marker.

    Returns what was restored (backup id, the marker's WAL segment, seconds).
    """
    restore_point = f"restore-check-{secrets.token_hex(8)}"
    started = time.monotonic()
    recovery_end = found = ""
    pg_bin: Optional[str] = None
    try:
        # Only the recovery needs the marker's WAL segment in the bucket: while it travels there, the newest base
        # backup is listed and downloaded (once the old scratch cluster is gone) and the WAL before it spooled
        # (wal-prefetch then waits for the marker's segment itself). Leaving the pool waits for every part, also
        # when one of them failed. The marker's switch is this thread's first step: the archiver sends segments
        # in order, and this check's chain is the longest of the checks that switch one
        # (test_wal_archiving_reaches_the_bucket's starts next).
        switched = switch_marker(deployment, restore_point=restore_point)
        abandoned = threading.Event()
        with ThreadPoolExecutor(max_workers=5, thread_name_prefix="restore-check") as pool:
            found_pg_bin = pool.submit(_pg_bin, deployment)
            listed = pool.submit(newest_base_backup, deployment)
            cleared = pool.submit(remove_scratch_cluster, deployment, recreate=True)
            downloaded = pool.submit(download_base_backup, deployment, restore_point, found_pg_bin, listed, cleared)
            spooled = pool.submit(prefetch_wal, deployment, listed, cleared, switched.segment, abandoned)
            try:
                archived = wait_archived(deployment, switched)
            except BaseException:
                abandon_prefetch(deployment, abandoned, spooled)
                raise
        cluster = downloaded.result()
        backup_id, pg_bin = cluster.backup_id, cluster.pg_bin
        spooled.result()
        recover_scratch_cluster(deployment, cluster)
        seconds = time.monotonic() - started
        found = sql(deployment, f"SELECT payload FROM {MARKER_TABLE} WHERE id = '{archived.marker}'",
                    extra=f"-h {RESTORE_DIR} -p {RESTORE_PORT}")
        if found != archived.payload:
            recovery_end = redact(str(deployment.ssh.sudo(
                f"grep -E 'redo done|last completed transaction|selected new timeline|recovery stopping|could not' "
                f"{RESTORE_DIR}/startup.log | tail -n 6", check=False).stdout))
    finally:
        remove_scratch_cluster(deployment, pg_bin)
    marker, payload, key = archived.marker, archived.payload, archived.key
    assert found == payload, (
        f"the marker row {marker} written before the restore (archived as {key}) is "
        f"{'missing' if not found else 'different'} in the cluster restored from base backup {backup_id} of "
        f"{location(deployment).url}: the archived WAL after that backup has a gap or does not replay; "
        f"where recovery ended:\n{recovery_end}")
    return {"backup_id": backup_id, "wal": key, "seconds": round(seconds, 1)}


def _row_counts(deployment: Any, database: str) -> dict[str, int]:
    rows = sql(deployment, COUNT_ROWS, database=database)
    return {line.split("|")[0]: int(line.split("|")[1]) for line in rows.splitlines() if "|" in line}


def check_dump_restores(deployment: Any) -> dict[str, int]:
    """The newest pg_dump restores with pg_restore into a scratch database whose row counts are the ones
    recorded at dump time (counted by pg-dump-to-s3 in the dump's own snapshot, stored next to it)."""
    port = deployment.spec["database"]["port"]
    where = location(deployment)
    fetched = as_postgres(deployment, f"pg-dump-to-s3 --fetch-latest {DUMP_FILE}", timeout=120, lasting=True)
    assert fetched.exit_status == 0, (
        f"fetching the newest pg_dump and its recorded row counts from s3://{where.bucket}/{where.dumps_prefix} "
        f"failed: {redact(str(fetched.stderr).strip()[-600:])}")
    try:
        latest = json.loads(str(fetched.stdout).strip().splitlines()[-1])
        key, recorded = str(latest["key"]), {str(k): int(v) for k, v in latest["row_counts"].items()}
    except (ValueError, KeyError, IndexError, AttributeError) as exc:
        raise HarnessError(f"pg-dump-to-s3 --fetch-latest printed no dump key and row counts ({exc}): "
                           f"{redact(str(fetched.stdout).strip()[-300:])}") from None
    try:
        sql(deployment, f"DROP DATABASE IF EXISTS {DUMP_DB}; CREATE DATABASE {DUMP_DB};")
        restored = as_postgres(deployment, f"pg_restore --no-owner --exit-on-error -p {port} -d {DUMP_DB} {DUMP_FILE}",
                               timeout=300, lasting=True)
        assert restored.exit_status == 0, (
            f"pg_restore of s3://{where.bucket}/{key} failed: "
            f"{redact(str(restored.stderr).strip()[-600:])}")
        copy = _row_counts(deployment, DUMP_DB)
    finally:
        sql(deployment, f"DROP DATABASE IF EXISTS {DUMP_DB};")
        deployment.ssh.sudo(f"rm -f {DUMP_FILE}", check=False)
    assert recorded, (
        f"the row counts recorded with s3://{where.bucket}/{key} ({latest.get('counts_key')}) name no table: "
        f"the dumped database {latest.get('database')} had no tables to compare a restore with")
    assert copy == recorded, (
        f"the dump s3://{where.bucket}/{key} restores to other row counts than were recorded when it was taken "
        f"(s3://{where.bucket}/{latest.get('counts_key')}): restored {copy}, recorded at dump time {recorded}")
    return copy


def check_lifecycle_keeps_retention(deployment: Any) -> None:
    """The bucket's lifecycle moves nothing to Glacier or expires it before the backup retention is over."""
    bucket = deployment.infra.backup_bucket
    backup = deployment.spec["backup"]
    keep_days = backup["retention_days"] + -(-backup["base_backup_interval_seconds"] // 86400) + 1
    rules = deployment.aws.client("s3").get_bucket_lifecycle_configuration(Bucket=bucket)["Rules"]
    too_early = []
    for rule in rules:
        if rule.get("Status") != "Enabled":
            continue
        for transition in rule.get("Transitions", []):
            if transition.get("Days") is not None and transition["Days"] <= keep_days:
                too_early.append(f"rule {rule.get('ID')} moves objects to {transition.get('StorageClass')} after "
                                 f"{transition['Days']} days")
        expiration = rule.get("Expiration", {})
        if expiration.get("Days") is not None and expiration["Days"] <= keep_days:
            too_early.append(f"rule {rule.get('ID')} expires objects after {expiration['Days']} days")
    assert not too_early, (
        f"bucket {bucket}: {'; '.join(too_early)}, but a restore may need objects for {keep_days} days "
        "(spec.json backup.retention_days + one base-backup interval + 1); barman-cloud cannot restore from Glacier")
