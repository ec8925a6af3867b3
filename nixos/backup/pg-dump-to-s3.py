#!/usr/bin/env python3
"""inventory-tracker-pg-dump: a pg_dump (custom format) of the application database to the backup bucket.

One program for both hosts (nixos/modules/backup.nix packages it, the sandbox
provisioner installs it). Settings come from the backup environment file:
BACKUP_BUCKET, BARMAN_SERVER, DUMP_PREFIX, DATABASE, PGPORT, RETENTION_DAYS,
AWS_DEFAULT_REGION and, off AWS, S3_ENDPOINT_URL; credentials from the instance
profile. Dumps older than the retention are removed, the newest one never.

Each dump has its row counts next to it (``<dump key without .dump>.row-counts.json``):
the rows of every table, counted in a REPEATABLE READ transaction whose snapshot
pg_dump takes (``--snapshot``), so they are the counts of exactly what the dump
holds, however the database changed since. A restore of the dump is compared
with them. The row counts are uploaded before the dump: a dump never exists
without them.

  pg-dump-to-s3.py                 take a dump, upload it with its row counts, prune old ones
  pg-dump-to-s3.py --if-missing    only when the bucket has no dump (with row counts) yet
  pg-dump-to-s3.py --fetch-latest FILE   download the newest dump to FILE; print one JSON object:
                                   {"key": the dump's key, "row_counts": {"schema.table": rows}, ...}
"""
import datetime as dt
import json
import os
import shlex
import subprocess
import sys
import tempfile

ENV_FILE = os.environ.get("INVENTORY_TRACKER_BACKUP_ENV", "/etc/inventory-tracker-backup/backup.env")
DUMP_SUFFIX = ".dump"
COUNTS_SUFFIX = ".row-counts.json"
# The tables whose rows are counted: every base table outside the system schemas (as the restore check counts).
TABLES = ("SELECT table_schema, table_name FROM information_schema.tables WHERE table_type = 'BASE TABLE' "
          "AND table_schema NOT IN ('pg_catalog', 'information_schema') ORDER BY 1, 2")


def settings():
    values = {}
    with open(ENV_FILE) as handle:
        for line in handle:
            line = line.strip()
            if line and not line.startswith("#") and "=" in line:
                key, value = line.split("=", 1)
                values[key] = "".join(shlex.split(value)) if value else ""
    return values


def client(conf):
    import boto3

    # the instance metadata service's patience (timeout, attempts) from the environment file
    for key in ("AWS_METADATA_SERVICE_TIMEOUT", "AWS_METADATA_SERVICE_NUM_ATTEMPTS"):
        if conf.get(key):
            os.environ.setdefault(key, conf[key])

    return boto3.client("s3", region_name=conf.get("AWS_DEFAULT_REGION") or None,
                        endpoint_url=conf.get("S3_ENDPOINT_URL") or None)


def counts_key(dump_key):
    """The key of a dump's row counts: next to the dump, with its own suffix."""
    return dump_key[:-len(DUMP_SUFFIX)] + COUNTS_SUFFIX


def dumps(s3, bucket, prefix):
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
    found = [item for page in pages for item in page.get("Contents", []) if item["Key"].endswith(DUMP_SUFFIX)]
    return sorted(found, key=lambda item: item["LastModified"])


def recorded_counts(s3, bucket, dump_key):
    """The row counts recorded with ``dump_key`` (the document as uploaded), or None when there are none."""
    try:
        body = s3.get_object(Bucket=bucket, Key=counts_key(dump_key))["Body"].read()
    except s3.exceptions.NoSuchKey:
        return None
    return json.loads(body)


def dump_with_counts(database, port, path):
    """pg_dump of ``database`` to ``path`` and the row counts of the same snapshot: {"schema.table": rows}.

    The counts run in a REPEATABLE READ, read-only transaction that exports its snapshot;
    pg_dump imports it (--snapshot) while that transaction is still open, so the dump and
    the counts see the same rows.
    """
    import psycopg
    from psycopg import sql

    with psycopg.connect(dbname=database, port=port, application_name="pg-dump-to-s3") as conn:
        conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
        conn.read_only = True
        with conn.transaction():
            snapshot = conn.execute("SELECT pg_export_snapshot()").fetchone()[0]
            counts = {}
            for schema, table in conn.execute(TABLES).fetchall():
                query = sql.SQL("SELECT count(*) FROM {}.{}").format(sql.Identifier(schema), sql.Identifier(table))
                counts[f"{schema}.{table}"] = conn.execute(query).fetchone()[0]
            subprocess.run(["pg_dump", "--format=custom", "--no-owner", "-p", port, f"--snapshot={snapshot}",
                            "--file", path, database], check=True)
    return {"database": database, "snapshot": snapshot, "row_counts": counts}


def main(argv):
    conf = settings()
    bucket = conf["BACKUP_BUCKET"]
    prefix = f"{conf.get('DUMP_PREFIX', 'pg_dump')}/{conf['BARMAN_SERVER']}/"
    s3 = client(conf)
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        existing = dumps(s3, bucket, prefix)
    except (BotoCoreError, ClientError) as exc:  # one line naming the bucket this host's settings point at
        print(f"pg-dump-to-s3: cannot list s3://{bucket}/{prefix} (BACKUP_BUCKET in the backup settings): {exc}",
              file=sys.stderr)
        return 1
    if argv[:1] == ["--fetch-latest"]:
        if not existing:
            print(f"no dump under s3://{bucket}/{prefix}", file=sys.stderr)
            return 1
        key = existing[-1]["Key"]
        recorded = recorded_counts(s3, bucket, key)
        if recorded is None:
            print(f"the newest dump s3://{bucket}/{key} has no recorded row counts "
                  f"(s3://{bucket}/{counts_key(key)} is missing)", file=sys.stderr)
            return 1
        s3.download_file(bucket, key, argv[1])
        print(json.dumps({**recorded, "key": key, "counts_key": counts_key(key)}, sort_keys=True))
        return 0
    if argv[:1] == ["--if-missing"] and existing:
        if recorded_counts(s3, bucket, existing[-1]["Key"]) is not None:
            print(f"a dump exists already: s3://{bucket}/{existing[-1]['Key']}")
            return 0
        print(f"the newest dump s3://{bucket}/{existing[-1]['Key']} has no recorded row counts: taking one")
    database = conf["DATABASE"]
    stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    key = f"{prefix}{database}-{stamp}{DUMP_SUFFIX}"
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "dump")
        recorded = dump_with_counts(database, conf.get("PGPORT", "5432"), path)
        recorded["taken_at"] = stamp
        s3.put_object(Bucket=bucket, Key=counts_key(key), Body=json.dumps(recorded, sort_keys=True).encode(),
                      ContentType="application/json")
        s3.upload_file(path, bucket, key)
    print(f"dump written to s3://{bucket}/{key} (row counts: s3://{bucket}/{counts_key(key)})")
    cutoff = dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=int(conf.get("RETENTION_DAYS", "7")))
    for item in dumps(s3, bucket, prefix)[:-1]:
        if item["LastModified"] < cutoff:
            for old in (item["Key"], counts_key(item["Key"])):
                s3.delete_object(Bucket=bucket, Key=old)
            print(f"removed s3://{bucket}/{item['Key']} and its row counts (older than the retention)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
