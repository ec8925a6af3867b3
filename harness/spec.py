"""The declared specification (spec.json), read by Terraform, Nix and the harness."""
from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
SPEC_PATH = REPO_ROOT / "spec.json"


@lru_cache(maxsize=1)
def load_spec() -> dict[str, Any]:
    """Return the parsed spec.json at the repository root."""
    return json.loads(SPEC_PATH.read_text())
