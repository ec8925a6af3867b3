"""The run id: "it" + 8 hex digits. It names everything a run creates (tags, netns, veths,
nft tables, containers, its folder), so that a sweep can find what a dead run left.
"""
from __future__ import annotations

import re
import secrets

PREFIX = "it"
_PATTERN = PREFIX + r"[0-9a-f]{8}"
RUN_ID = re.compile(rf"^{_PATTERN}$")  # a whole run id
RUN_ID_IN_TEXT = re.compile(rf"({_PATTERN})")  # a run id inside a resource name or a log


def new_run_id() -> str:
    """Return a fresh run id."""
    return PREFIX + secrets.token_hex(4)


def is_run_id(text: str) -> bool:
    """True when ``text`` is a run id."""
    return RUN_ID.match(text) is not None


def run_ids_in(text: str) -> set[str]:
    """Every run id that appears in ``text``."""
    return set(RUN_ID_IN_TEXT.findall(text))
