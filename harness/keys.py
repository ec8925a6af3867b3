"""The run's own SSH key pair, generated per run (never reused across runs)."""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519


@dataclass(frozen=True)
class KeyPair:
    private_key_path: Path  # mode 0600, inside the run directory
    public_openssh: str  # "ssh-ed25519 AAAA... comment"


def generate_keypair(directory: Path, comment: str) -> KeyPair:
    """Write a fresh ed25519 key pair into ``directory`` (id_ed25519, id_ed25519.pub)."""
    directory.mkdir(parents=True, exist_ok=True)
    key = ed25519.Ed25519PrivateKey.generate()
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
