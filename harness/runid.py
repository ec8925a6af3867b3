"""The run id: "it" + 8 hex digits. It names everything a run creates (tags, netns, veths,
nft tables, containers, its folder), so that a sweep can find what a dead run left.

An instance of the long-lived sandbox cloud (harness/sandbox/cloud.py) is named "ic" + 8 hex
digits instead: it belongs to the cloud, not to a run, so no sweep of runs ever matches it.
"""
from __future__ import annotations

import re
import secrets

PREFIX = "it"
_PATTERN = PREFIX + r"[0-9a-f]{8}"
RUN_ID = re.compile(rf"^{_PATTERN}$")  # a whole run id
RUN_ID_IN_TEXT = re.compile(rf"({_PATTERN})")  # a run id inside a resource name or a log


CLOUD_INSTANCE_PREFIX = "ic"
SANDBOX_NAME = re.compile(rf"^(?:{PREFIX}|{CLOUD_INSTANCE_PREFIX})[0-9a-f]{{8}}$")  # what sandbox resources are named after


def new_run_id() -> str:
    """Return a fresh run id, held by this process while it lives (harness/run_lock.py: sweeps leave it alone)."""
    from harness.run_lock import hold

    run_id = PREFIX + secrets.token_hex(4)
    hold(run_id)
    return run_id


def is_run_id(text: str) -> bool:
    """True when ``text`` is a run id."""
    return RUN_ID.match(text) is not None


def run_ids_in(text: str) -> set[str]:
    """Every run id that appears in ``text``."""
    return set(RUN_ID_IN_TEXT.findall(text))


def new_cloud_instance_name() -> str:
    """A fresh name for an instance slot of the long-lived sandbox cloud."""
    return CLOUD_INSTANCE_PREFIX + secrets.token_hex(4)


def is_sandbox_name(text: str) -> bool:
    """True when ``text`` may name sandbox resources: a run id or a cloud instance's name."""
    return SANDBOX_NAME.match(text) is not None
