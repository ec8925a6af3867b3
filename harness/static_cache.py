"""Results of terraform validate and checkov, kept by what they depend on, so that a configuration is analysed once.

Both tools are deterministic functions of their inputs: the configuration's files, spec.json (validate
reads it beside the configuration), the tool itself, and for validate the provider it loads. Together
they cost about 6 CPU-seconds per run (each loads the AWS provider's schema or checkov's policies), which
on a two-core machine is seconds of a re-certification and minutes of ``make test``. So a result is kept
under a key over all of those inputs, in ``.cache/static-analysis/`` (git-ignored), and a run whose key
matches takes it instead of running the tool again. Any change to an input is a new key: an edited .tf
file, an upgraded checkov or terraform, another provider in the mirror. ``HARNESS_STATIC_CACHE=off`` runs
the tools every time. Only a finished tool's result is kept (a report with failed checks too: it is the
configuration's result); a tool that could not run is not.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import os
import tempfile
from pathlib import Path
from typing import Any, Callable, Iterable

from harness.content_digest import tree_digest
from harness.spec import REPO_ROOT

log = logging.getLogger("harness.static")

CACHE_DIR = REPO_ROOT / ".cache" / "static-analysis"
KEEP = 40  # results kept; the oldest beyond go


def enabled() -> bool:
    return os.environ.get("HARNESS_STATIC_CACHE", "on").strip().lower() not in ("off", "0", "no", "false")


def file_identity(path: Path) -> str:
    """A file by path, size and modification time: a reinstalled or upgraded tool is another one."""
    stat = path.stat()
    return f"{path.resolve()}:{stat.st_size}:{stat.st_mtime_ns}"


def tree_identity(root: Path, pattern: str) -> list[str]:
    """Every file under ``root`` matching ``pattern``, by identity (a provider mirror, a tool's packages)."""
    return sorted(file_identity(path) for path in root.glob(pattern) if path.is_file())


def cache_key(tool: str, configuration: Path, inputs: Iterable[str]) -> str:
    """The key of ``tool``'s result over ``configuration`` and the other ``inputs`` (identities, digests)."""
    digest = hashlib.sha256(f"{tool}\0{tree_digest(configuration, ['.'])}".encode())
    for item in inputs:
        digest.update(f"\0{item}".encode())
    return digest.hexdigest()


def cached(tool: str, key: str, work: Callable[[], Any]) -> Any:
    """``tool``'s result under ``key``: kept from an earlier run when there is one, else ``work()``, then kept."""
    if not enabled():
        return work()
    path = CACHE_DIR / f"{tool}-{key}.json"
    try:
        kept = json.loads(path.read_text())
        log.info("%s: the result of an identical configuration and tool, kept since %s (%s; "
                 "HARNESS_STATIC_CACHE=off runs it again)", tool, kept["created"], path.relative_to(REPO_ROOT))
        return kept["result"]
    except (OSError, ValueError, KeyError):
        pass
    result = work()
    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    record = {"tool": tool, "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
              "result": result}
    with tempfile.NamedTemporaryFile("w", dir=CACHE_DIR, prefix=f".{tool}-", suffix=".json", delete=False) as out:
        json.dump(record, out)
    os.replace(out.name, path)  # whole, or not there: several runs may write the same key at once
    prune()
    return result


def prune(keep: int = KEEP) -> None:
    """Remove all but the ``keep`` newest results."""
    def modified(path: Path) -> float:
        try:
            return path.stat().st_mtime
        except OSError:  # another run pruned it meanwhile
            return 0.0

    for old in sorted(CACHE_DIR.glob("*.json"), key=modified, reverse=True)[keep:]:
        old.unlink(missing_ok=True)
