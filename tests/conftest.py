"""The project's own tests: make tests/ importable helpers available, and group them for pytest-xdist.

`make test` runs the tests in several xdist workers (`--dist loadgroup`): most of a test's
time is spent waiting on Terraform or a booting container, so waits overlap. A worker
builds a session fixture at most once, so tests that share an expensive one (a deployment,
a booted container) must run in the same worker; tests that share a module fixture too.
Every other test is its own work unit and goes to whichever worker is free.
"""
import json
import os
import sys
import tempfile
import uuid
from pathlib import Path
from typing import Any

import pytest

from harness.moto_zygote import ZYGOTE_ENV, Zygote

sys.path.insert(0, str(Path(__file__).resolve().parent))

# Session fixtures that stand for a deployment or a booted container, and the group of the tests
# that use them: the harness's stage chain (a sandbox deployment: one per test folder, or per
# module that names its DEPLOYMENT_GROUP, so that the host, backup and log faults break several
# deployments side by side) and tests/sandbox's own
# booted container.
CHAIN_FIXTURES = ("deployment", "host_configured", "host", "ssh", "instance", "infra_apply", "infra", "aws", "run")
SHARED_SESSION_FIXTURES = {
    **dict.fromkeys(CHAIN_FIXTURES, "deployment"),
    **dict.fromkeys(("booted", "deploy_ssh", "api_instance", "ec2"), "booted"),
}

# Groups and test modules that take longest, started first so that none of them ends the run alone
# (measured under xdist: the drills about 6 min, each fault deployment 3-6 min, a harness run in a
# subprocess 1-3 min).
LONGEST_FIRST = ("test_promotion_flow", "drills", "deployment", "fault_runs", "test_secret_canary", "test_chain",
                 "test_infra_certification", "test_replay_recovery", "test_interrupt", "booted",
                 "test_static_faults", "test_bad_input")


def _group(item: pytest.Item) -> str:
    """The xdist group of a test: its shared deployment, its module's shared fixture, or itself."""
    fixtures = item._fixtureinfo.name2fixturedefs  # noqa: SLF001 (pytest has no public API for this)
    for name, group in SHARED_SESSION_FIXTURES.items():
        if name in fixtures:
            if group == "deployment":  # one per test folder, or the module's own DEPLOYMENT_GROUP
                return f"deployment:{getattr(item.module, 'DEPLOYMENT_GROUP', item.path.parent.name)}"
            return group
    for name, definitions in fixtures.items():
        if definitions[-1].scope == "module":
            return f"{item.module.__name__}:{name}"
    return item.nodeid


def _distributed(config: pytest.Config) -> bool:
    # xdist's workers see --dist as "no" and their own `loadgroup` option instead
    return bool(getattr(config.option, "loadgroup", False) or config.getoption("dist", "no") == "loadgroup")


def _groups_file(testrunuid: str) -> Path:
    return Path(tempfile.gettempdir()) / f"xdist-groups-{testrunuid}.json"


_ZYGOTE: list[Any] = []  # the controller's moto zygote, while the session lasts


def pytest_configure(config: pytest.Config) -> None:
    """The fault-matrix marker (`make faults`); the controller names the test run for its workers' group file.

    The controller also starts a moto zygote (harness/moto_zygote.py) that every moto server of the session, in
    the workers and the harness runs they start, is forked from (``HARNESS_MOTO_ZYGOTE``, inherited):
    moto imported once instead of about 35 times. ``HARNESS_MOTO_ZYGOTE=off`` starts each server from disk.
    """
    config.addinivalue_line("markers", "breaks(*check_ids): the certification checks this fault test breaks (make faults)")
    if hasattr(config, "workerinput"):
        return
    if _distributed(config) and not config.getoption("testrunuid"):
        config.option.testrunuid = uuid.uuid4().hex
    if os.environ.get(ZYGOTE_ENV, "") == "" and not config.option.collectonly:
        zygote = Zygote()
        _ZYGOTE.append(zygote)
        os.environ[ZYGOTE_ENV] = zygote.socket_path


def pytest_unconfigure(config: pytest.Config) -> None:
    if hasattr(config, "workerinput"):
        return
    if _distributed(config):
        _groups_file(config.option.testrunuid).unlink(missing_ok=True)
    while _ZYGOTE:
        _ZYGOTE.pop().stop()
        os.environ.pop(ZYGOTE_ENV, None)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """On each worker: every test's group, for the controller's scheduler; the longest groups first.

    (xdist 3.8's own `xdist_group` marks do not group under pytest 9, which no longer reads the
    node id that xdist rewrites, so the groups travel in a file named after the test run.)
    """
    if not hasattr(config, "workerinput") or not _distributed(config):
        return
    groups = {item.nodeid: _group(item) for item in items}

    def rank(item: pytest.Item) -> int:
        names = set(groups[item.nodeid].split(":")) | {item.module.__name__}
        for position, name in enumerate(LONGEST_FIRST):
            if name in names:
                return position
        return len(LONGEST_FIRST)

    items.sort(key=rank)  # stable: collection order within a rank
    path = _groups_file(config.workerinput["testrunuid"])
    partial = path.with_suffix(f".{os.getpid()}")
    partial.write_text(json.dumps(groups))
    partial.replace(path)  # every worker writes the same groups; the last one stays


def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """``--dist loadgroup``: whole groups to a worker (see the module's docstring)."""
    if config.getoption("dist", "no") != "loadgroup":
        return None
    from xdist.scheduler import LoadScopeScheduling

    class GroupScheduling(LoadScopeScheduling):
        groups: dict[str, str] = {}

        def _split_scope(self, nodeid: str) -> str:
            if not self.groups:
                path = _groups_file(config.option.testrunuid)
                self.groups = json.loads(path.read_text()) if path.exists() else {}
            return self.groups.get(nodeid, nodeid)

        def _reschedule(self, node: Any) -> None:
            """A worker gets its next group when it holds one test it has not run, not three (xdist's
            heuristic): a worker holds its last test back until it knows the next one. With three, a group of
            minutes could wait behind two others in a busy worker while another worker went idle (a fresh-clone
            run: one worker summed 594 s of tests, the other three 494-507)."""
            if node.shutting_down:
                return
            if not self.workqueue:
                node.shutdown()
                return
            if self._pending_of(self.assigned_work[node]) > 1:
                return
            self._assign_work_unit(node)

    return GroupScheduling(config, log)
