"""The production apply gate: a signed, complete, clean, unrevoked staging certificate for this commit and content.

Real ssh-keygen signatures; the certificates sit in a store laid out like the state bucket
(a folder here, a moto server's bucket in the last tests).
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from harness import gate
from harness.certificate_publish import revoke_staging, sign_and_store
from harness.certificate_store import DirectoryStore, certificate_key, publish, revoke
from harness.errors import HarnessError
from harness.options import RunOptions
from harness.plugin.core import preflight
from harness.signing import SigningKey, sandbox_signing_key, sign_file

COMMIT, DIGEST = "abc123", "sha256:" + "d" * 64


@pytest.fixture()
def checkout(monkeypatch):
    """The checked-out commit is COMMIT, clean, with deployed content DIGEST."""
    monkeypatch.setattr(gate, "git_commit", lambda: (COMMIT, False))
    monkeypatch.setattr(gate, "deployed_content_digest", lambda: DIGEST)


@pytest.fixture()
def store(tmp_path):
    return DirectoryStore(tmp_path / "reports")


def staging_document(**changes: Any) -> dict[str, Any]:
    document = {"environment": "staging", "certified": True, "commit": COMMIT, "dirty": False,
                "selection": "complete", "content_digest": DIGEST, "run_id": "it0000staging"}
    document.update(changes)
    return document


def signed(tmp_path: Path, key: Any, document: dict[str, Any]) -> tuple[bytes, bytes]:
    """The certificate's bytes and their ssh-keygen signature by ``key``."""
    path = tmp_path / "certificate-staging.json"
    path.write_text(json.dumps(document, indent=2) + "\n")
    signature = sign_file(path, SigningKey(key.path, key.public))
    return path.read_bytes(), signature.read_bytes()


def stored(tmp_path, store, key, **changes) -> bytes:
    certificate, signature = signed(tmp_path, key, staging_document(**changes))
    publish(store, "staging", COMMIT, certificate, signature)
    return certificate


def test_a_valid_certificate_opens_the_gate(tmp_path, store, operator_key, allowed_signers, checkout):
    stored(tmp_path, store, operator_key)
    assert gate.require_staging_certificate(store)["run_id"] == "it0000staging"


def test_no_staging_certificate(store, allowed_signers, checkout):
    with pytest.raises(HarnessError, match="needs a staging certificate for commit abc123.*pytest -m staging"):
        gate.require_staging_certificate(store)


def test_unsigned_certificate_refused(store, allowed_signers, checkout):
    store.put(certificate_key("staging", COMMIT), json.dumps(staging_document()).encode())
    with pytest.raises(HarnessError, match="is unsigned.*pytest -m staging"):
        gate.require_staging_certificate(store)


def test_tampered_certificate_refused(tmp_path, store, operator_key, allowed_signers, checkout):
    certificate = stored(tmp_path, store, operator_key, selection="partial")
    store.put(certificate_key("staging", COMMIT), certificate.replace(b'"partial"', b'"complete"'))
    with pytest.raises(HarnessError, match="not validly signed.*incorrect signature"):
        gate.require_staging_certificate(store)


def test_wrong_signer_refused(tmp_path, store, stranger_key, allowed_signers, checkout):
    stored(tmp_path, store, stranger_key)
    with pytest.raises(HarnessError, match="not validly signed.*not listed in .*allowed_signers"):
        gate.require_staging_certificate(store)


@pytest.mark.parametrize("changes, refusal", [
    ({"selection": "partial"}, "is partial .*without paths or -k"),
    ({"dirty": True}, "made from a dirty tree .*commit them"),
    ({"dirty": True, "selection": "partial"}, "made from a dirty tree"),  # the promotion flow relies on this order
    ({"commit": "def456"}, "is for commit def456, not abc123"),
    ({"content_digest": "sha256:" + "e" * 64}, "for deployed content sha256:e+, this checkout's .* are sha256:d+"),
    ({"certified": False}, "is not a certified staging certificate"),
    ({"environment": "sandbox"}, "is not a certified staging certificate"),
], ids=["partial", "dirty-tree", "dirty-and-partial", "other-commit", "other-digest", "not-certified", "not-staging"])
def test_each_failed_condition_has_its_own_message(tmp_path, store, operator_key, allowed_signers, checkout,
                                                   changes, refusal):
    stored(tmp_path, store, operator_key, **changes)
    with pytest.raises(HarnessError, match=refusal) as refused:
        gate.require_staging_certificate(store)
    assert str(refused.value).startswith("production apply refused: ")
    assert "pytest -m staging" in str(refused.value)


