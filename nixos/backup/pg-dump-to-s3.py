#!/usr/bin/env python3
"""inventory-tracker-pg-dump: a pg_dump (custom format) of the application database to the backup bucket.

One program for both hosts (nixos/modules/backup.nix packages it, the sandbox
provisioner installs it). Settings come from the backup environment file:
BACKUP_BUCKET, BARMAN_SERVER, DUMP_PREFIX, DATABASE, PGPORT, RETENTION_DAYS,
AWS_DEFAULT_REGION and, off AWS, S3_ENDPOINT_URL; credentials from the instance
profile. Dumps older than the retention are removed, the newest one never.

  pg-dump-to-s3.py                 take a dump, upload it, prune old ones
  pg-dump-to-s3.py --if-missing    only when the bucket has no dump yet
  pg-dump-to-s3.py --fetch-latest FILE   download the newest dump to FILE
"""
import datetime as dt
import os
import shlex
import subprocess
import sys
import tempfile

ENV_FILE = os.environ.get("INVENTORY_TRACKER_BACKUP_ENV", "/etc/inventory-tracker-backup/backup.env")


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


def dumps(s3, bucket, prefix):
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
    found = [item for page in pages for item in page.get("Contents", []) if item["Key"].endswith(".dump")]
    return sorted(found, key=lambda item: item["LastModified"])


def main(argv):
    conf = settings()
    bucket = conf["BACKUP_BUCKET"]
    prefix = f"{conf.get('DUMP_PREFIX', 'pg_dump')}/{conf['BARMAN_SERVER']}/"
    s3 = client(conf)
    existing = dumps(s3, bucket, prefix)
    if argv[:1] == ["--fetch-latest"]:
        if not existing:
            print(f"no dump under s3://{bucket}/{prefix}", file=sys.stderr)
            return 1
        s3.download_file(bucket, existing[-1]["Key"], argv[1])
        print(existing[-1]["Key"])
        return 0
    if argv[:1] == ["--if-missing"] and existing:
        print(f"a dump exists already: s3://{bucket}/{existing[-1]['Key']}")
        return 0
    database = conf["DATABASE"]
    stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    key = f"{prefix}{database}-{stamp}.dump"
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "dump")
        subprocess.run(["pg_dump", "--format=custom", "--no-owner", "-p", conf.get("PGPORT", "5432"),
                        "--file", path, database], check=True)
        s3.upload_file(path, bucket, key)
    print(f"dump written to s3://{bucket}/{key}")
    cutoff = dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=int(conf.get("RETENTION_DAYS", "7")))
    for item in dumps(s3, bucket, prefix)[:-1]:
        if item["LastModified"] < cutoff:
            s3.delete_object(Bucket=bucket, Key=item["Key"])
            print(f"removed s3://{bucket}/{item['Key']} (older than the retention)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
