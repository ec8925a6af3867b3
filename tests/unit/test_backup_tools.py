"""The host's backup tools (nixos/backup/), shared by the NixOS module and the sandbox provisioner."""
from __future__ import annotations

import shutil
import subprocess

import pytest

from harness.spec import REPO_ROOT

TOOLS = REPO_ROOT / "nixos" / "backup"


@pytest.mark.skipif(shutil.which("shellcheck") is None, reason="shellcheck is not installed (`make setup`)")
def test_backup_script_passes_shellcheck():
    result = subprocess.run(["shellcheck", str(TOOLS / "inventory-tracker-backup.sh")], capture_output=True,
                            text=True)
    assert result.returncode == 0, result.stdout


def test_backup_script_usage_and_missing_settings(tmp_path):
    usage = subprocess.run(["bash", str(TOOLS / "inventory-tracker-backup.sh"), "--help"], capture_output=True,
                           text=True)
    assert usage.returncode == 0 and "wal-archive PATH" in usage.stdout
    missing = subprocess.run(["bash", str(TOOLS / "inventory-tracker-backup.sh"), "list"], capture_output=True,
                             text=True, env={"INVENTORY_TRACKER_BACKUP_ENV": str(tmp_path / "none.env"),
                                             "PATH": "/usr/bin:/bin"})
    assert missing.returncode == 2 and "cannot read" in missing.stderr


def test_dump_tool_compiles():
    compile((TOOLS / "pg-dump-to-s3.py").read_text(), "pg-dump-to-s3.py", "exec")
