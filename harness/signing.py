"""Signing certificates with an SSH key and verifying them, the way git verifies signed commits.

``ssh-keygen -Y sign -n inventory-tracker-certificate`` signs a certificate file
(the signature goes beside it as ``<file>.sig``); ``ssh-keygen -Y verify``
checks it against an allowed-signers file: ``certification/allowed_signers``
in the repository lists the operators' and CI's keys.

Who signs:

* the sandbox signs with its own key, generated on first use with its own
  allowed-signers file, both outside git (``.cache/sandbox-signing/``), so
  nothing is set up by hand;
* staging and production sign with the key the operator or CI names
  (``--signing-key PATH`` or ``$INVENTORY_TRACKER_SIGNING_KEY``), which must be
  listed in ``certification/allowed_signers`` and is never the sandbox's key.
"""
from __future__ import annotations

import fcntl
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Optional

from harness.errors import HarnessError
from harness.spec import REPO_ROOT

NAMESPACE = "inventory-tracker-certificate"  # ssh-keygen -n: a signature for another purpose never verifies here
REPOSITORY_ALLOWED_SIGNERS = REPO_ROOT / "certification" / "allowed_signers"
SANDBOX_SIGNING_DIR = REPO_ROOT / ".cache" / "sandbox-signing"  # gitignored
SANDBOX_PRINCIPAL = "sandbox@inventory-tracker.invalid"
SIGNING_KEY_ENV = "INVENTORY_TRACKER_SIGNING_KEY"
SIGNATURE_SUFFIX = ".sig"
SSH_KEYGEN_TIMEOUT = 30.0  # seconds; signing with an agent that asks for confirmation must not hang a run


@dataclass(frozen=True)
class SigningKey:
    """A key that signs certificates: the private key (or its .pub when an ssh-agent holds it)."""

    path: Path
    public: str  # "ssh-ed25519 AAAA..." (type and key, no comment)


@dataclass(frozen=True)
class Verdict:
    """What ``ssh-keygen -Y verify`` said about one file and its signature."""

    valid: bool
    message: str  # one line: who signed it, or why it does not verify
    principal: Optional[str] = None  # the allowed signer that made the signature


def signature_path(path: Path) -> Path:
    """Where the signature of ``path`` is kept: ``<path>.sig``."""
    return path.with_name(path.name + SIGNATURE_SUFFIX)


def _ssh_keygen(*args: str, stdin: Optional[bytes] = None) -> subprocess.CompletedProcess[bytes]:
    try:
        return subprocess.run(["ssh-keygen", *args], input=stdin, capture_output=True, timeout=SSH_KEYGEN_TIMEOUT,
                              stdin=None if stdin is not None else subprocess.DEVNULL)
    except FileNotFoundError:
        raise HarnessError("ssh-keygen is not installed: install OpenSSH's client (Debian: openssh-client)") from None
    except subprocess.TimeoutExpired:
        raise HarnessError(f"ssh-keygen {args[0]} {args[1]} did not finish in {SSH_KEYGEN_TIMEOUT:.0f} s "
                           "(a passphrase or an agent confirmation?): use a key that signs unattended") from None


def _key_blob(public_line: str) -> str:
    """The key type and base64 blob of a public key line (its comment dropped)."""
    return " ".join(public_line.split()[:2])


def public_key_of(path: Path) -> str:
    """The public key of ``path``: the file itself when it is a .pub, else ``<path>.pub`` or ``ssh-keygen -y``."""
    pub = path if path.suffix == ".pub" else path.with_name(path.name + ".pub")
    if pub.is_file():
        return _key_blob(pub.read_text())
    if not path.is_file():
        raise HarnessError(f"the signing key {path} does not exist or cannot be read: name an SSH private key "
                           f"with --signing-key PATH or ${SIGNING_KEY_ENV}")
    result = _ssh_keygen("-y", "-f", str(path))
    if result.returncode != 0:
        raise HarnessError(f"cannot read the public key of the signing key {path}: "
                           f"{result.stderr.decode(errors='replace').strip()}")
    return _key_blob(result.stdout.decode())


