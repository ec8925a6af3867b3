"""After a run: sign the certificate and store it where the next run finds it; revoke after a failed staging run.

Signed with the run's signing key (:func:`signing_key_for`), the certificate and its
signature go to ``reports/`` (``certificate-<env>.json`` and ``.sig``, and the store
layout under ``reports/certificates/``) and, for staging and production, to the state
bucket (harness/certificate_store.py).
"""
from __future__ import annotations

import shutil
from pathlib import Path
from typing import Optional

from harness.certificate_store import BucketStore, DirectoryStore, Store, publish, revoke, state_bucket_store
from harness.options import RunOptions
from harness.sandbox.cloud import STATE_BUCKET
from harness.target_cloud import backend_file, sandbox_cloud, signing_directory
from harness.signing import SigningKey, operator_signing_key, sandbox_signing_key, sign_file, signature_path


def signing_key_for(options: RunOptions) -> SigningKey:
    """The sandbox's own key for the sandbox, the sandbox cloud's own in the sandbox cloud; the named, allowed,
    non-sandbox key for staging and production on AWS."""
    if options.environment == "sandbox" or options.cloud == "sandbox":
        return sandbox_signing_key(signing_directory(options))
    return operator_signing_key(options.environment, str(options.signing_key) if options.signing_key else None)


def stores_for(options: RunOptions) -> list[Store]:
    """Where an environment's certificates are kept: reports/, and the state bucket when it has one."""
    stores: list[Store] = [DirectoryStore(options.reports_dir)]
    cloud = sandbox_cloud(options)
    if cloud is not None:  # the sandbox cloud's state bucket, with the emulator's own client
        stores.append(BucketStore(cloud.endpoint().client("s3"), STATE_BUCKET))
    elif options.environment != "sandbox":
        bucket = state_bucket_store(backend_file(options))
        if bucket is not None:
            stores.append(bucket)
    return stores


def sign_and_store(options: RunOptions, certificate: Path, copies: list[Path], commit: Optional[str]) -> list[str]:
    """Sign ``certificate``; give each of ``copies`` (same bytes) the signature; store both. Returns where."""
    signature = sign_file(certificate, signing_key_for(options))
    stored = [str(signature)]
    for copy in copies:
        if copy != certificate:
            shutil.copyfile(signature, signature_path(copy))
    if commit:
        data, signed = certificate.read_bytes(), signature.read_bytes()
        stored += [publish(store, options.environment, commit, data, signed) for store in stores_for(options)]
    return stored


def revoke_staging(options: RunOptions, commit: Optional[str], run_id: str, reason: str) -> list[str]:
    """A failed staging run revokes the staging certificate of its commit in every store; returns where."""
    if options.environment != "staging" or not commit:
        return []
    revoked = [revoke(store, "staging", commit, run_id, reason) for store in stores_for(options)]
    return [where for where in revoked if where]
