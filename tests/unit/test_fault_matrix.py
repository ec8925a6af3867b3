"""The fault matrix (harness/fault_matrix.py): collection of checks and markers, JUnit results, the verdict."""
from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from harness.errors import HarnessError
from harness.fault_matrix import (NO_RESULT, Collected, build_matrix, format_matrix, junit_address, junit_outcomes,
                                  last_results, marked_checks, problems)
from harness.spec import REPO_ROOT

CHECK_A = "suites/test_a.py::test_a"
CHECK_B = "suites/test_a.py::test_b[x]"
DRILL = "suites/test_dr.py::test_drill"
FAULT_1 = "tests/host/test_f.py::test_fault[one]"
FAULT_2 = "tests/host/test_f.py::TestGroup::test_other"


def test_junit_address_is_what_pytest_writes():
    assert junit_address(FAULT_1) == ("tests.host.test_f", "test_fault[one]")
    assert junit_address(FAULT_2) == ("tests.host.test_f.TestGroup", "test_other")
    assert junit_address("tests/x.py::test_p[a/b.py::c]") == ("tests.x", "test_p[a/b.py::c]")


def test_junit_outcomes_keep_the_worst_of_a_test_reported_twice(tmp_path):
    path = tmp_path / "junit.xml"
    path.write_text(textwrap.dedent("""\
        <testsuites><testsuite>
          <testcase classname="tests.host.test_f" name="test_fault[one]"><failure message="boom"/></testcase>
          <testcase classname="tests.host.test_f" name="test_fault[one]"><error message="teardown"/></testcase>
          <testcase classname="tests.host.test_f.TestGroup" name="test_other"/>
          <testcase classname="tests.host.test_f" name="test_skipped"><skipped message="no root"/></testcase>
          <testcase classname="tests.host.test_f" name="test_error"><error message="setup"/></testcase>
        </testsuite></testsuites>"""))
    assert junit_outcomes(path) == {("tests.host.test_f", "test_fault[one]"): "failed",
                                    ("tests.host.test_f.TestGroup", "test_other"): "passed",
                                    ("tests.host.test_f", "test_skipped"): "skipped",
                                    ("tests.host.test_f", "test_error"): "error"}
    assert last_results([FAULT_1, FAULT_2, "tests/host/test_f.py::test_never_ran"], path) == {
        FAULT_1: "failed", FAULT_2: "passed"}
    assert last_results([FAULT_1], tmp_path / "missing.xml") == {}


def test_junit_that_is_not_xml_is_a_harness_error(tmp_path):
    path = tmp_path / "junit.xml"
    path.write_text("<testsuites><testcase")
    with pytest.raises(HarnessError, match="is not JUnit XML"):
        junit_outcomes(path)


def test_marked_checks_want_node_ids():
    class Marker:
        def __init__(self, *args):
            self.args = args

    assert marked_checks([Marker(CHECK_A, CHECK_B), Marker(CHECK_A)]) == (CHECK_A, CHECK_B)
    with pytest.raises(HarnessError, match="node ids as the certificate lists them"):
        marked_checks([Marker("test_sshd_hardened")])


def test_matrix_pairs_checks_with_faults_and_names_what_is_missing():
    collected = Collected(checks={CHECK_A: ("sandbox",), CHECK_B: ("production", "sandbox")},
                          suite_items=frozenset({CHECK_A, CHECK_B, DRILL}),
                          breaks={FAULT_1: (CHECK_A, DRILL), FAULT_2: (CHECK_A, "suites/test_a.py::test_gone")})
    matrix = build_matrix(collected, {FAULT_1: "passed"})
    assert matrix.rows[0].faults == ((FAULT_2, NO_RESULT), (FAULT_1, "passed"))  # by node id
    assert matrix.unguarded == [CHECK_B]
    assert matrix.unknown == {FAULT_2: ("suites/test_a.py::test_gone",)}  # the drill's check exists: not unknown
    assert format_matrix(matrix) == [f"{CHECK_A} (sandbox)  <-  {FAULT_2} ({NO_RESULT}), {FAULT_1} (passed)",
                                     f"{CHECK_B} (production, sandbox)  <-  NO FAULT TEST"]
    assert problems(matrix) == [
        f"{CHECK_B}: no fault test",
        f"{FAULT_2}: its `breaks` marker names suites/test_a.py::test_gone, which no test under suites/ is "
        "(fix the marker)"]