def sandbox_signing_key(directory: Optional[Path] = None) -> SigningKey:
    """The sandbox's own signing key, and its allowed-signers file beside it, generated on first use.

    ``directory`` defaults to :data:`SANDBOX_SIGNING_DIR`. Safe when several processes
    (pytest-xdist workers) ask at once: one generates, under a lock.
    """
    directory = directory or SANDBOX_SIGNING_DIR
    directory.mkdir(parents=True, exist_ok=True)
    key = directory / "id_ed25519"
    with open(directory / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not key.exists():
            result = _ssh_keygen("-q", "-t", "ed25519", "-N", "", "-C", SANDBOX_PRINCIPAL, "-f", str(key))
            if result.returncode != 0:
                raise HarnessError(f"could not generate the sandbox signing key in {directory}: "
                                   f"{result.stderr.decode(errors='replace').strip()}")
        public = public_key_of(key)
        allowed = sandbox_allowed_signers(directory)
        line = f'{SANDBOX_PRINCIPAL} namespaces="{NAMESPACE}" {public}\n'
        if not allowed.exists() or allowed.read_text() != line:
            allowed.write_text(line)
    return SigningKey(key, public)


def sandbox_allowed_signers(directory: Optional[Path] = None) -> Path:
    """The sandbox's allowed-signers file (only its own key; never consulted for staging or production)."""
    return (directory or SANDBOX_SIGNING_DIR) / "allowed_signers"


def listed_keys(allowed_signers: Path) -> set[str]:
    """The public keys (type and blob) an allowed-signers file lists."""
    if not allowed_signers.is_file():
        return set()
    keys = set()
    for line in allowed_signers.read_text().splitlines():
        fields = line.split()
        for index, word in enumerate(fields[:-1]):
            if word.startswith(("ssh-", "ecdsa-", "sk-")):
                keys.add(f"{word} {fields[index + 1]}")
                break
    return keys


def operator_signing_key(environment: str, named: Optional[str]) -> SigningKey:
    """The key a staging or production run signs with, checked before anything is deployed.

    ``named`` is ``--signing-key`` (else ``$INVENTORY_TRACKER_SIGNING_KEY``). It must exist, be
    listed in :data:`REPOSITORY_ALLOWED_SIGNERS`, and not be the sandbox's key.
    """
    allowed_signers, sandbox_dir = REPOSITORY_ALLOWED_SIGNERS, SANDBOX_SIGNING_DIR
    named = named or os.environ.get(SIGNING_KEY_ENV)
    if not named:
        raise HarnessError(
            f"a {environment} certificate is signed with the operator's or CI's SSH key: pass --signing-key PATH "
            f"(or set ${SIGNING_KEY_ENV}) naming a key listed in {allowed_signers}")
    path = Path(named).expanduser().resolve()
    public = public_key_of(path)
    sandbox_public = sandbox_dir / "id_ed25519.pub"
    if path.parent == sandbox_dir.resolve() or (sandbox_public.is_file()
                                                and _key_blob(sandbox_public.read_text()) == public):
        raise HarnessError(
            f"{path} is the sandbox's own signing key: a {environment} certificate is never signed with it; "
            f"pass --signing-key with the operator's or CI's key listed in {allowed_signers}")
    if public not in listed_keys(allowed_signers):
        raise HarnessError(
            f"the signing key {path} is not listed in {allowed_signers}, so its certificates would not verify: "
            f"add the line `<you@example.org> namespaces=\"{NAMESPACE}\" {public}` there and commit it")
    return SigningKey(path, public)


def sign_file(path: Path, key: SigningKey) -> Path:
    """Sign ``path`` with ``key`` in the project's namespace; returns the signature's path (``<path>.sig``)."""
    signature = signature_path(path)
    signature.unlink(missing_ok=True)  # ssh-keygen asks before overwriting
    result = _ssh_keygen("-Y", "sign", "-q", "-n", NAMESPACE, "-f", str(key.path), str(path))
    if result.returncode != 0 or not signature.is_file():
        raise HarnessError(f"could not sign {path} with {key.path}: {result.stderr.decode(errors='replace').strip()}")
    return signature


def _principals(signature: Path, allowed_signers: Path) -> list[str]:
    result = _ssh_keygen("-Y", "find-principals", "-s", str(signature), "-f", str(allowed_signers))
    return result.stdout.decode().split() if result.returncode == 0 else []


def verify_file(path: Path, signature: Optional[Path], allowed: Iterable[Path]) -> Verdict:
    """Whether ``signature`` is a valid signature over exactly ``path`` by a signer listed in ``allowed``."""
    signature = signature or signature_path(path)
    if not path.is_file():
        return Verdict(False, f"{path} does not exist")
    if not signature.is_file():
        return Verdict(False, f"{path} is not signed: no signature at {signature}")
    files = [f for f in allowed if f.is_file()]
    if not files:
        return Verdict(False, "no allowed-signers file to verify against "
                              f"(list the operators' and CI's keys in {REPOSITORY_ALLOWED_SIGNERS})")
    data = path.read_bytes()
    reasons = []
    for allowed_signers in files:
        principals = _principals(signature, allowed_signers)
        if not principals:
            reasons.append(f"its key is not listed in {allowed_signers}")
            continue
        for principal in principals:
            result = _ssh_keygen("-Y", "verify", "-f", str(allowed_signers), "-I", principal, "-n", NAMESPACE,
                                 "-s", str(signature), stdin=data)
            if result.returncode == 0:
                return Verdict(True, f"good signature by {principal} (listed in {allowed_signers})", principal)
            said = (result.stderr or result.stdout).decode(errors="replace").strip().splitlines()
            reasons.append(f"{principal} in {allowed_signers}: {said[-1] if said else 'does not verify'}")
    return Verdict(False, "signature does not verify: " + "; ".join(reasons))
