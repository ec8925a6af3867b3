"""Which environment a run targets: from --env or from the -m expression."""
from __future__ import annotations

import re
from typing import Optional

from harness.errors import HarnessError
from harness.options import ENVIRONMENTS


def environments_in(markexpr: str) -> list[str]:
    """Environment names that the -m expression selects (names after ``not`` excluded)."""
    tokens = re.findall(r"[A-Za-z_][A-Za-z0-9_]*", markexpr or "")
    named: list[str] = []
    for index, token in enumerate(tokens):
        if token in ENVIRONMENTS and not (index > 0 and tokens[index - 1] == "not") and token not in named:
            named.append(token)
    return named


def select_environment(markexpr: str, env_option: Optional[str]) -> str:
    """The one environment of this run; a HarnessError when the input names none or several."""
    if env_option is not None and env_option not in ENVIRONMENTS:
        raise HarnessError(
            f"unknown environment {env_option!r}; use --env with one of {', '.join(ENVIRONMENTS)}"
        )
    named = environments_in(markexpr)
    if len(named) > 1:
        raise HarnessError(
            f"the -m expression {markexpr!r} selects {' and '.join(named)}; certify one environment "
            "per run (e.g. -m staging), and run the other separately"
        )
    if env_option and named and named[0] != env_option:
        raise HarnessError(
            f"--env {env_option} contradicts -m {markexpr!r}; drop one of them"
        )
    return env_option or (named[0] if named else "sandbox")
