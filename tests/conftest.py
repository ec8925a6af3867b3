"""The project's own tests: make tests/ importable helpers available, and group them for pytest-xdist.

`make test` runs the tests in several xdist workers (`--dist loadgroup`): most of a test's
time is spent waiting on Terraform or a booting container, so waits overlap. A worker
builds a session fixture at most once, so tests that share an expensive one (a deployment,
a booted container) must run in the same worker; tests that share a module fixture too.
Every other test is its own work unit and goes to whichever worker is free.
"""
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

# Session fixtures that stand for a deployment or a booted container, and the group of the tests
# that use them: the harness's stage chain (one sandbox deployment) and tests/sandbox's own
# booted container.
SHARED_SESSION_FIXTURES = {
    **dict.fromkeys(("deployment", "host_configured", "host", "ssh", "instance", "infra", "aws", "run"), "deployment"),
    **dict.fromkeys(("booted", "deploy_ssh", "api_instance", "ec2"), "booted"),
}

# Groups that take longest, started first so that they do not end the run alone
# (measured: the drills about 5 min, the shared deployment's fault tests about 4 min).
LONGEST_FIRST = ("drills", "deployment", "fault_runs", "booted")


def _group(item: pytest.Item) -> str:
    """The xdist group of a test: its shared deployment, its module's shared fixture, or itself."""
    fixtures = item._fixtureinfo.name2fixturedefs  # noqa: SLF001 (pytest has no public API for this)
    for name, group in SHARED_SESSION_FIXTURES.items():
        if name in fixtures:
            return group
    for name, definitions in fixtures.items():
        if definitions[-1].scope == "module":
            return f"{item.module.__name__}:{name}"
    return item.nodeid


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Give every test its xdist group, and put the longest groups first."""
    # xdist's workers see --dist as "no" and their own `loadgroup` option instead
    if not (getattr(config.option, "loadgroup", False) or config.getoption("dist", "no") == "loadgroup"):
        return
    groups = {}
    for item in items:
        if item.get_closest_marker("xdist_group") is None:
            groups[item.nodeid] = _group(item)
            item.add_marker(pytest.mark.xdist_group(groups[item.nodeid]))

    def rank(item: pytest.Item) -> int:
        group = groups.get(item.nodeid, "")
        for position, name in enumerate(LONGEST_FIRST):
            if group == name or group.endswith(f":{name}"):
                return position
        return len(LONGEST_FIRST)

    items.sort(key=rank)  # stable: collection order within a rank