def _repository(root: Path, fault_marks: str) -> Path:
    """A small repository laid out like this one: the harness plugin, two suites and one fault test."""
    (root / "suites").mkdir(parents=True)
    (root / "tests").mkdir()
    (root / "pytest.ini").write_text("[pytest]\naddopts = --strict-markers -p no:cacheprovider\n")
    (root / "conftest.py").write_text('pytest_plugins = ["harness.plugin.core"]\n')
    (root / "suites" / "test_a.py").write_text(textwrap.dedent("""\
        import pytest

        @pytest.mark.sandbox
        def test_a():
            pass

        @pytest.mark.production
        @pytest.mark.parametrize("x", ["one"])
        def test_b(x):
            pass

        def test_not_a_check():
            pass
        """))
    (root / "suites" / "test_dr.py").write_text("import pytest\n\n@pytest.mark.dr\ndef test_drill():\n    pass\n")
    (root / "tests" / "conftest.py").write_text(textwrap.dedent("""\
        def pytest_configure(config):
            config.addinivalue_line("markers", "breaks(*check_ids): the checks this fault test breaks")
        """))
    (root / "tests" / "test_faults.py").write_text(
        f"import pytest\n\n{fault_marks}\ndef test_fault():\n    pass\n\n"
        '@pytest.mark.parametrize("f", [pytest.param(1, id="drill", '
        'marks=pytest.mark.breaks("suites/test_dr.py::test_drill"))])\n'
        "def test_param(f):\n    pass\n")
    return root


def _make_faults(root: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "harness.fault_matrix", "--root", str(root)], cwd=REPO_ROOT,
                          capture_output=True, text=True, timeout=120)


def test_make_faults_fails_naming_the_check_without_a_fault(tmp_path):
    """Every environment's checks are collected (the production-only one too), the drill's are not checks."""
    root = _repository(tmp_path / "repo", '@pytest.mark.breaks("suites/test_a.py::test_a")')
    result = _make_faults(root)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "fault matrix: 2 certification checks, 2 fault tests" in result.stdout
    assert "suites/test_a.py::test_a (sandbox)  <-  tests/test_faults.py::test_fault (no result)" in result.stdout
    assert "suites/test_a.py::test_b[one] (production)  <-  NO FAULT TEST" in result.stdout
    assert "- suites/test_a.py::test_b[one]: no fault test" in result.stderr
    assert "test_not_a_check" not in result.stdout + result.stderr
    assert "test_drill  <-" not in result.stdout


def test_make_faults_passes_and_shows_the_last_results(tmp_path):
    root = _repository(tmp_path / "repo",
                       '@pytest.mark.breaks("suites/test_a.py::test_a")\n@pytest.mark.breaks("suites/test_a.py::test_b[one]")')
    (root / "reports").mkdir()
    (root / "reports" / "tests-junit.xml").write_text(
        '<testsuites><testsuite><testcase classname="tests.test_faults" name="test_fault">'
        '<failure message="the fault was not caught"/></testcase></testsuite></testsuites>')
    result = _make_faults(root)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "suites/test_a.py::test_b[one] (production)  <-  tests/test_faults.py::test_fault (failed)" in result.stdout
    assert "every certification check has a fault test (2 checks)" in result.stdout


def test_make_faults_reports_a_test_file_that_does_not_import(tmp_path):
    root = _repository(tmp_path / "repo", '@pytest.mark.breaks("suites/test_a.py::test_a")')
    (root / "tests" / "test_broken.py").write_text("import no_such_module_here\n")
    result = _make_faults(root)
    assert result.returncode == 3
    assert "tests/test_broken.py" in result.stderr and "could not collect" in result.stderr