def test_revoked_certificate_refused_until_staging_is_certified_again(tmp_path, store, operator_key,
                                                                      allowed_signers, checkout):
    stored(tmp_path, store, operator_key)
    assert revoke(store, "staging", COMMIT, "it0000failed", "2 of 40 checks failed or errored")
    with pytest.raises(HarnessError, match="was revoked by the failed staging run it0000failed"):
        gate.require_staging_certificate(store)
    stored(tmp_path, store, operator_key, run_id="it0000again")  # a later green run: a new certificate
    assert gate.require_staging_certificate(store)["run_id"] == "it0000again"


def test_dirty_checkout_refused(tmp_path, store, operator_key, allowed_signers, monkeypatch):
    stored(tmp_path, store, operator_key)
    monkeypatch.setattr(gate, "git_commit", lambda: (COMMIT, True))
    with pytest.raises(HarnessError, match="clean tree"):
        gate.require_staging_certificate(store)


@pytest.fixture()
def state_bucket(tmp_path, moto_api, monkeypatch, request):
    """terraform/staging.backend.hcl and production.backend.hcl naming a fresh bucket on the moto server."""
    for name, value in moto_api.env.items():
        monkeypatch.setenv(name, value)
    bucket = f"state-{request.node.name.replace('_', '-')[:40]}".lower()
    moto_api.client("s3").create_bucket(Bucket=bucket)
    terraform = tmp_path / "terraform"
    terraform.mkdir()
    for environment in ("staging", "production"):
        (terraform / f"{environment}.backend.hcl").write_text(
            f'bucket = "{bucket}"\nkey = "{environment}/terraform.tfstate"\nregion = "{moto_api.region}"\n'
            f'endpoints = {{ s3 = "{moto_api.endpoint_url}" }}\nuse_path_style = true\n')
    return terraform, bucket


def _options(terraform: Path, environment: str, **changes: Any) -> RunOptions:
    (terraform / f"{environment}.tfvars").write_text("")
    values = dict(environment=environment, policy=environment, keep=False, reuse=None, aws_endpoint=None,
                  terraform_dir=terraform, tfvars=terraform / f"{environment}.tfvars", runs_dir=terraform / "runs",
                  reports_dir=terraform / "reports", allow_production_apply=False)
    return RunOptions(**{**values, **changes})


def test_staging_publishes_to_the_state_bucket_and_the_production_preflight_reads_it(
        tmp_path, state_bucket, moto_api, operator_key, allowed_signers, checkout):
    terraform, bucket = state_bucket
    staging = _options(terraform, "staging", signing_key=operator_key.path, operator_key=operator_key.path)
    production = _options(terraform, "production", allow_production_apply=True, signing_key=operator_key.path,
                          operator_key=operator_key.path)
    with pytest.raises(HarnessError, match=f"s3://{bucket}/certificates/staging/abc123.json does not exist"):
        preflight(production)
    certificate = tmp_path / "certificate-staging.json"
    certificate.write_text(json.dumps(staging_document(), indent=2) + "\n")
    stored_at = sign_and_store(staging, certificate, [certificate], COMMIT)
    assert f"s3://{bucket}/certificates/staging/abc123.json" in stored_at
    listed = moto_api.client("s3").list_objects_v2(Bucket=bucket, Prefix="certificates/")["Contents"]
    assert sorted(o["Key"] for o in listed) == ["certificates/staging/abc123.json",
                                                "certificates/staging/abc123.json.sig"]
    preflight(production)  # the gate opens: signed, complete, clean, same commit and content
    assert revoke_staging(staging, COMMIT, "it0000failed", "a check failed") == [
        str(terraform / "reports/certificates/staging/abc123.revoked.json"),
        f"s3://{bucket}/certificates/staging/abc123.revoked.json"]
    with pytest.raises(HarnessError, match="revoked by the failed staging run it0000failed"):
        preflight(production)
    with pytest.raises(HarnessError, match="is the sandbox's own signing key"):
        preflight(_options(terraform, "production", signing_key=sandbox_signing_key().path,
                           operator_key=operator_key.path))
