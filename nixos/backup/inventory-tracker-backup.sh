#!/bin/bash
# inventory-tracker-backup: the host's backup commands, barman-cloud against the backup bucket.
# One script for both hosts: nixos/modules/backup.nix packages it, the sandbox provisioner
# installs it. Settings come from the backup environment file (spec.json backup.env_file):
# BACKUP_BUCKET, BARMAN_SERVER, WAL_PREFIX, RETENTION_DAYS, PGPORT, AWS_DEFAULT_REGION and,
# off AWS, S3_ENDPOINT_URL. Credentials come from the instance profile (instance metadata).
set -euo pipefail

usage() {
    cat <<'USAGE'
usage: inventory-tracker-backup COMMAND
  wal-archive PATH        archive one WAL segment (PostgreSQL's archive_command, %p)
  wal-restore NAME PATH   fetch one WAL file (restore_command, %f %p); exit 1 when absent. With
                          WAL_SPOOL naming a folder wal-prefetch completed, from that folder alone
  wal-prefetch FIRST DIR [UNTIL [WITHIN]]
                          download the WAL segments from FIRST on and the history files into DIR,
                          in one process (a spool for one recovery, made just before it); with
                          UNTIL, wait (at most WITHIN seconds) until that segment is archived too
  base-backup             take a base backup, then apply the retention policy
  list                    the base backups in the bucket, as JSON
  restore BACKUP_ID DIR   download a base backup into DIR (an empty data directory)
USAGE
}

env_file=${INVENTORY_TRACKER_BACKUP_ENV:-/etc/inventory-tracker-backup/backup.env}
if [ "${1:-}" = "--help" ] || [ "${1:-}" = "-h" ]; then
    usage
    exit 0
fi
if [ ! -r "$env_file" ]; then
    echo "inventory-tracker-backup: cannot read $env_file (the host configuration writes it)" >&2
    exit 2
fi
set -a
# shellcheck disable=SC1090
. "$env_file"
set +a
: "${BACKUP_BUCKET:?is not set in the backup environment file}"
: "${BARMAN_SERVER:?is not set in the backup environment file}"
url="s3://$BACKUP_BUCKET/${WAL_PREFIX:-barman}"
common=(--cloud-provider aws-s3)
if [ -n "${S3_ENDPOINT_URL:-}" ]; then
    common+=(--endpoint-url "$S3_ENDPOINT_URL")
fi

command=${1:-}
shift || true
# WAL in zstd, not gzip: barman-cloud's gzip is level 9, about 0.75 CPU-s for each 16 MB segment
# (one a minute on a quiet server, with archive_timeout). Restores read each object by its own
# suffix, so a bucket that holds .gz segments from before still restores. Base backups stay gzip:
# barman-cloud-backup 3.13 has no zstd, and Debian 13's python3-snappy crashes (Python 3.13).
case "$command" in
    wal-archive)
        exec barman-cloud-wal-archive "${common[@]}" --zstd "$url" "$BARMAN_SERVER" "$1"
        ;;
    wal-restore)
        if [ -n "${WAL_SPOOL:-}" ] && [ -f "$WAL_SPOOL/.listed" ]; then
            # wal-prefetch spooled this recovery's WAL as the bucket had it: a file not there is absent.
            # A copy, not a move: recovery asks for its last segment again when it ends.
            [ -f "$WAL_SPOOL/$1" ] || exit 1
            exec cp "$WAL_SPOOL/$1" "$2"
        fi
        exec barman-cloud-wal-restore "${common[@]}" "$url" "$BARMAN_SERVER" "$1" "$2"
        ;;
    wal-prefetch)
        wait_for=()
        if [ -n "${3:-}" ]; then
            wait_for=(--until "$3" --within "${4:-60}")
        fi
        exec wal-prefetch "${wait_for[@]}" "${common[@]}" "$url" "$BARMAN_SERVER" "$1" "$2"
        ;;
    base-backup)
        # An immediate checkpoint: a spread one makes the backup wait minutes on an idle server.
        barman-cloud-backup "${common[@]}" --gzip --immediate-checkpoint --port "${PGPORT:-5432}" \
            "$url" "$BARMAN_SERVER"
        barman-cloud-backup-delete "${common[@]}" \
            --retention-policy "RECOVERY WINDOW OF ${RETENTION_DAYS:-7} DAYS" "$url" "$BARMAN_SERVER"
        ;;
    list)
        exec barman-cloud-backup-list "${common[@]}" --format json "$url" "$BARMAN_SERVER"
        ;;
    restore)
        exec barman-cloud-restore "${common[@]}" "$url" "$BARMAN_SERVER" "$1" "$2"
        ;;
    *)
        usage >&2
        exit 2
        ;;
esac
