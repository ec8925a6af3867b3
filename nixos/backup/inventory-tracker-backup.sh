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
  wal-restore NAME PATH   fetch one WAL file (restore_command, %f %p); exit 1 when absent
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

# Recovery asks for one WAL segment at a time, and each barman-cloud-wal-restore is a process of its own
# (about 0.5 s). So when asked for a segment, the next WAL_PREFETCH (default 4; 0: none) segments are
# fetched in the background, also with barman-cloud-wal-restore, into a spool that the next calls take
# them from (16 MB segments, PostgreSQL's default: 256 to a log file). A segment's archived contents
# never change, so a spooled one is always right; one not archived (yet: the end of WAL) is not
# spooled, and its own call fetches it later.
prefetch_after() {
    local name=$1 spool=$2 timeline=${1:0:8} log=$((16#${1:8:8})) segment=$((16#${1:16:8})) i next
    for i in $(seq 1 "${WAL_PREFETCH:-4}"); do
        next=$(printf '%s%08X%08X' "$timeline" $((log + (segment + i) / 256)) $(((segment + i) % 256)))
        [ -e "$spool/$next" ] && continue
        mkdir "$spool/$next.fetching" 2>/dev/null || continue  # another call fetches it
        (
            cd / || exit 1  # not in the data directory: stopping a scratch cluster stops what works in it
            barman-cloud-wal-restore "${common[@]}" "$url" "$BARMAN_SERVER" "$next" "$spool/.$next.part" \
                && mv -f "$spool/.$next.part" "$spool/$next"
            rm -f "$spool/.$next.part"
            rmdir "$spool/$next.fetching"
        ) </dev/null >/dev/null 2>&1 &
    done
}

command=${1:-}
shift || true
case "$command" in
    wal-archive)
        exec barman-cloud-wal-archive "${common[@]}" --gzip "$url" "$BARMAN_SERVER" "$1"
        ;;
    wal-restore)
        name=$1
        target=$2
        if [[ $name =~ ^[0-9A-F]{24}$ ]] && [ "${WAL_PREFETCH:-4}" -gt 0 ]; then
            spool=${WAL_PREFETCH_DIR:-/var/tmp/inventory-tracker-wal-prefetch}/$BACKUP_BUCKET/$BARMAN_SERVER
            (umask 077 && mkdir -p "$spool")
            find "$spool" -mindepth 1 -maxdepth 1 -type f -mmin +10 -delete 2>/dev/null || true
            # The marker of a fetch that died (killed, its host stopped) goes after a minute: fetched again.
            find "$spool" -mindepth 1 -maxdepth 1 -type d -name '*.fetching' -mmin +1 -exec rmdir {} + \
                2>/dev/null || true
            prefetch_after "$name" "$spool"
            # A fetch of this very segment that is under way (started by an earlier call) ends first.
            for _ in $(seq 1 200); do
                [ -d "$spool/$name.fetching" ] || break
                sleep 0.1
            done
            if [ -f "$spool/$name" ]; then
                mv -f "$spool/$name" "$target"
                exit 0
            fi
        fi
        exec barman-cloud-wal-restore "${common[@]}" "$url" "$BARMAN_SERVER" "$name" "$target"
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
