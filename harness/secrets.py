"""Secrets: a value that never shows itself, and the application's secrets env file on the host.

The env file (systemd ``EnvironmentFile=`` syntax) is written by the sandbox
provisioner or, on staging/production, after the NixOS switch
(harness/nixos_host.py). The harness reads it over SSH with sudo to learn the
database password for its own checks; every value read is registered as a
secret, so it is masked wherever it could appear.

The one test-only seam of the harness is here: :func:`canary_value`. When the
environment variable ``HARNESS_SECRET_CANARIES`` names a JSON file, every
generator of a secret the harness makes (the database password, SECRET_KEY_BASE,
the emulator's AWS secret key, the run's SSH private key) takes its value from
that file instead of a random one, so that the secret canary test
(tests/canary/) can look for those values in everything a run wrote. Nothing else
changes; unset (always, outside that test) it has no effect.
"""
from __future__ import annotations

import json
import os
import secrets as _random
from pathlib import Path
from typing import Any, Mapping, Optional
from urllib.parse import unquote, urlsplit

from harness.errors import HarnessError
from harness.redaction import register_secret

CANARY_FILE_ENV = "HARNESS_SECRET_CANARIES"
# The secrets a canary file gives values for (see canary_value).
DATABASE_PASSWORD = "database_password"
SECRET_KEY_BASE = "secret_key_base"
AWS_SECRET_ACCESS_KEY = "aws_secret_access_key"
SSH_PRIVATE_KEY = "ssh_private_key"  # the 32 private bytes (ed25519 seed) of the run's key pair, as ASCII text
CANARY_NAMES = (DATABASE_PASSWORD, SECRET_KEY_BASE, AWS_SECRET_ACCESS_KEY, SSH_PRIVATE_KEY)


def canary_value(name: str) -> Optional[str]:
    """TEST-ONLY seam: the canary value for secret ``name`` from the file ``HARNESS_SECRET_CANARIES`` names.

    None when the variable is unset (every run but the secret canary test's) or the
    file has no value for ``name``: the caller then makes its usual random value.
    """
    path = os.environ.get(CANARY_FILE_ENV)
    if not path:
        return None
    try:
        values = json.loads(Path(path).read_text())
    except (OSError, ValueError) as exc:
        raise HarnessError(f"{CANARY_FILE_ENV}={path}: cannot read the canary file ({exc}); "
                           "unset the variable outside the secret canary test") from None
    value = values.get(name) if isinstance(values, dict) else None
    return str(value) if value else None


def new_secret_value(name: str, nbytes: int = 24) -> str:
    """A fresh random secret (URL-safe text) for ``name``; its canary value in the secret canary test."""
    return canary_value(name) or _random.token_urlsafe(nbytes)


class Secret:
    """A secret value whose repr and str never show it; ``reveal()`` when it must be used."""

    __slots__ = ("_value",)

    def __init__(self, value: str):
        register_secret(value)
        self._value = value

    @classmethod
    def generate(cls, name: str, nbytes: int = 24) -> "Secret":
        """A new random secret (URL-safe text) for ``name`` (one of CANARY_NAMES): see :func:`new_secret_value`."""
        return cls(new_secret_value(name, nbytes))

    def reveal(self) -> str:
        """The value itself, for the one place that must use it."""
        return self._value

    def __repr__(self) -> str:
        return "Secret('***')"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and _random.compare_digest(self._value, other._value)

    def __hash__(self) -> int:
        return hash(self._value)


def parse_env_file(text: str) -> dict[str, str]:
    """Parse ``KEY=value`` lines (comments, blank lines and ``export`` skipped; simple quotes removed)."""
    values: dict[str, str] = {}
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")) or "=" not in line:
            continue
        if line.startswith("export "):
            line = line[len("export "):].lstrip()
        key, _, value = line.partition("=")
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        values[key.strip()] = value
    return values


def kept_secret_key_base(existing: Mapping[str, str]) -> str:
    """SECRET_KEY_BASE from the host's existing env file (sessions survive a redeploy), else a new one.

    The value is registered as a secret either way.
    """
    value = existing.get("SECRET_KEY_BASE") or new_secret_value(SECRET_KEY_BASE, 48)
    register_secret(value)
    return value


def password_from_database_url(url: str) -> Optional[str]:
    """The password inside a ``postgresql://user:password@host/db`` URL, or None."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    return unquote(parts.password) if parts.password else None


def read_env_file(ssh: Any, path: str) -> Optional[dict[str, str]]:
    """The env file's values, read as root through testinfra on ``ssh``'s connection (None when it does
    not exist); every value is registered as a secret."""
    host = ssh.host
    with host.sudo():
        env_file = host.file(path)
        text = env_file.content_string if env_file.exists else None
    if text is None:
        return None
    values = parse_env_file(text)
    for value in values.values():
        register_secret(value)
        password = password_from_database_url(value)
        if password:
            register_secret(password)
    return values


def database_password_on_host(ssh: Any, spec: Mapping[str, Any]) -> Optional[Secret]:
    """The app role's password from DATABASE_URL in the host's secrets env file, or None."""
    values = read_env_file(ssh, spec["app"]["env_file"])
    if not values or "DATABASE_URL" not in values:
        return None
    password = password_from_database_url(values["DATABASE_URL"])
    return Secret(password) if password else None
