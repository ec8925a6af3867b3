"""``python -m harness verify FILE``: is FILE a certificate signed by an allowed signer, byte for byte?

Prints the verdict in one line and exits 0 only for a valid signature (``FILE.sig``
unless ``--signature`` names another) from a signer listed in the allowed-signers
file: ``certification/allowed_signers`` in the repository, for a certificate
that says it is the sandbox's, also the sandbox's own file (``.cache/sandbox-signing/``), and for one
made in the sandbox cloud (``"cloud": "sandbox"``), also that cloud's own file (``$HARNESS_CLOUD_DIR``
or ``clouds/sandbox``: ``signing/allowed_signers``).
``--allowed-signers PATH`` verifies against that file only.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Optional

from harness import signing
from harness.signing import sandbox_allowed_signers, verify_file

INVALID_EXIT = 1


def default_allowed_signers(certificate: Path) -> list[Path]:
    """The repository's allowed signers, plus the sandbox's own for a sandbox certificate, or the sandbox
    cloud's own for a certificate made there."""
    allowed = [signing.REPOSITORY_ALLOWED_SIGNERS]
    try:
        document = json.loads(certificate.read_bytes())
        if document.get("environment") == "sandbox":
            allowed.append(sandbox_allowed_signers())
        elif document.get("cloud") == "sandbox":
            from harness.sandbox.cloud import cloud_dir

            allowed.append(sandbox_allowed_signers(cloud_dir() / "signing"))
    except (OSError, ValueError, AttributeError):
        pass  # not a readable certificate: the signature check says why it fails
    return allowed


def main(argv: Optional[list[str]] = None) -> int:
    """Verify one certificate; 0 when valid, 1 when not."""
    parser = argparse.ArgumentParser(prog="python -m harness verify", description=__doc__.split("\n\n")[0])
    parser.add_argument("file", type=Path, help="the certificate (e.g. reports/certificate-staging.json)")
    parser.add_argument("--signature", type=Path, default=None, help="its signature (default: FILE.sig)")
    parser.add_argument("--allowed-signers", type=Path, default=None,
                        help="verify against this file only (default: certification/allowed_signers)")
    args = parser.parse_args(argv)
    allowed = [args.allowed_signers] if args.allowed_signers else default_allowed_signers(args.file)
    verdict = verify_file(args.file, args.signature, allowed)
    print(f"{'VALID' if verdict.valid else 'INVALID'}: {args.file}: {verdict.message}")
    return 0 if verdict.valid else INVALID_EXIT
