"""The operator key of a persistent environment: one key per environment, never one per run.

Staging and production boot with the operators' public key (Terraform's ``aws_key_pair.deploy``),
so that a plan of an environment that is up shows no change to it, and the harness connects with
the matching private key. On AWS the key is named with ``--operator-key PATH`` (or
``$INVENTORY_TRACKER_OPERATOR_KEY``): a private key (its public half beside it as ``.pub``, or
derived), or a ``.pub`` whose private half is beside it or in the ssh-agent. Without either, the
first key of the ssh-agent is used. The long-lived sandbox cloud has its own generated key.
"""
from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Optional

from harness.errors import HarnessError
from harness.keys import KeyPair

OPERATOR_KEY_ENV = "INVENTORY_TRACKER_OPERATOR_KEY"
HOW = ("pass --operator-key ~/.ssh/id_ed25519 (or .pub, its private half in the ssh-agent), "
       f"set ${OPERATOR_KEY_ENV}, or load the key into the ssh-agent (ssh-add)")
KEY_TYPES = ("ssh-ed25519", "ssh-rsa", "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384", "ecdsa-sha2-nistp521")


def _public_line(text: str, where: str) -> str:
    line = text.strip().splitlines()[0] if text.strip() else ""
    if not line.startswith(KEY_TYPES):
        raise HarnessError(f"{where} is not an OpenSSH public key (ssh-ed25519, ssh-rsa or ecdsa-sha2-*); {HOW}")
    return line


def _read(path: Path, environment: str) -> str:
    try:
        return path.read_text()
    except OSError as exc:
        raise HarnessError(f"the {environment} operator key {path} cannot be read ({exc.strerror}); {HOW}") from None


def _from_path(path: Path, environment: str) -> KeyPair:
    if path.suffix == ".pub":
        public = _public_line(_read(path, environment), str(path))
        private = path.with_suffix("")
        return KeyPair(private if private.is_file() else None, public)  # None: the private half is in the agent
    _read(path, environment)  # exists and is readable
    public_file = path.with_name(path.name + ".pub")
    if public_file.is_file():
        return KeyPair(path, _public_line(_read(public_file, environment), str(public_file)))
    result = subprocess.run(["ssh-keygen", "-y", "-f", str(path)], capture_output=True, text=True,
                            stdin=subprocess.DEVNULL, timeout=30)
    if result.returncode != 0:
        raise HarnessError(f"the {environment} operator key {path} is not a usable private key "
                           f"({result.stderr.strip() or 'ssh-keygen -y failed'}); {HOW}")
    return KeyPair(path, _public_line(result.stdout, str(path)))


def _from_agent(environment: str) -> Optional[KeyPair]:
    if not os.environ.get("SSH_AUTH_SOCK"):
        return None
    result = subprocess.run(["ssh-add", "-L"], capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=30)
    lines = [line for line in result.stdout.splitlines() if line.startswith(KEY_TYPES)]
    return KeyPair(None, lines[0]) if result.returncode == 0 and lines else None


def operator_keypair(environment: str, named: Optional[Path]) -> KeyPair:
    """The operator key of ``environment`` on AWS; a HarnessError naming the fix before anything is created."""
    chosen = named or (Path(os.environ[OPERATOR_KEY_ENV]) if os.environ.get(OPERATOR_KEY_ENV) else None)
    if chosen is not None:
        return _from_path(Path(chosen).expanduser(), environment)
    from_agent = _from_agent(environment)
    if from_agent is None:
        raise HarnessError(f"{environment} needs its operator key (one key for the environment, not one per run): "
                           f"{HOW}")
    return from_agent
