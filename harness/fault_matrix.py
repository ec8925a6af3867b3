"""The fault matrix (`make faults`): every certification check and the fault tests that break it.

A fault test declares the certification checks it breaks with the pytest marker
``breaks`` (node ids as the certificate lists them, ``suites/test_x.py::test_y``).
This module collects, with pytest's own collection (one pass, before any ``-m``
deselection), the certification checks under ``suites/``: every item carrying an
environment marker of ``harness.plugin.core.CERTIFICATION_MARKERS``, so the union of
what ``-m sandbox``, ``-m staging`` and ``-m production`` certify, not the drill's
checks or the NixOS builds, and the ``breaks`` markers of the
tests under ``tests/``, reads the fault tests' last results from the JUnit XML
that `make test` writes, and prints one line per check. It fails when a
certification check has no fault test, or when a marker names a check that does
not exist, so that a check cannot land without its fault.

Only the collection needs pytest (imported when it runs); the rest is plain data.
"""
from __future__ import annotations

import argparse
import contextlib
import importlib.util
import io
import re
import sys
import tempfile
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Optional, Sequence

from harness.errors import HarnessError
from harness.spec import REPO_ROOT

MARKER = "breaks"
SUITES = "suites"
TESTS = "tests"
JUNIT = Path("reports") / "tests-junit.xml"  # what `make test` writes, under the repository
NO_RESULT = "no result"
# Worst first: a test reported twice (a failed call and a teardown error) shows its worst outcome.
OUTCOME_ORDER = ("failed", "error", "skipped", "passed")


@dataclass(frozen=True)
class Collected:
    """What pytest collected: the checks, every suite item, and the fault tests' markers."""

    checks: dict[str, tuple[str, ...]]  # certification check node id -> the environments it certifies
    suite_items: frozenset[str]  # every node id under suites/ (certification checks, the drill's, ...)
    breaks: dict[str, tuple[str, ...]]  # fault test node id -> the check node ids its markers name


@dataclass(frozen=True)
class Row:
    """One line of the matrix: a check and its fault tests with their last results."""

    check: str
    environments: tuple[str, ...]
    faults: tuple[tuple[str, str], ...]  # (fault test node id, last result)


@dataclass(frozen=True)
class Matrix:
    rows: tuple[Row, ...]
    unknown: dict[str, tuple[str, ...]]  # fault test -> the ids its markers name that no suite item has

    @property
    def unguarded(self) -> list[str]:
        """The certification checks without any fault test."""
        return [row.check for row in self.rows if not row.faults]


def marked_checks(markers: Sequence[Any]) -> tuple[str, ...]:
    """The check ids named by ``breaks`` markers (their positional arguments), in order, each once."""
    ids: list[str] = []
    for marker in markers:
        for check in marker.args:
            if not isinstance(check, str) or "::" not in check:
                raise HarnessError(f"a `breaks` marker names {check!r}: give node ids as the certificate lists "
                                   "them, e.g. suites/test_host.py::test_sshd_hardened")
            if check not in ids:
                ids.append(check)
    return tuple(ids)


def build_matrix(collected: Collected, results: Mapping[str, str]) -> Matrix:
    """Pair every certification check with the fault tests that break it and their last result."""
    breakers: dict[str, list[str]] = {check: [] for check in collected.checks}
    unknown: dict[str, tuple[str, ...]] = {}
    for test, checks in sorted(collected.breaks.items()):
        missing = tuple(check for check in checks if check not in collected.suite_items)
        if missing:
            unknown[test] = missing
        for check in checks:
            if check in breakers:
                breakers[check].append(test)
    rows = tuple(Row(check, environments, tuple((test, results.get(test, NO_RESULT)) for test in breakers[check]))
                 for check, environments in collected.checks.items())
    return Matrix(rows, unknown)


def junit_address(nodeid: str) -> tuple[str, str]:
    """The (classname, name) pytest's JUnit XML writes for ``nodeid`` (its ``mangle_test_address``)."""
    path, bracket, params = nodeid.partition("[")
    names = path.split("::")
    names[0] = re.sub(r"\.py$", "", names[0].replace("/", "."))
    names[-1] += bracket + params
    return ".".join(names[:-1]), names[-1]


def junit_outcomes(path: Path) -> dict[tuple[str, str], str]:
    """Each test case of a JUnit XML file, by (classname, name): failed, error, skipped or passed."""
    try:
        root = ET.parse(path).getroot()
    except ET.ParseError as exc:
        raise HarnessError(f"{path} is not JUnit XML ({exc}); run `make test` again to write it") from None
    outcomes: dict[tuple[str, str], str] = {}
    for case in root.iter("testcase"):
        tags = {child.tag for child in case}
        outcome = ("failed" if "failure" in tags else "error" if "error" in tags
                   else "skipped" if "skipped" in tags else "passed")
        key = (case.get("classname", ""), case.get("name", ""))
        previous = outcomes.get(key)
        if previous is None or OUTCOME_ORDER.index(outcome) < OUTCOME_ORDER.index(previous):
            outcomes[key] = outcome
    return outcomes


