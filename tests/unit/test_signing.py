"""Signing certificates with ssh-keygen and verifying them (`python -m harness verify`), with real keys."""
from __future__ import annotations

import json
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import pytest

from harness import signing, verify
from harness.errors import HarnessError
from harness.signing import SigningKey, operator_signing_key, sandbox_signing_key, sign_file, verify_file


def certificate(tmp_path, environment="staging"):
    path = tmp_path / f"certificate-{environment}.json"
    path.write_text(json.dumps({"environment": environment, "certified": True, "commit": "abc123"}) + "\n")
    return path


def test_verify_accepts_exactly_the_signed_file(tmp_path, operator_key, allowed_signers, capsys):
    path = certificate(tmp_path)
    sign_file(path, SigningKey(operator_key.path, operator_key.public))
    assert verify.main([str(path)]) == 0
    assert capsys.readouterr().out.startswith(f"VALID: {path}: good signature by ops@example.org")
    path.write_text(path.read_text().replace("abc123", "abc124"))
    assert verify.main([str(path)]) == verify.INVALID_EXIT
    assert "INVALID" in capsys.readouterr().out


def test_verify_rejects_a_signer_not_listed_and_a_missing_signature(tmp_path, stranger_key, allowed_signers, capsys):
    path = certificate(tmp_path)
    assert verify.main([str(path)]) == verify.INVALID_EXIT
    assert "is not signed" in capsys.readouterr().out
    sign_file(path, SigningKey(stranger_key.path, stranger_key.public))
    assert verify.main([str(path)]) == verify.INVALID_EXIT
    assert "not listed in" in capsys.readouterr().out


def test_a_signature_for_another_namespace_does_not_verify(tmp_path, operator_key, allowed_signers):
    path = certificate(tmp_path)
    subprocess.run(["ssh-keygen", "-Y", "sign", "-q", "-n", "git", "-f", str(operator_key.path), str(path)],
                   check=True)
    assert not verify_file(path, None, [allowed_signers]).valid


def test_the_sandbox_key_is_generated_once_and_verifies_only_sandbox_certificates(tmp_path, allowed_signers,
                                                                                  capsys):
    with ThreadPoolExecutor(4) as pool:  # parallel first use: one key
        keys = list(pool.map(lambda _: sandbox_signing_key(), range(4)))
    assert len({k.public for k in keys}) == 1
    assert keys[0].public in signing.listed_keys(signing.sandbox_allowed_signers())
    assert keys[0].public not in signing.listed_keys(allowed_signers)
    sandbox = certificate(tmp_path, "sandbox")
    sign_file(sandbox, keys[0])
    assert verify.main([str(sandbox)]) == 0
    staging = certificate(tmp_path, "staging")  # a staging certificate signed by the sandbox is not trusted
    sign_file(staging, keys[0])
    assert verify.main([str(staging)]) == verify.INVALID_EXIT
    capsys.readouterr()


def test_real_environments_name_an_allowed_key_that_is_not_the_sandboxs(tmp_path, operator_key, stranger_key,
                                                                         allowed_signers, monkeypatch):
    monkeypatch.delenv(signing.SIGNING_KEY_ENV, raising=False)
    with pytest.raises(HarnessError, match="pass --signing-key PATH"):
        operator_signing_key("staging", None)
    with pytest.raises(HarnessError, match="does not exist"):
        operator_signing_key("staging", str(tmp_path / "nope"))
    with pytest.raises(HarnessError, match="not listed in .*allowed_signers, .*add the line"):
        operator_signing_key("staging", str(stranger_key.path))
    sandbox = sandbox_signing_key()
    allowed_signers.write_text(allowed_signers.read_text() + f"sandbox {sandbox.public}\n")  # even when listed
    with pytest.raises(HarnessError, match="is the sandbox's own signing key: a production certificate is never"):
        operator_signing_key("production", str(sandbox.path))
    monkeypatch.setenv(signing.SIGNING_KEY_ENV, str(operator_key.path))
    assert operator_signing_key("staging", None).public == operator_key.public


def test_python_m_harness_verify_exit_status(tmp_path):
    path = certificate(tmp_path)
    result = subprocess.run([sys.executable, "-m", "harness", "verify", str(path)], capture_output=True, text=True)
    assert result.returncode == 1 and result.stdout.startswith("INVALID") and "is not signed" in result.stdout
