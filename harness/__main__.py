"""``python -m harness COMMAND``: the harness's commands (``verify FILE``: check a certificate's signature)."""
from __future__ import annotations

import sys

from harness import verify

COMMANDS = {"verify": verify.main}


def main(argv: list[str]) -> int:
    """Run one command; usage on stderr (exit 2) for anything else."""
    if not argv or argv[0] not in COMMANDS:
        print(f"usage: python -m harness {{{','.join(COMMANDS)}}} ...", file=sys.stderr)
        return 2
    return COMMANDS[argv[0]](argv[1:])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
