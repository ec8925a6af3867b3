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


def _dump_tool(tmp_path, moto_api, monkeypatch, bucket):
    """pg-dump-to-s3.py loaded as a module, its settings pointing at ``bucket`` on the test's moto server."""
    import importlib.util

    env_file = tmp_path / "backup.env"
    env_file.write_text(f"BACKUP_BUCKET={bucket}\nBARMAN_SERVER=app\nDUMP_PREFIX=pg_dump\nDATABASE=inventory\n"
                        f"PGPORT=5432\nRETENTION_DAYS=7\nAWS_DEFAULT_REGION={moto_api.region}\n"
                        f"S3_ENDPOINT_URL={moto_api.endpoint_url}\n")
    for name, value in moto_api.env.items():
        monkeypatch.setenv(name, value)
    spec = importlib.util.spec_from_file_location("pg_dump_to_s3", TOOLS / "pg-dump-to-s3.py")
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    monkeypatch.setattr(tool, "ENV_FILE", str(env_file))
    moto_api.client("s3").create_bucket(Bucket=bucket)
    return tool


def test_dump_tool_stores_row_counts_with_the_dump_and_fetches_both(tmp_path, moto_api, monkeypatch, capsys):
    """A dump's row counts (counted in its snapshot) go next to it; --fetch-latest gives the dump and them."""
    import json

    tool = _dump_tool(tmp_path, moto_api, monkeypatch, "dump-tool-counts")
    counts = {"public.items": 3, "public.schema_migrations": 1}

    def fake_dump(database, port, path):
        with open(path, "wb") as handle:
            handle.write(b"PGDMP fake")
        return {"database": database, "snapshot": "00000003-00000002-1", "row_counts": counts}

    monkeypatch.setattr(tool, "dump_with_counts", fake_dump)
    assert tool.main([]) == 0
    written = capsys.readouterr().out
    assert "row-counts.json" in written
    fetched = tmp_path / "fetched.dump"
    assert tool.main(["--fetch-latest", str(fetched)]) == 0
    latest = json.loads(capsys.readouterr().out.strip())
    assert latest["row_counts"] == counts and latest["key"].endswith(".dump")
    assert latest["counts_key"] == latest["key"][:-len(".dump")] + ".row-counts.json"
    assert fetched.read_bytes() == b"PGDMP fake"


def test_dump_tool_treats_a_dump_without_row_counts_as_missing(tmp_path, moto_api, monkeypatch, capsys):
    """--fetch-latest refuses a dump without recorded counts (naming them); --if-missing then takes a new one."""
    tool = _dump_tool(tmp_path, moto_api, monkeypatch, "dump-tool-no-counts")
    moto_api.client("s3").put_object(Bucket="dump-tool-no-counts", Key="pg_dump/app/inventory-old.dump",
                                     Body=b"PGDMP old")
    assert tool.main(["--fetch-latest", str(tmp_path / "fetched.dump")]) == 1
    assert "inventory-old.row-counts.json is missing" in capsys.readouterr().err
    taken = []
    monkeypatch.setattr(tool, "dump_with_counts", lambda database, port, path: (
        taken.append(path), open(path, "wb").close(), {"row_counts": {"public.items": 0}})[-1])
    assert tool.main(["--if-missing"]) == 0
    assert taken and "dump written" in capsys.readouterr().out