def last_results(tests: Sequence[str], junit: Optional[Path]) -> dict[str, str]:
    """The last result of each fault test (node id -> outcome) from ``junit``; absent ones are left out."""
    if junit is None or not junit.is_file():
        return {}
    outcomes = junit_outcomes(junit)
    found = {test: outcomes.get(junit_address(test)) for test in tests}
    return {test: outcome for test, outcome in found.items() if outcome is not None}


def format_matrix(matrix: Matrix) -> list[str]:
    """One line per check: its node id, then each fault test that breaks it with its last result."""
    lines = []
    for row in matrix.rows:
        faults = ", ".join(f"{test} ({result})" for test, result in row.faults) or "NO FAULT TEST"
        lines.append(f"{row.check} ({', '.join(row.environments)})  <-  {faults}")
    return lines


def problems(matrix: Matrix) -> list[str]:
    """What makes the matrix fail: checks without a fault test, markers naming no check."""
    found = [f"{check}: no fault test" for check in matrix.unguarded]
    found += [f"{test}: its `breaks` marker names {', '.join(ids)}, which no test under suites/ is (fix the marker)"
              for test, ids in matrix.unknown.items()]
    return found


def _item_collector() -> Any:
    """A pytest plugin that keeps every collected item before any deselection (-m, environment)."""
    import pytest

    class ItemCollector:
        def __init__(self) -> None:
            self.items: list[Any] = []
            self.errors: list[str] = []

        def pytest_collectreport(self, report: Any) -> None:
            if report.failed:
                self.errors.append(f"{report.nodeid}: {str(report.longrepr).strip().splitlines()[-1]}")

        @pytest.hookimpl(tryfirst=True)  # before pytest's -m and the harness's environment deselection
        def pytest_collection_modifyitems(self, items: list[Any]) -> None:
            self.items = list(items)

    return ItemCollector()


def collect(root: Path = REPO_ROOT) -> Collected:
    """Collect ``suites/`` and ``tests/`` with pytest (nothing runs) and sort out checks and fault tests."""
    import pytest

    from harness.plugin.core import CERTIFICATION_MARKERS

    collector = _item_collector()
    output = io.StringIO()
    with tempfile.TemporaryDirectory(prefix="fault-matrix-") as scratch:
        args = ["--collect-only", "-q", "-p", "no:randomly", "--rootdir", str(root), "-c", str(root / "pytest.ini"),
                f"--runs-dir={scratch}/runs", f"--reports-dir={scratch}/reports", str(root / SUITES), str(root / TESTS)]
        if importlib.util.find_spec("xdist") is not None:
            args[1:1] = ["-n", "0"]  # collection only: no workers
        with contextlib.redirect_stdout(output), contextlib.redirect_stderr(output):
            status = pytest.main(args, plugins=[collector])
    if collector.errors:
        raise HarnessError("pytest could not collect every test, so the matrix would be incomplete:\n"
                           + "\n".join(f"- {error}" for error in collector.errors))
    if status not in (0, 5) or not collector.items:
        raise HarnessError(f"pytest --collect-only of {SUITES}/ and {TESTS}/ ended with status {int(status)}:\n"
                           + output.getvalue()[-3000:])
    checks: dict[str, tuple[str, ...]] = {}
    suite_items: set[str] = set()
    breaks: dict[str, tuple[str, ...]] = {}
    for item in collector.items:
        top = item.nodeid.split("/", 1)[0]
        if top == SUITES:
            suite_items.add(item.nodeid)
            environments = tuple(sorted(m for m in CERTIFICATION_MARKERS if item.get_closest_marker(m)))
            if environments:
                checks[item.nodeid] = environments
        elif top == TESTS:
            named = marked_checks(list(item.iter_markers(MARKER)))
            if named:
                breaks[item.nodeid] = named
    return Collected(checks, frozenset(suite_items), breaks)


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Print the matrix; exit 1 naming every certification check without a fault test (3: could not collect)."""
    parser = argparse.ArgumentParser(prog="make faults", description=__doc__.splitlines()[0])
    parser.add_argument("--junit", type=Path, default=None,
                        help=f"JUnit XML of the last `make test` (default: <root>/{JUNIT})")
    parser.add_argument("--root", type=Path, default=REPO_ROOT, help="the repository (default: this one)")
    options = parser.parse_args(argv)
    junit = options.junit if options.junit is not None else options.root / JUNIT
    try:
        collected = collect(options.root.resolve())
        matrix = build_matrix(collected, last_results(sorted(collected.breaks), junit))
    except HarnessError as exc:
        print(f"make faults: {exc}", file=sys.stderr)
        return 3
    source = junit if junit.is_file() else f"none yet ({junit} is missing: run make test)"
    print(f"fault matrix: {len(matrix.rows)} certification checks, {len(collected.breaks)} fault tests; "
          f"last results from {source}")
    for line in format_matrix(matrix):
        print(line)
    found = problems(matrix)
    if found:
        print(f"\nFAULT MATRIX INCOMPLETE ({len(found)}): give each check a fault test that breaks a deployment "
              "or a copy of terraform/ or nixos/ so that it fails, marked "
              "@pytest.mark.breaks(\"<check id>\") (README: make faults)", file=sys.stderr)
        for problem in found:
            print(f"- {problem}", file=sys.stderr)
        return 1
    print(f"every certification check has a fault test ({len(matrix.rows)} checks)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
