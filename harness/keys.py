"""SSH key pairs: the sandbox run's own, generated per run (never reused across runs); the
persistent environments' operator keys are harness/operator_key.py's."""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from harness.errors import HarnessError
from harness.secrets import SSH_PRIVATE_KEY, canary_value


@dataclass(frozen=True)
class KeyPair:
    private_key_path: Optional[Path]  # mode 0600 (a run's: inside the run directory); None: held by the ssh-agent
    public_openssh: str  # "ssh-ed25519 AAAA... comment"


def generate_keypair(directory: Path, comment: str) -> KeyPair:
    """Write a fresh ed25519 key pair into ``directory`` (id_ed25519, id_ed25519.pub).

    In the secret canary test the private bytes are the canary's (harness.secrets.canary_value).
    """
    directory.mkdir(parents=True, exist_ok=True)
    key = _canary_key() or ed25519.Ed25519PrivateKey.generate()
    private = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH, serialization.NoEncryption()
    )
    public = key.public_key().public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
    path = directory / "id_ed25519"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(private)
    public_line = f"{public.decode()} {comment}"
    (directory / "id_ed25519.pub").write_text(public_line + "\n")
    return KeyPair(path, public_line)


def _canary_key() -> ed25519.Ed25519PrivateKey | None:
    """The key whose 32 private bytes are the SSH canary, or None outside the secret canary test."""
    seed = canary_value(SSH_PRIVATE_KEY)
    if seed is None:
        return None
    if len(seed.encode()) != 32:
        raise HarnessError(f"the {SSH_PRIVATE_KEY} canary must be 32 bytes (an ed25519 private key), "
                           f"not {len(seed.encode())}")
    return ed25519.Ed25519PrivateKey.from_private_bytes(seed.encode())
