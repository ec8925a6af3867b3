"""The static checks' tools start as soon as the run's checks are chosen: they run beside the deployment.

suites/test_static.py takes the run's :class:`harness.static_analysis.StaticAnalysis` through
``static_analysis(config)``; this plugin starts it at the end of collection when a static check
is selected, so that fmt, validate and checkov are done, or nearly, when their checks come.
"""
from __future__ import annotations

from pathlib import Path

import pytest

from harness.errors import HarnessError
from harness.plugin.core import OPTIONS
from harness.static_analysis import StaticAnalysis

STATIC_SUITE = "test_static.py"
ANALYSIS = pytest.StashKey[StaticAnalysis]()


def configuration_dir(config: pytest.Config) -> Path:
    """The configuration under certification (--terraform-dir, default terraform/)."""
    path = Path(config.stash[OPTIONS].terraform_dir)
    if not (path / "main.tf").is_file():
        raise HarnessError(f"no main.tf in {path}; pass --terraform-dir pointing at the configuration")
    return path


def static_analysis(config: pytest.Config) -> StaticAnalysis:
    """The run's static analysis (fmt, validate, checkov), started now if it was not yet."""
    if ANALYSIS not in config.stash:
        workdir = config._tmp_path_factory.mktemp("static")  # type: ignore[attr-defined]
        config.stash[ANALYSIS] = StaticAnalysis(configuration_dir(config), workdir)
    return config.stash[ANALYSIS]


def pytest_collection_finish(session: pytest.Session) -> None:
    """When static checks are selected, their tools start now."""
    if session.config.option.collectonly:
        return
    if any(Path(str(item.fspath)).name == STATIC_SUITE for item in session.items):
        try:
            static_analysis(session.config)
        except HarnessError:
            pass  # the checks' fixture raises it again, where it is reported
