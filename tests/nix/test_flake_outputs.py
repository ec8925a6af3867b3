"""The project's flake.nix evaluated and checked offline, with a stand-in for nixpkgs.

`nix flake check` with `--override-input nixpkgs path:tests/nix/flakes/stub-nixpkgs`
(every package a /bin/sh derivation) evaluates the real flake.nix: the dev shell
and its commands, nixosConfigurations.inventory-tracker, the checks and the
formatter. This tests the flake's wiring, not nixpkgs' options: the VM test on a
machine with Nix does that (docs/nix.md).
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from harness import nix
from harness.spec import REPO_ROOT

from flake_repo import git_repo

pytestmark = pytest.mark.skipif(shutil.which("nix") is None,
                                reason="nix is not installed: `make setup` installs Debian's nix-bin")

FLAKES = Path(__file__).resolve().parent / "flakes"
PROJECT_FILES = ["flake.nix", "spec.json", "nixos", "fixtures/sandbox/app/inventory_app.py"]
LOCAL = nix.NixSettings(local=True)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A git copy of the project's Nix files (flakes only see tracked files)."""
    copy = tmp_path / "project"
    for name in PROJECT_FILES:
        source = REPO_ROOT / name
        target = copy / name
        target.parent.mkdir(parents=True, exist_ok=True)
        if source.is_dir():
            shutil.copytree(source, target)
        else:
            shutil.copy2(source, target)
    return copy


@pytest.fixture
def stub_nixpkgs(tmp_path: Path) -> Path:
    copy = tmp_path / "stub-nixpkgs"
    shutil.copytree(FLAKES / "stub-nixpkgs", copy)
    return git_repo(copy)


def nix_in(project: Path, stub: Path, *args: str) -> nix.NixResult:
    return nix.nix_command([*args, "--no-write-lock-file", "--override-input", "nixpkgs", f"path:{stub}"],
                           project, settings=LOCAL, timeout=300)


def built_path(result: nix.NixResult) -> Path:
    """The out path of a `nix build --json` (Nix 2.8 has no --print-out-paths)."""
    assert result.returncode == 0, result.stderr
    return Path(json.loads(result.stdout)[0]["outputs"]["out"])


def test_flake_check_passes_with_stub_nixpkgs(project, stub_nixpkgs):
    """`nix flake check` evaluates every output and builds the checks (the stub VM test, the scripts)."""
    git_repo(project)
    result = nix_in(project, stub_nixpkgs, "flake", "check", "-L")
    assert result.returncode == 0, result.stderr
    assert "vm-test-inventory-tracker-host" in result.stderr or "running flake checks" in result.stderr


def test_flake_outputs(project, stub_nixpkgs):
    """The checks, the host configuration, the dev shell's contents and the formatter are there."""
    git_repo(project)
    checks = nix_in(project, stub_nixpkgs, "eval", "--json", ".#checks.x86_64-linux", "--apply", "builtins.attrNames")
    assert checks.returncode == 0, checks.stderr
    assert json.loads(checks.stdout) == ["dev-scripts", "vm-test"]
    configurations = nix_in(project, stub_nixpkgs, "eval", "--json", ".#nixosConfigurations",
                            "--apply", "builtins.attrNames")
    assert json.loads(configurations.stdout) == ["inventory-tracker"], configurations.stderr
    modules = nix_in(project, stub_nixpkgs, "eval", "--json", ".#nixosConfigurations.inventory-tracker.modules",
                     "--apply", "map (m: if builtins.isPath m then baseNameOf m else \"inline\")")
    assert json.loads(modules.stdout) == ["configuration.nix", "ec2.nix", "inline"], modules.stderr
    shell = nix_in(project, stub_nixpkgs, "build", "--no-link", "--json", ".#devShells.x86_64-linux.default")
    contents = built_path(shell).read_text()
    for name in ("tf-deploy", "tf-destroy", "build-nixos", "deploy", "terraform", "awscli2", "elixir", "erlang",
                 "python3-env", "nixos-rebuild"):
        assert f"-{name}" in contents, f"{name} missing from the dev shell: {contents}"
    formatter = nix_in(project, stub_nixpkgs, "eval", "--raw", ".#formatter.x86_64-linux.name")
    assert formatter.returncode == 0 and formatter.stdout, formatter.stderr


def test_vm_test_check_carries_the_test_script(project, stub_nixpkgs):
    """Building the (stub) VM test check evaluates its nodes and yields its Python test script."""
    git_repo(project)
    built = nix_in(project, stub_nixpkgs, "build", "--no-link", "--json", ".#checks.x86_64-linux.vm-test")
    script = built_path(built).read_text()
    compile(script, "vm-test", "exec")
    assert "inventory-tracker-{job}.timer" in script and "archive_mode" in script


def test_flake_check_fails_when_a_command_is_missing(project, stub_nixpkgs):
    """The check can fail: without nixos/scripts/deploy.sh the flake does not evaluate."""
    (project / "nixos" / "scripts" / "deploy.sh").unlink()
    git_repo(project)
    result = nix_in(project, stub_nixpkgs, "flake", "check")
    assert result.returncode != 0 and "deploy.sh" in result.stderr, result.stderr
