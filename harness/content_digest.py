"""The digest of a set of files: sorted relative paths and their contents, the same on every machine.

One function (:func:`tree_digest`) gives both digests a certificate states:

* :func:`deployed_content_digest`: what was deployed (``terraform/``, ``nixos/``,
  ``spec.json``, ``flake.lock`` when present); the production gate compares it
  with the staging certificate's;
* the sandbox provisioner's configuration digest (``fixtures/sandbox/provisioner.py``),
  which stands in for the NixOS toplevel store path.

The files are those git would see (tracked, plus untracked files that are not
ignored), read from the working tree, so an uncommitted change changes the
digest and a build artefact (``.terraform/``, ``__pycache__``) does not. Outside
a git checkout every file under the paths counts.
"""
from __future__ import annotations

import hashlib
import subprocess
from pathlib import Path
from typing import Iterable

from harness.spec import REPO_ROOT

DEPLOYED_PATHS = ("terraform", "nixos", "spec.json", "flake.lock")  # flake.lock only counts when present


def listed_files(root: Path, paths: Iterable[str]) -> list[str]:
    """The files under ``paths`` (relative to ``root``) as sorted POSIX paths relative to ``root``."""
    paths = [p for p in paths if (root / p).exists()]
    if not paths:
        return []
    try:
        listed = subprocess.run(
            ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard", "--", *paths],
            cwd=root, capture_output=True, check=True).stdout.decode()
        names = {name for name in listed.split("\0") if name and (root / name).is_file()}
    except (OSError, subprocess.CalledProcessError):  # not a git checkout: every file counts
        names = set()
        for path in paths:
            target = root / path
            found = [target] if target.is_file() else [f for f in target.rglob("*") if f.is_file()]
            names.update(f.relative_to(root).as_posix() for f in found)
    return sorted(names)


def tree_digest(root: Path, paths: Iterable[str]) -> str:
    """``sha256:<hex>`` over each file's relative path and contents, in sorted path order."""
    digest = hashlib.sha256()
    for name in listed_files(root, paths):
        data = (root / name).read_bytes()
        digest.update(f"{name}\0{len(data)}\0".encode())
        digest.update(data)
    return f"sha256:{digest.hexdigest()}"


def deployed_content_digest(root: Path = REPO_ROOT) -> str:
    """The digest of what a run deploys: terraform/, nixos/, spec.json and the flake lock when present."""
    return tree_digest(root, DEPLOYED_PATHS)
