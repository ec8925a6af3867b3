"""`python -m harness.report reports/certificate.json [-o page.html]`: render a page from a JSON file."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Optional

from harness.report.render import write_report


def main(argv: Optional[list[str]] = None) -> int:
    """Render each given JSON document to an HTML page beside it (or to --output); print the paths."""
    parser = argparse.ArgumentParser(prog="python -m harness.report", description=__doc__.splitlines()[0])
    parser.add_argument("documents", nargs="+", type=Path, help="certificate.json, certificate-dr.json or bench.json")
    parser.add_argument("-o", "--output", type=Path, help="where to write the page (one document only)")
    args = parser.parse_args(argv)
    if args.output and len(args.documents) > 1:
        parser.error("--output takes one document")
    for source in args.documents:
        try:
            document = json.loads(source.read_text())
        except (OSError, json.JSONDecodeError) as exc:
            print(f"cannot read {source}: {exc}", file=sys.stderr)
            return 2
        print(write_report(document, args.output or source.with_suffix(".html")))
    return 0


if __name__ == "__main__":
    sys.exit(main())
