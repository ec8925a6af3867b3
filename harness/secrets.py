"""Secrets: a value that never shows itself, and the application's secrets env file on the host.

The env file (systemd ``EnvironmentFile=`` syntax) is written by the sandbox
provisioner or, on staging/production, after the NixOS switch
(harness/nixos_host.py). The harness reads it over SSH with sudo to learn the
database password for its own checks; every value read is registered as a
secret, so it is masked wherever it could appear.
"""
from __future__ import annotations

import secrets as _random
from typing import Any, Mapping, Optional
from urllib.parse import unquote, urlsplit

from harness.redaction import register_secret


class Secret:
    """A secret value whose repr and str never show it; ``reveal()`` when it must be used."""

    __slots__ = ("_value",)

    def __init__(self, value: str):
        register_secret(value)
        self._value = value

    @classmethod
    def generate(cls, nbytes: int = 24) -> "Secret":
        """A new random secret (URL-safe text)."""
        return cls(_random.token_urlsafe(nbytes))

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
