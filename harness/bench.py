"""`make bench`: run the sandbox certification several times and report stage times.

Speed is a feature: this is the benchmark (not a timed test). Each run is a
full `pytest` certification in a subprocess; the stage times come from the
certificates it writes. Results go to reports/bench.json and its page reports/bench.html.
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Optional

from harness.report import write_report
from harness.spec import REPO_ROOT


def one_run(extra_args: list[str]) -> dict:
    """Run one sandbox certification; return its certificate (or raise on failure)."""
    with tempfile.TemporaryDirectory(prefix="bench-") as tmp:
        reports = Path(tmp) / "reports"
        start = time.monotonic()
        proc = subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "--reports-dir", str(reports), *extra_args],
            cwd=REPO_ROOT, capture_output=True, text=True,
        )
        wall = time.monotonic() - start
        certificate = reports / "certificate.json"
        if proc.returncode != 0 or not certificate.exists():
            raise SystemExit(f"benchmark run failed (exit {proc.returncode}):\n{proc.stdout[-3000:]}{proc.stderr[-2000:]}")
        document = json.loads(certificate.read_text())
        document["wall_seconds"] = round(wall, 2)
        return document


def summarize(certificates: list[dict]) -> dict[str, dict[str, float]]:
    """Per stage (and wall time): min, median and max seconds over the runs."""
    series: dict[str, list[float]] = {}
    for document in certificates:
        for stage in document["stages"]:
            series.setdefault(stage["name"], []).append(stage["seconds"])
        series.setdefault("wall", []).append(document["wall_seconds"])
    return {
        name: {"min": min(values), "median": round(statistics.median(values), 2), "max": max(values)}
        for name, values in series.items()
    }


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--output", type=Path, default=REPO_ROOT / "reports" / "bench.json")
    parser.add_argument("pytest_args", nargs="*")
    args = parser.parse_args(argv)
    certificates = [one_run(args.pytest_args) for _ in range(args.runs)]
    summary = summarize(certificates)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    document = {"runs": args.runs, "stages": summary,
                "issued_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")}
    args.output.write_text(json.dumps(document, indent=2) + "\n")
    page = write_report(document, args.output.with_suffix(".html"))
    print(f"{'stage':<32} {'min':>8} {'median':>8} {'max':>8}   ({args.runs} runs)")
    for name, values in summary.items():
        print(f"{name:<32} {values['min']:8.1f} {values['median']:8.1f} {values['max']:8.1f}")
    print(f"written to {args.output} and {page}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
