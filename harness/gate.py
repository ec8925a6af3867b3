"""The production apply gate: a staging certificate for the same, clean commit."""
from __future__ import annotations

import json
from pathlib import Path

from harness.certificate import git_commit
from harness.errors import HarnessError


def require_staging_certificate(reports_dir: Path) -> None:
    """Raise unless reports/certificate-staging.json certifies the checked-out, clean commit."""
    path = reports_dir / "certificate-staging.json"
    if not path.exists():
        raise HarnessError(f"applying to production needs a staging certificate ({path}); run `pytest -m staging` first")
    document = json.loads(path.read_text())
    commit, dirty = git_commit()
    if dirty:
        raise HarnessError("applying to production needs a clean tree; commit or stash your changes")
    if not document.get("certified") or document.get("commit") != commit:
        raise HarnessError(
            f"the staging certificate is for commit {document.get('commit')}, not {commit}; certify staging for this commit first"
        )
