"""Where certificates are kept so that the next run, on any machine, can find them.

Every place uses the same layout, keyed by environment and commit::

    certificates/<environment>/<commit>.json          the certificate, byte for byte as signed
    certificates/<environment>/<commit>.json.sig      its ssh-keygen signature
    certificates/<environment>/<commit>.revoked.json  a revocation: a later run of that commit failed

Two stores hold it: the run's reports folder (:class:`DirectoryStore`) and, for
staging and production, the bucket that keeps the environment's Terraform state
(:class:`BucketStore`, boto3; bucket, region and endpoint from
the environment's backend file, harness/target_cloud.py), which a production run on another
machine (a CI job) reads.

A revocation names the SHA-256 of the certificate it revokes: a later green run
of the same commit publishes a new certificate, which the old revocation does
not cover. Revocations are not signed: a forged one can only refuse, never admit.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional, Protocol

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from harness.errors import HarnessError
from harness.signing import SIGNATURE_SUFFIX
from harness.terraform import read_hcl

PREFIX = "certificates"


class Store(Protocol):
    """Bytes by key: a folder or a bucket."""

    def get(self, key: str) -> Optional[bytes]: ...

    def put(self, key: str, data: bytes) -> None: ...

    def where(self, key: str) -> str: ...


@dataclass(frozen=True)
class DirectoryStore:
    """The layout under a local folder (the run's reports/)."""

    root: Path

    def get(self, key: str) -> Optional[bytes]:
        path = self.root / key
        return path.read_bytes() if path.is_file() else None

    def put(self, key: str, data: bytes) -> None:
        path = self.root / key
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)

    def where(self, key: str) -> str:
        return str(self.root / key)


@dataclass(frozen=True)
class BucketStore:
    """The layout in an S3 bucket (the one holding the environment's Terraform state)."""

    s3: Any  # a boto3 S3 client
    bucket: str

    def get(self, key: str) -> Optional[bytes]:
        try:
            return self.s3.get_object(Bucket=self.bucket, Key=key)["Body"].read()
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
                return None
            raise HarnessError(f"cannot read {self.where(key)}: {exc}") from None
        except BotoCoreError as exc:
            raise HarnessError(f"cannot read {self.where(key)}: {exc}") from None

    def put(self, key: str, data: bytes) -> None:
        try:
            self.s3.put_object(Bucket=self.bucket, Key=key, Body=data)
        except (ClientError, BotoCoreError) as exc:
            raise HarnessError(f"cannot write {self.where(key)}: {exc}") from None

    def where(self, key: str) -> str:
        return f"s3://{self.bucket}/{key}"


def certificate_key(environment: str, commit: str) -> str:
    """The key of an environment's certificate for a commit."""
    return f"{PREFIX}/{environment}/{commit}.json"


def revocation_key(environment: str, commit: str) -> str:
    return f"{PREFIX}/{environment}/{commit}.revoked.json"


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@dataclass(frozen=True)
class StoredCertificate:
    """What a store holds for one environment and commit (None: absent)."""

    certificate: Optional[bytes]
    signature: Optional[bytes]
    revocation: Optional[dict[str, Any]]
    where: str  # the certificate's location, for messages

    @property
    def revoked(self) -> bool:
        """True when a revocation covers exactly this certificate."""
        return bool(self.certificate is not None and self.revocation
                    and self.revocation.get("certificate_sha256") == sha256(self.certificate))


def publish(store: Store, environment: str, commit: str, certificate: bytes, signature: bytes) -> str:
    """Store a signed certificate; returns where it went."""
    key = certificate_key(environment, commit)
    store.put(key, certificate)
    store.put(key + SIGNATURE_SUFFIX, signature)
    return store.where(key)


def revoke(store: Store, environment: str, commit: str, run_id: str, reason: str) -> Optional[str]:
    """Revoke the certificate stored for ``commit`` (a later run of it failed); returns where, or None if none."""
    certificate = store.get(certificate_key(environment, commit))
    if certificate is None:
        return None
    record = {"environment": environment, "commit": commit, "certificate_sha256": sha256(certificate),
              "revoked_by_run": run_id, "reason": reason,
              "revoked_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")}
    key = revocation_key(environment, commit)
    store.put(key, (json.dumps(record, indent=2) + "\n").encode())
    return store.where(key)


def fetch(store: Store, environment: str, commit: str) -> StoredCertificate:
    """The certificate, signature and revocation a store holds for ``environment`` and ``commit``."""
    key = certificate_key(environment, commit)
    revocation = store.get(revocation_key(environment, commit))
    try:
        parsed = json.loads(revocation) if revocation is not None else None
    except ValueError:
        parsed = {"certificate_sha256": None, "reason": "unreadable revocation record"}
    return StoredCertificate(store.get(key), store.get(key + SIGNATURE_SUFFIX), parsed, store.where(key))


def read_backend_settings(path: Path) -> dict[str, Any]:
    """The settings of a Terraform S3 backend file (``bucket``, ``region``, ``endpoints``...)."""
    return read_hcl(path, "a Terraform backend file")


def state_bucket_store(path: Optional[Path]) -> Optional[BucketStore]:
    """The store in the bucket of the backend file ``path`` (None when the environment has no backend)."""
    if path is None:
        return None
    settings = read_backend_settings(path)
    bucket = settings.get("bucket")
    if not bucket:
        raise HarnessError(f"{path} names no `bucket`: the certificates are kept in the state bucket")
    endpoints = settings.get("endpoints") or {}
    endpoint = (endpoints.get("s3") if isinstance(endpoints, dict) else None) or settings.get("endpoint")
    session = boto3.Session(profile_name=settings.get("profile")) if settings.get("profile") else boto3.Session()
    return BucketStore(session.client("s3", region_name=settings.get("region"), endpoint_url=endpoint), bucket)
