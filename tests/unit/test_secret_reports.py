"""pytest's own output (assertion introspection, tracebacks, captured output, JUnit XML) never shows a secret."""
from __future__ import annotations

import pytest

pytest_plugins = ["pytester"]

INNER_TESTS = '''
from harness.secrets import Secret


def test_two_secrets_compared():
    assert Secret("canary-left-side-1111") == Secret("canary-right-side-2222")


def test_secret_compared_with_its_plain_value():
    password = Secret("canary-revealed-3333")
    assert password == "not " + password.reveal()


def test_dict_holding_a_secret_value_compared():
    password = Secret("canary-in-a-url-4444")
    assert {"DATABASE_URL": "postgresql://app:" + password.reveal() + "@127.0.0.1/db"} == {}


def test_secret_printed_then_failing():
    password = Secret("canary-printed-5555")
    print("the password is", password.reveal())
    raise RuntimeError("failed with " + password.reveal())
'''
CANARIES = ("canary-left-side-1111", "canary-right-side-2222", "canary-revealed-3333", "canary-in-a-url-4444",
            "canary-printed-5555")


@pytest.fixture
def inner_run(pytester: pytest.Pytester) -> tuple[str, str]:
    """Four failing tests that compare, print and raise secrets; (terminal output, JUnit XML)."""
    pytester.makepyfile(test_inner=INNER_TESTS)
    result = pytester.runpytest_subprocess("-p", "harness.plugin.secret_reports", "--junitxml=junit.xml",
                                           "-rA", "-vv", "-l")
    result.assert_outcomes(failed=4)
    return result.stdout.str() + result.stderr.str(), (pytester.path / "junit.xml").read_text()


def test_no_secret_in_pytest_output_or_junit_xml(inner_run: tuple[str, str]) -> None:
    """Introspection, locals (-l), captured stdout and exception messages are all masked."""
    output, junit = inner_run
    for canary in CANARIES:
        assert canary not in output, f"a secret shows in pytest's terminal output:\n{output}"
        assert canary not in junit, "a secret shows in the JUnit XML"


def test_a_secret_in_an_assert_shows_stars(inner_run: tuple[str, str]) -> None:
    """A Secret compared in an assert is explained as Secret('***'), and says why."""
    output, _ = inner_run
    assert "Secret('***') == Secret('***')" in output
    assert "a Secret's value is never shown" in output
    assert "'DATABASE_URL': 'postgresql://app:***@127.0.0.1/db'" in output  # the rest stays readable
