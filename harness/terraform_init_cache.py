"""``terraform init``'s result, kept once per configuration and copied into the next working copy of it.

Against a stand-in API with the provider from this machine's filesystem mirror, ``init`` of a local-state
working copy writes two things: ``.terraform/providers/...``, a symbolic link into the mirror, and
``.terraform.lock.hcl`` (versions and constraints; the harness drops the hashes, :func:`drop_lock_hashes`).
Both depend only on the configuration's ``.tf`` files, the CLI configuration and the mirror's contents, and
the Terraform binary. Making them costs about 0.6 CPU-s and 1 s (Terraform hashes the 706 MB provider to
record it), once for each of the 50-odd working copies of ``make test``. The first ``init`` of a configuration
runs as always and its result is kept under that key; a later working copy of the same configuration gets a
copy of it, and Terraform reads it as its own (it is its own). Any other case runs the real ``init``: a remote
backend (staging and production), no provider mirror (the registry may have a newer version), a configuration
or mirror that changed (another key).

The cache lives in ``/var/cache/inventory-tracker-harness/terraform-init`` (``HARNESS_TF_INIT_CACHE``; ``off``
turns it off), beside the instance images. Entries are a few hundred bytes; a folder that cannot be written to
only means every ``init`` runs.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import tempfile
from pathlib import Path
from typing import Optional

from harness.static_cache import file_identity, tree_identity

log = logging.getLogger("harness.terraform")

DEFAULT_CACHE = Path("/var/cache/inventory-tracker-harness/terraform-init")
CACHE_ENV = "HARNESS_TF_INIT_CACHE"
KEPT = (".terraform", ".terraform.lock.hcl")
NOT_KEPT = ("provider-memo",)  # the provider memo's answers: written by later commands, never by init


def cache_root() -> Optional[Path]:
    """Where entries are kept, or None when the cache is off."""
    configured = os.environ.get(CACHE_ENV, "")
    if configured == "off":
        return None
    return Path(configured) if configured else DEFAULT_CACHE


def init_key(workdir: Path, terraform: Path, cli_config: Path, mirror: Path, skipped: tuple[str, ...]) -> str:
    """What ``init`` of ``workdir`` depends on: every ``.tf``/``.tf.json`` file (those named in ``skipped`` by name
    only: the harness writes them, and what differs between runs, the endpoint's address, is not what init
    reads), the CLI configuration, the mirror's provider packages and the Terraform binary."""
    digest = hashlib.sha256()
    digest.update(file_identity(terraform).encode())
    digest.update(cli_config.read_bytes())
    for package in tree_identity(mirror, "registry.terraform.io/**/*"):  # as the static analysis keys it
        digest.update(package.encode())
    for path in sorted(workdir.rglob("*")):
        relative = path.relative_to(workdir)
        if relative.parts[0] in KEPT or not path.is_file() or not path.name.endswith((".tf", ".tf.json")):
            continue
        digest.update(json.dumps(str(relative)).encode())
        if path.name not in skipped:
            digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()[:32]


def restore(entry: Path, workdir: Path) -> bool:
    """Copy a kept ``init`` result into ``workdir``; False when there is none."""
    if not (entry / KEPT[1]).is_file():
        return False
    shutil.copytree(entry / KEPT[0], workdir / KEPT[0], symlinks=True, dirs_exist_ok=True)
    shutil.copy2(entry / KEPT[1], workdir / KEPT[1])
    return True


def keep(workdir: Path, entry: Path) -> None:
    """Keep ``workdir``'s ``init`` result as ``entry`` (made whole in a folder beside it, then renamed into place,
    so that a concurrent run sees all of it or none). Best effort: a cache that cannot be written is skipped."""
    try:
        entry.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{entry.name}-", dir=entry.parent))
    except OSError as exc:
        log.info("terraform init result not kept (%s)", exc)
        return
    try:
        shutil.copytree(workdir / KEPT[0], staging / KEPT[0], symlinks=True,
                        ignore=shutil.ignore_patterns(*NOT_KEPT))
        shutil.copy2(workdir / KEPT[1], staging / KEPT[1])
        os.rename(staging, entry)
    except OSError:
        pass  # another run kept the same entry first
    finally:
        shutil.rmtree(staging, ignore_errors=True)
