"""Checks marked ``concurrent`` run in threads from the moment their session fixtures exist; their tests report
the threads' outcomes (harness/plugin/concurrent_checks.py). Each case runs a small pytest session of its own."""
from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

from harness.spec import REPO_ROOT

CONFTEST = """
import threading, time
import pytest

pytest_plugins = ["harness.plugin.concurrent_checks"]
EVENTS = []

@pytest.fixture(scope="session")
def deployment():
    EVENTS.append("deployment")
    return {"started": time.monotonic()}

@pytest.fixture(scope="session")
def events():
    return EVENTS
"""


def _session(tmp_path: Path, tests: str) -> subprocess.CompletedProcess:
    (tmp_path / "conftest.py").write_text(CONFTEST)
    (tmp_path / "test_checks.py").write_text(textwrap.dedent(tests))
    return subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "-s", "-o", "addopts=",
                           str(tmp_path)], capture_output=True, text=True, cwd=tmp_path, timeout=120,
                          env={"PYTHONPATH": str(REPO_ROOT), "PATH": "/usr/bin:/bin"})


def test_waiting_checks_run_together_and_report_their_own_outcomes(tmp_path):
    result = _session(tmp_path, """
        import threading, time
        import pytest

        @pytest.mark.concurrent
        def test_slow_a(deployment, events):
            events.append(("a", threading.current_thread().name))
            time.sleep(1.5)

        @pytest.mark.concurrent
        def test_slow_b(deployment, events):
            time.sleep(1.5)
            assert False, "b found port 5432 open to the internet"

        def test_in_pytests_thread(deployment, events):
            events.append(("main", threading.current_thread().name))

        def test_took_less_than_the_sum(deployment, events):
            # both slow checks started with the deployment; waiting for b here ends after ~1.5 s, not 3 s
            assert ("a", "check test_slow_a") in events
            assert events[-1] == ("main", "MainThread")
    """)
    out = result.stdout
    assert "1 failed, 3 passed" in out, out
    assert "FAILED" in out and "test_slow_b" in out and "b found port 5432 open to the internet" in out, out
    seconds = float(out.strip().splitlines()[-1].split(" in ")[1].split("s")[0])
    assert seconds < 2.9, f"the two 1.5 s checks did not overlap: {out}"


def test_a_concurrent_check_with_a_function_scoped_fixture_is_refused(tmp_path):
    result = _session(tmp_path, """
        import pytest

        @pytest.mark.concurrent
        def test_needs_tmp_path(deployment, tmp_path):
            pass
    """)
    assert result.returncode == 4, result.stdout + result.stderr
    assert "is marked concurrent but takes a fixture that is not session-scoped" in result.stdout + result.stderr


def test_a_certification_reports_its_concurrent_checks_last():
    """The test loop runs every other check while the concurrent ones work in their threads: their tests (which
    only wait for the threads) come after the deployment's other checks and the static ones."""
    from harness.plugin.core import run_order

    class Item:
        def __init__(self, name, fixtures, concurrent=False):
            self.name, self.fixturenames, self.concurrent = name, fixtures, concurrent

        def get_closest_marker(self, name):
            return object() if name == "concurrent" and self.concurrent else None

    items = [Item("restore", ["deployment"], concurrent=True), Item("checkov", ["analysis"]),
             Item("ports", ["deployment"]), Item("idempotent", ["deployment"], concurrent=True),
             Item("tags", ["infra"])]
    items.sort(key=run_order)
    assert [item.name for item in items] == ["ports", "tags", "checkov", "restore", "idempotent"]
