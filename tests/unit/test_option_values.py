"""The harness's options are known before pytest looks for conftest files (pytest.ini's ``-p`` plugins).

pytest reads its arguments once before any conftest is loaded. An option it does not know yet leaves its
value behind as a test path: for ``pytest --reuse RUN_ID`` that was ``RUN_ID``, a path that does not exist, and
pytest then loaded the conftest files of the folder it was started in and of its ``test*`` folders, this
project's own ``tests/conftest.py`` among them (which started a moto zygote beside the checks).
"""
import os
import subprocess
import sys

import pytest

from harness.spec import REPO_ROOT


@pytest.mark.parametrize("arguments", [["--reuse", "it0000000000"], ["--env", "sandbox"], ["--dr-scenario", "instance-loss"],
                                       ["--flake", "."]])
def test_a_value_given_apart_is_the_options_not_a_test_path(arguments, tmp_path):
    listed = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q", "--trace-config",
                             f"--reports-dir={tmp_path}", *arguments],
                            cwd=REPO_ROOT, capture_output=True, text=True, timeout=120,
                            env={**os.environ, "HARNESS_MOTO_ZYGOTE": "off"})
    registered = [line for line in listed.stdout.splitlines() if "PLUGIN registered" in line and "conftest" in line]
    assert registered, listed.stdout[-2000:] + listed.stderr[-2000:]
    assert not [line for line in registered if "tests/conftest.py" in line], (
        f"pytest {' '.join(arguments)} loaded the project's own tests/conftest.py: {arguments[1]!r} was taken "
        f"for a test path (add the plugin that defines {arguments[0]} to pytest.ini's -p options)\n"
        + "\n".join(registered))
