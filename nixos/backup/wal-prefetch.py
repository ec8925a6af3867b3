#!/usr/bin/env python3
"""wal-prefetch: download the archived WAL a recovery will replay, in one process, into a spool folder.

PostgreSQL's restore_command fetches one file per call, and each call of barman-cloud-wal-restore
is a new process that spends about half a second starting (boto3, barman, the instance profile's
credentials) before its download of a few milliseconds. A recovery that replays N segments pays
that N times, one after the other. This tool downloads every archived segment from FIRST_WAL on
(the base backup's begin_wal) and every timeline history file with barman-cloud's own downloader,
in one process, into SPOOL_DIR, then marks the spool complete (LISTED). With ``WAL_SPOOL`` naming
that folder, ``inventory-tracker-backup wal-restore`` answers from the spool alone: a file that is
not there was not in the bucket when wal-prefetch ran, and is absent. That is the archive as it was
at that moment, which is what a recovery to a point archived before it needs (the restore check's
restore point): it asks for files that do not exist (the next timeline's history, to choose its
own; the first timeline's parent; the segment after the end, read ahead), a barman-cloud start
each without the spool. A spool is made for one recovery, just before it, and removed after it.

With ``--until SEGMENT``, it may start before the recovery's last segment is archived: once it has
spooled what the bucket holds, it lists the bucket again every fifth of a second, spooling each new
segment, until SEGMENT is spooled (at most ``--within`` seconds, then it fails). The restore check
starts it beside its wait for the marker's segment, so the start-up and the earlier segments are
done by the time that segment arrives.

One program for both hosts (nixos/modules/backup.nix packages it, the sandbox provisioner installs
it); ``inventory-tracker-backup wal-prefetch FIRST_WAL SPOOL_DIR [UNTIL [WITHIN]]`` runs it with the
bucket and options from the backup environment file. Credentials come from the instance profile.

  wal-prefetch [--until SEGMENT [--within SECONDS]] [barman-cloud options]
               SOURCE_URL SERVER_NAME FIRST_WAL SPOOL_DIR
      prints one line: how many segments and history files it spooled
"""
import os
import sys
import time
from contextlib import closing

from barman.clients.cloud_walrestore import CloudWalDownloader, parse_arguments
from barman.cloud import ALLOWED_COMPRESSIONS
from barman.cloud_providers import get_cloud_interface
from barman.xlog import decode_segment_name, is_history_file, is_wal_file

LISTED = ".listed"  # in the spool: every WAL file the recovery may ask for is spooled, as the bucket had them
RELIST_INTERVAL = 0.2  # seconds between listings while waiting for --until's segment
DEFAULT_WITHIN = 60.0  # seconds --until waits for its segment when --within is not given


def archived_name(key):
    """The WAL file name an archived object's key holds (its compression suffix taken off)."""
    name = key.rsplit("/", 1)[-1]
    for suffix in ALLOWED_COMPRESSIONS:
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return name


def wanted(segment, first):
    """A segment at or after ``first``: on its timeline or a later one, at or past its position."""
    return int(segment[:8], 16) >= int(first[:8], 16) and segment[8:] >= first[8:]


def own_options(argv):
    """Take this tool's leading options (--until SEGMENT, --within SECONDS) off ``argv``: (until, within, rest)."""
    until, within, rest = None, DEFAULT_WITHIN, list(argv)
    while rest[:1] in (["--until"], ["--within"]) and len(rest) >= 2:
        option, value = rest.pop(0), rest.pop(0)
        if option == "--until":
            until = value
        else:
            within = float(value)
    return until, within, rest


def main(argv):
    try:
        until, within, argv = own_options(argv)
    except ValueError as exc:
        print(f"wal-prefetch: --within takes seconds ({exc})", file=sys.stderr)
        return 2
    # barman-cloud-wal-restore's own arguments (the backup tool passes the same ones): the options, the
    # bucket URL and server name, then FIRST_WAL and SPOOL_DIR where it takes WAL_NAME and WAL_DEST.
    options = parse_arguments(argv)
    first, spool, server = options.wal_name, options.wal_dest, options.server_name
    for name in (first, until):
        if name is not None and not is_wal_file(name):
            print(f"wal-prefetch: {name} is not a WAL segment name (give a base backup's begin_wal, and for "
                  f"--until the recovery's last segment)", file=sys.stderr)
            return 2
    os.makedirs(spool, mode=0o700, exist_ok=True)
    try:
        segments, histories = prefetch(options, first, spool, server, until=until, within=within)
    except Exception as exc:  # one line naming the failure, as barman-cloud's own tools report theirs
        print(f"wal-prefetch: spooling the archived WAL from {first} on failed: {exc}", file=sys.stderr)
        return 1
    with open(os.path.join(spool, LISTED), "w"):
        pass
    print(f"wal-prefetch: {segments} segment(s) from {first} on and {histories} history file(s) in {spool}")
    return 0


def prefetch(options, first, spool, server, *, until=None, within=DEFAULT_WITHIN):
    """Download the history files and the segments from ``first`` on into ``spool`` (with ``until``: list again
    until that segment is there too, for at most ``within`` seconds): (segments, histories)."""
    spooled = set()
    cloud = get_cloud_interface(options)
    with closing(cloud):
        downloader = CloudWalDownloader(cloud_interface=cloud, server_name=server)

        def spool_file(name):
            partial = os.path.join(spool, name + ".prefetching")
            downloader.download_wal(name, partial, True)
            os.rename(partial, os.path.join(spool, name))  # whole, or not there for restore_command
            spooled.add(name)

        wals = os.path.join(cloud.path, server, "wals", "")  # as barman-cloud-wal-restore spells it
        first_tli = decode_segment_name(first)[0]

        def spool_listed():
            listed = sorted(cloud.list_bucket(wals))
            for key in listed:  # the history files sit at the top; segments in a folder per timeline and log
                name = archived_name(key)
                if is_history_file(name) and name not in spooled:
                    spool_file(name)
            folders = [f for f in listed if f.endswith("/") and len(f.rstrip("/").rsplit("/", 1)[-1]) == 16
                       and int(f.rstrip("/").rsplit("/", 1)[-1][:8], 16) >= first_tli]
            for folder in folders:
                for key in sorted(cloud.list_bucket(folder)):
                    segment = archived_name(key)
                    if is_wal_file(segment) and wanted(segment, first) and segment not in spooled:
                        spool_file(segment)

        deadline = time.monotonic() + within
        spool_listed()
        while until is not None and until not in spooled:
            if time.monotonic() > deadline:
                raise RuntimeError(f"segment {until} did not reach {wals} within {within:.0f} s")
            time.sleep(RELIST_INTERVAL)
            spool_listed()
    histories = sum(1 for name in spooled if is_history_file(name))
    return len(spooled) - histories, histories


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
