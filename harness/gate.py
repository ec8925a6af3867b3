"""The production apply gate: a signed, complete, clean, unrevoked staging certificate for this exact content.

A production apply goes ahead only when the staging certificate stored for the
checked-out commit (in the state bucket, else reports/) is

1. there, and signed;
2. signed by a signer listed in ``certification/allowed_signers`` (over exactly those bytes);
3. a certified staging certificate for this commit;
4. complete (every staging check ran: no paths, no ``-k``);
5. made from a clean tree;
6. for the same deployed content (``terraform/``, ``nixos/``, ``spec.json``, the flake lock);
7. not revoked by a later failed staging run of the commit.

and the tree being applied is clean itself. Each refusal is one ``HarnessError``
naming the condition and what to run.
"""
from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any, Iterable, Optional

from harness.certificate import git_commit
from harness.certificate_store import Store, StoredCertificate, fetch
from harness.content_digest import deployed_content_digest
from harness.errors import HarnessError
from harness import signing
from harness.signing import verify_file

REFUSED = "production apply refused"
ALLOWED_SIGNERS_NAME = "certification/allowed_signers"
CERTIFY_STAGING = ("`pytest -m staging` (with the same --cloud; on AWS with --signing-key PATH) on a clean checkout "
                   "of this commit")


def _verified(stored: StoredCertificate, allowed: Optional[Iterable[Path]]) -> None:
    assert stored.certificate is not None and stored.signature is not None
    with tempfile.TemporaryDirectory(prefix="gate-") as folder:
        certificate = Path(folder) / "certificate-staging.json"
        certificate.write_bytes(stored.certificate)
        signature = Path(folder) / "certificate-staging.json.sig"
        signature.write_bytes(stored.signature)
        verdict = verify_file(certificate, signature, allowed or [signing.REPOSITORY_ALLOWED_SIGNERS])
    if not verdict.valid:
        raise HarnessError(
            f"{REFUSED}: the staging certificate {stored.where} is not validly signed by an allowed signer "
            f"({verdict.message}); certify staging again with {CERTIFY_STAGING}, signed with a key listed in "
            f"{ALLOWED_SIGNERS_NAME}")


def check_staging_certificate(stored: StoredCertificate, commit: str, digest: str,
                              allowed: Optional[Iterable[Path]] = None) -> dict[str, Any]:
    """Raise a one-condition ``HarnessError`` unless ``stored`` admits a production apply of ``commit``/``digest``.

    ``allowed``: the allowed-signers files (default: certification/allowed_signers).
    Returns the certificate document when it does.
    """
    if stored.certificate is None:
        raise HarnessError(f"{REFUSED}: applying to production needs a staging certificate for commit {commit} "
                           f"({stored.where} does not exist); run {CERTIFY_STAGING} first")
    if stored.signature is None:
        raise HarnessError(f"{REFUSED}: the staging certificate {stored.where} is unsigned (no .sig beside it); "
                           f"certify staging again with {CERTIFY_STAGING}")
    _verified(stored, allowed)
    document = json.loads(stored.certificate)
    if document.get("environment") != "staging" or not document.get("certified"):
        raise HarnessError(f"{REFUSED}: {stored.where} is not a certified staging certificate "
                           f"(environment {document.get('environment')!r}, certified {document.get('certified')!r}); "
                           f"run {CERTIFY_STAGING}")
    if document.get("commit") != commit:
        raise HarnessError(f"{REFUSED}: the staging certificate is for commit {document.get('commit')}, not {commit}; "
                           f"certify staging for this commit first: {CERTIFY_STAGING}")
    if document.get("dirty") is not False:
        raise HarnessError(f"{REFUSED}: the staging certificate was made from a dirty tree (uncommitted changes); "
                           f"commit them and run {CERTIFY_STAGING}")
    if document.get("selection") != "complete":
        raise HarnessError(f"{REFUSED}: the staging certificate is partial (selection "
                           f"{document.get('selection')!r}: only some checks ran, paths or -k chose them); "
                           f"run every staging check: {CERTIFY_STAGING}, without paths or -k")
    if document.get("content_digest") != digest:
        raise HarnessError(f"{REFUSED}: the staging certificate is for deployed content "
                           f"{document.get('content_digest')}, this checkout's terraform/, nixos/, spec.json (and flake lock) are {digest}; "
                           f"certify staging for exactly this content: {CERTIFY_STAGING}")
    if stored.revoked:
        revocation = stored.revocation or {}
        raise HarnessError(f"{REFUSED}: the staging certificate for commit {commit} was revoked by the failed staging "
                           f"run {revocation.get('revoked_by_run')} at {revocation.get('revoked_at')} "
                           f"({revocation.get('reason')}); fix staging and run {CERTIFY_STAGING} again")
    return document


def require_staging_certificate(store: Store, allowed: Optional[Iterable[Path]] = None) -> dict[str, Any]:
    """Raise unless ``store`` holds a staging certificate that admits applying this clean checkout to production."""
    commit, dirty = git_commit()
    if commit is None:
        raise HarnessError(f"{REFUSED}: this is not a git checkout, so there is no commit a certificate could name")
    if dirty:
        raise HarnessError(f"{REFUSED}: applying to production needs a clean tree; commit or stash your changes")
    return check_staging_certificate(fetch(store, "staging", commit), commit, deployed_content_digest(), allowed)
