"""Environment selection from -m and --env."""
import pytest

from harness.errors import HarnessError
from harness.plugin.environment import environments_in, select_environment


@pytest.mark.parametrize(
    ("markexpr", "option", "expected"),
    [
        ("", None, "sandbox"),
        ("staging", None, "staging"),
        ("production and not dr", None, "production"),
        ("dr", None, "sandbox"),
        ("nixos", None, "sandbox"),
        ("", "staging", "staging"),
        ("staging", "staging", "staging"),
        ("not staging", None, "sandbox"),
    ],
)
def test_select_environment(markexpr, option, expected):
    assert select_environment(markexpr, option) == expected


def test_two_environments_at_once_is_an_error():
    with pytest.raises(HarnessError, match="selects sandbox and staging; certify one environment"):
        select_environment("sandbox or staging", None)


def test_unknown_environment_names_the_choices():
    with pytest.raises(HarnessError, match="unknown environment 'qa'.*sandbox, staging, production"):
        select_environment("", "qa")


def test_env_option_contradicting_markexpr():
    with pytest.raises(HarnessError, match="contradicts"):
        select_environment("production", "staging")


def test_environments_in_ignores_negated_names():
    assert environments_in("not sandbox and staging") == ["staging"]
