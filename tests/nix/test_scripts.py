"""The dev shell's commands (nixos/scripts/*.sh, packaged by flake.nix): --help, shellcheck, refusals."""
from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from harness.spec import REPO_ROOT

SCRIPTS = REPO_ROOT / "nixos" / "scripts"
NAMES = ["tf-deploy", "tf-destroy", "build-nixos", "deploy"]
BASH = shutil.which("bash") or "/bin/bash"


def run(name: str, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([BASH, str(SCRIPTS / f"{name}.sh"), *args], capture_output=True, text=True,
                          timeout=30, env={**os.environ, **(env or {})})


def test_flake_packages_every_script():
    """flake.nix wraps each of the seed's commands (and nothing is left out)."""
    flake = (REPO_ROOT / "flake.nix").read_text()
    assert sorted(path.stem for path in SCRIPTS.glob("*.sh")) == sorted(NAMES)
    for name in NAMES:
        assert f'(script "{name}" ' in flake, name


@pytest.mark.parametrize("name", NAMES)
def test_help(name: str):
    """Each command answers --help with its usage and exit status 0."""
    result = run(name, "--help")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"usage: {name}"), result.stdout


@pytest.mark.parametrize("name", NAMES)
def test_unknown_option_is_refused(name: str):
    """A wrong option is refused with a pointer to --help (exit 64), before anything runs."""
    result = run(name, "--no-such-option")
    assert result.returncode == 64 and "--help" in result.stderr, (result.returncode, result.stderr)


# What flake.nix puts before each script's own text (its `libs`).
LIBS = {"tf-deploy": ["tf-common"], "tf-destroy": ["tf-common"]}


@pytest.mark.skipif(shutil.which("shellcheck") is None, reason="shellcheck is not installed (apt-get install shellcheck)")
@pytest.mark.parametrize("name", NAMES)
def test_shellcheck(name: str, tmp_path: Path):
    """writeShellApplication runs shellcheck on the text the flake builds (shared functions first); so do we."""
    parts = [SCRIPTS / "lib" / f"{lib}.sh" for lib in LIBS.get(name, [])] + [SCRIPTS / f"{name}.sh"]
    text = tmp_path / f"{name}.sh"
    text.write_text("\n".join(part.read_text() for part in parts))
    result = subprocess.run(["shellcheck", "-s", "bash", str(text)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout


def test_flake_puts_the_shared_functions_first():
    """The scripts that use nixos/scripts/lib/ get it from the flake too, not only when run with bash."""
    flake = (REPO_ROOT / "flake.nix").read_text()
    for name, libs in LIBS.items():
        assert f'(script "{name}" tfCommon' in flake and libs == ["tf-common"], name
    assert "tfCommon = [ ./nixos/scripts/lib/tf-common.sh ];" in flake


def test_deploy_prints_the_steps_by_default():
    """`deploy` without --run only prints the steps."""
    result = run("deploy")
    assert result.returncode == 0 and "nixos-rebuild" not in result.stderr
    assert "tf-deploy staging" in result.stdout and "deploy --run --host" in result.stdout


def test_deploy_run_needs_a_host():
    result = run("deploy", "--run")
    assert result.returncode == 64 and "--host" in result.stderr


def test_tf_destroy_refuses_production_without_the_flag(tmp_path: Path):
    """tf-destroy production stops before terraform unless --i-mean-production is given."""
    result = run("tf-destroy", "production", env={"PATH": str(tmp_path)})  # no terraform reachable
    assert result.returncode == 65 and "--i-mean-production" in result.stderr, result.stderr


def test_tf_deploy_names_a_missing_tfvars(tmp_path: Path):
    result = run("tf-deploy", "nowhere", env={"INVENTORY_TRACKER_ROOT": str(tmp_path)})
    assert result.returncode == 66 and "nowhere.tfvars" in result.stderr, result.stderr
