"""Broken copies of terraform/ for fault tests: copy the configuration, then edit the copy (never terraform/)."""
from __future__ import annotations

import re
import shutil
from pathlib import Path

from harness.spec import REPO_ROOT


def copy_terraform(destination: Path) -> Path:
    """A copy of terraform/ at ``destination`` without state or provider caches; returns it."""
    shutil.copytree(REPO_ROOT / "terraform", destination, ignore=shutil.ignore_patterns(".terraform*", "*.tfstate*"))
    return destination


def edit(path: Path, old: str, new: str) -> None:
    """Replace the first ``old`` in ``path`` with ``new``; fails when the file no longer holds ``old``."""
    text = path.read_text()
    assert old in text, f"{path.name} no longer contains {old!r}; update the fault"
    path.write_text(text.replace(old, new, 1))


def unencrypted_root_volume(tf: Path) -> None:
    """The instance's root volume not encrypted (main.tf)."""
    text = (tf / "main.tf").read_text()
    changed, count = re.subn(r"encrypted(\s+)= true", r"encrypted\1= false", text, count=1)
    assert count == 1, "main.tf no longer encrypts the root volume with `encrypted = true`; update the fault"
    (tf / "main.tf").write_text(changed)
