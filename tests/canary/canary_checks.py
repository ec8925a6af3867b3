"""Checks that fail ON PURPOSE, with secrets in reach, for the secret canary test only.

Given on the command line of the canary run (tests/sandbox/test_secret_canary.py),
never collected by ``make test`` or a certification (the file name has no
``test_`` prefix). Each fails the way a real check or the harness could fail
with a secret at hand; what they print, log and report is then scanned for the
run's canary values. The last one passes: it shows the run's secrets are the canaries.
"""
from __future__ import annotations

import secrets
import shlex
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization

from fixtures.sandbox import render
from fixtures.sandbox.provisioner import Provisioner
from harness.secrets import (AWS_SECRET_ACCESS_KEY, CANARY_NAMES, DATABASE_PASSWORD, SECRET_KEY_BASE,
                             SSH_PRIVATE_KEY, Secret, canary_value, read_env_file)

pytestmark = pytest.mark.sandbox


def test_canary_assert_on_the_database_password(deployment: Any) -> None:
    """A comparison of the database password (a Secret) with another value fails."""
    assert deployment.db.password == Secret(secrets.token_urlsafe(24)), "the database password is not the expected one"


def test_canary_assert_on_the_env_file(deployment: Any) -> None:
    """A comparison of the secrets env file's values (DATABASE_URL, SECRET_KEY_BASE) with nothing fails."""
    values = read_env_file(deployment.ssh, deployment.spec["app"]["env_file"])
    assert values == {}, f"the env file should be empty, it has {sorted(values or {})}"


def test_canary_harness_error_while_the_secrets_file_is_written(deployment: Any) -> None:
    """The provisioner writes the secrets env file where it cannot: a HarnessError with the file at hand."""
    spec, user = deployment.spec, deployment.spec["app"]["user"]
    env = read_env_file(deployment.ssh, spec["app"]["env_file"]) or {}
    provisioner = Provisioner(deployment.ssh, spec, deployment.db.password.reveal())
    text = render.env_file(spec, deployment.db.password.reveal(), env.get("SECRET_KEY_BASE", ""))
    provisioner.put("/nonexistent-canary-folder/env", text.encode(), mode=0o600, owner=user, group=user,
                    label="secrets env file")


def test_canary_failing_remote_command_shows_the_env_file(deployment: Any) -> None:
    """A remote command that prints the env file, then fails (a HarnessError with its output)."""
    path = shlex.quote(deployment.spec["app"]["env_file"])
    deployment.ssh.sudo(f"cat {path}; exit 3")


def test_canary_failed_command_in_an_assertion(deployment: Any) -> None:
    """A check quotes a failed command's output (the env file) in its assertion."""
    path = shlex.quote(deployment.spec["app"]["env_file"])
    with deployment.host.sudo():
        result = deployment.host.run(f"cat {path}; exit 3")
    assert result.rc == 0, f"reading {path} failed: {result.stdout}"



def test_canary_secrets_are_in_use(deployment: Any) -> None:
    """Passes: every secret of the run is its canary (else a clean scan would prove nothing)."""
    env = read_env_file(deployment.ssh, deployment.spec["app"]["env_file"]) or {}
    key = serialization.load_ssh_private_key(deployment.run.keypair.private_key_path.read_bytes(), password=None)
    private_bytes = key.private_bytes(serialization.Encoding.Raw, serialization.PrivateFormat.Raw,
                                      serialization.NoEncryption())
    in_use = {
        DATABASE_PASSWORD: deployment.db.password.reveal(),
        SECRET_KEY_BASE: env.get("SECRET_KEY_BASE", ""),
        AWS_SECRET_ACCESS_KEY: deployment.aws.session.get_credentials().secret_key,
        SSH_PRIVATE_KEY: private_bytes.decode(errors="replace"),
    }
    not_canaries = [name for name in CANARY_NAMES
                    if not secrets.compare_digest(in_use[name].encode(), (canary_value(name) or "").encode())]
    assert not not_canaries, f"these secrets are not their canary values: {not_canaries}"
