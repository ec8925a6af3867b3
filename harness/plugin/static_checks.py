"""The static checks' tools start as soon as the run's checks are chosen: they run beside the deployment.

suites/test_static.py takes the run's :class:`harness.static_analysis.StaticAnalysis` through
``static_analysis(config)``; this plugin starts it when the test loop starts and a static check is
selected (not at collection's end: pytest gets there after a usage error too), so that fmt, validate
and checkov are done, or nearly, when their checks come.
"""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from harness.errors import HarnessError
from harness.plugin.core import OPTIONS
from harness.static_analysis import StaticAnalysis, make_static_copy_folder, stop_tools

STATIC_SUITE = "test_static.py"
ANALYSIS = pytest.StashKey[StaticAnalysis]()
WORKDIR = pytest.StashKey[Path]()  # the initialised copy terraform validate reads


def configuration_dir(config: pytest.Config) -> Path:
    """The configuration under certification (--terraform-dir, default terraform/)."""
    path = Path(config.stash[OPTIONS].terraform_dir)
    if not (path / "main.tf").is_file():
        raise HarnessError(f"no main.tf in {path}; pass --terraform-dir pointing at the configuration")
    return path


def static_analysis(config: pytest.Config) -> StaticAnalysis:
    """The run's static analysis (fmt, validate, checkov), started now if it was not yet."""
    if ANALYSIS not in config.stash:
        workdir = make_static_copy_folder(config.stash[OPTIONS].runs_dir)
        config.stash[WORKDIR] = workdir
        config.stash[ANALYSIS] = StaticAnalysis(configuration_dir(config), workdir)
    return config.stash[ANALYSIS]


@pytest.hookimpl(tryfirst=True)
def pytest_runtestloop(session: pytest.Session) -> None:
    """When static checks are selected, their tools start as the checks begin (collection succeeded)."""
    if session.config.option.collectonly:
        return
    if any(Path(str(item.fspath)).name == STATIC_SUITE for item in session.items):
        try:
            static_analysis(session.config)
        except HarnessError:
            pass  # the checks' fixture raises it again, where it is reported


def pytest_unconfigure(config: pytest.Config) -> None:
    """Tools still running (the run ended early) are stopped; their working copy is removed."""
    stop_tools()
    if WORKDIR in config.stash:
        shutil.rmtree(config.stash[WORKDIR], ignore_errors=True)
