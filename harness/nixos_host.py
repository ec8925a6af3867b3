"""Configuring a NixOS host (staging, production): ``nixos-rebuild switch``, then its secrets.

The secrets env file is kept out of the Nix store: after the switch (when the
service user exists) it is written over SSH (mode 0600, owned by the service
user) and the units that read it are restarted. The role's password reaches
PostgreSQL only as a SCRAM verifier.
"""
from __future__ import annotations

import shlex
from pathlib import Path
from typing import Any, Mapping

from harness.nix import nixos_switch
from harness.secrets import DATABASE_PASSWORD, Secret, database_password_on_host, kept_secret_key_base, read_env_file


def nixos_secrets_file(spec: Mapping[str, Any], existing: Mapping[str, str], password: str) -> str:
    """The secrets env file the NixOS modules read.

    SECRET_KEY_BASE is kept from an existing file so that sessions survive a redeploy.
    """
    from fixtures.sandbox.render import database_url
    from fixtures.sandbox.scram import scram_sha256_verifier

    key_base = kept_secret_key_base(existing)
    values = {
        "DATABASE_URL": database_url(spec, password),
        "DATABASE_PASSWORD_SCRAM": scram_sha256_verifier(password),
        "SECRET_KEY_BASE": key_base,
    }
    return "".join(f"{key}='{value}'\n" for key, value in values.items())


def deliver_nixos_secrets(ssh: Any, spec: Mapping[str, Any]) -> Secret:
    """Write the app's secrets file after the switch (its user exists then) and restart what reads it."""
    path, user, app = spec["app"]["env_file"], spec["app"]["user"], spec["app"]["name"]
    existing = read_env_file(ssh, path) or {}
    password = database_password_on_host(ssh, spec) or Secret.generate(DATABASE_PASSWORD)
    if existing.get("DATABASE_URL") and existing.get("DATABASE_PASSWORD_SCRAM") and existing.get("SECRET_KEY_BASE"):
        return password  # a verifier has a random salt: rewriting an existing file would only churn
    text = nixos_secrets_file(spec, existing, password.reveal())
    ssh.put_file(path, text.encode(), mode=0o600, owner=user, group=user)
    ssh.sudo(f"systemctl restart {shlex.quote(app + '-db-password.service')} {shlex.quote(app + '.service')}")
    return password


def switch_and_deliver(flake_dir: Path, address: str, user: str, key_path: Path, ssh: Any,
                       spec: Mapping[str, Any]) -> tuple[str, Secret]:
    """Switch the host to the flake's configuration, then deliver its secrets; return (switch output, password)."""
    output = nixos_switch(flake_dir, address, user, ssh_key=key_path)
    return output, deliver_nixos_secrets(ssh, spec)
