"""The one test-only seam (harness.secrets.canary_value): every secret generator honours a canary file."""
from __future__ import annotations

import re
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization

from canary_scan import new_canaries, write_canaries
from harness.aws import sandbox_credentials
from harness.errors import HarnessError
from harness.keys import generate_keypair
from harness.secrets import (AWS_SECRET_ACCESS_KEY, CANARY_FILE_ENV, CANARY_NAMES, DATABASE_PASSWORD,
                             SECRET_KEY_BASE, SSH_PRIVATE_KEY, Secret, kept_secret_key_base)
from harness.spec import REPO_ROOT


@pytest.fixture
def canaries(tmp_path, monkeypatch) -> dict[str, str]:
    values = new_canaries()
    monkeypatch.setenv(CANARY_FILE_ENV, str(write_canaries(values, tmp_path / "canaries.json")))
    return values


def test_generators_take_the_canaries(canaries, tmp_path):
    assert Secret.generate(DATABASE_PASSWORD).reveal() == canaries[DATABASE_PASSWORD]
    assert kept_secret_key_base({}) == canaries[SECRET_KEY_BASE]
    assert kept_secret_key_base({"SECRET_KEY_BASE": "kept-from-the-host"}) == "kept-from-the-host"
    assert sandbox_credentials()["AWS_SECRET_ACCESS_KEY"] == canaries[AWS_SECRET_ACCESS_KEY]
    pair = generate_keypair(tmp_path / "keys", comment="canary")
    key = serialization.load_ssh_private_key(pair.private_key_path.read_bytes(), password=None)
    raw = key.private_bytes(serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption())
    assert raw == canaries[SSH_PRIVATE_KEY].encode()
    assert pair.private_key_path.stat().st_mode & 0o777 == 0o600


def test_without_the_variable_every_secret_is_random(monkeypatch, tmp_path):
    monkeypatch.delenv(CANARY_FILE_ENV, raising=False)
    assert Secret.generate(DATABASE_PASSWORD) != Secret.generate(DATABASE_PASSWORD)
    assert kept_secret_key_base({}) != kept_secret_key_base({})
    assert sandbox_credentials()["AWS_SECRET_ACCESS_KEY"] == "testing"
    first = generate_keypair(tmp_path / "a", comment="a").public_openssh.split()[1]
    assert first != generate_keypair(tmp_path / "b", comment="b").public_openssh.split()[1]


def test_an_unreadable_canary_file_is_a_harness_error(monkeypatch, tmp_path):
    monkeypatch.setenv(CANARY_FILE_ENV, str(tmp_path / "missing.json"))
    with pytest.raises(HarnessError, match="cannot read the canary file"):
        Secret.generate(DATABASE_PASSWORD)


def test_the_emulator_endpoint_never_shows_its_credentials(canaries):
    """repr(AwsEndpoint) (a Deployment's repr, pytest's -l locals) leaves out the environment given to terraform."""
    from harness.aws import endpoint_for

    endpoint = endpoint_for("http://127.0.0.1:5000")
    assert endpoint.env["AWS_SECRET_ACCESS_KEY"] == canaries[AWS_SECRET_ACCESS_KEY]
    assert canaries[AWS_SECRET_ACCESS_KEY] not in repr(endpoint)


def sensitive_variables(folder: Path) -> set[str]:
    """Names of the Terraform variables in ``folder`` declared with ``sensitive = true``."""
    found = set()
    for path in folder.glob("*.tf"):
        for name, body in re.findall(r'(?ms)^variable\s+"([^"]+)"\s*\{(.*?)^\}', path.read_text()):
            if re.search(r"(?m)^\s*sensitive\s*=\s*true\b", body):
                found.add(name)
    return found


def test_every_sensitive_terraform_variable_has_a_canary():
    """A variable marked sensitive is a secret the canary test must cover (none today)."""
    missing = sensitive_variables(REPO_ROOT / "terraform") - set(CANARY_NAMES)
    assert not missing, (f"terraform variables marked sensitive have no canary: {sorted(missing)}; add each to "
                         "harness.secrets.CANARY_NAMES and take its value from canary_value() where the harness "
                         "sets it, so that tests/sandbox/test_secret_canary.py looks for it")


def test_sensitive_variables_are_found(tmp_path):
    (tmp_path / "variables.tf").write_text('variable "db_password" {\n  type      = string\n  sensitive = true\n}\n'
                                           'variable "region" {\n  type = string\n}\n')
    assert sensitive_variables(tmp_path) == {"db_password"}
