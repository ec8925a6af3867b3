"""Every .nix file of the repository parses (nix-instantiate --parse, Debian's nix-bin)."""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from harness.spec import REPO_ROOT

pytestmark = pytest.mark.skipif(shutil.which("nix-instantiate") is None,
                                reason="nix-instantiate is not installed: `make setup` installs Debian's nix-bin")


def nix_files() -> list[Path]:
    """The repository's .nix files: tracked, plus new ones not ignored by .gitignore."""
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z", "--", "*.nix"],
        cwd=REPO_ROOT, capture_output=True, text=True, check=True,
    ).stdout
    return sorted(REPO_ROOT / name for name in listed.split("\0") if name and (REPO_ROOT / name).is_file())


def test_the_repository_has_its_nix_files():
    """The flake and the NixOS configuration are among the files checked (the list is not empty)."""
    names = {str(path.relative_to(REPO_ROOT)) for path in nix_files()}
    assert {"flake.nix", "nixos/configuration.nix", "nixos/tests/vm.nix"} <= names, sorted(names)


@pytest.mark.parametrize("path", nix_files(), ids=lambda path: str(path.relative_to(REPO_ROOT)))
def test_nix_file_parses(path: Path):
    """nix-instantiate --parse accepts the file (syntax, and no undefined variables)."""
    result = subprocess.run(["nix-instantiate", "--parse", str(path)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, f"{path.relative_to(REPO_ROOT)} does not parse:\n{result.stderr}"


def test_parse_catches_a_broken_file(tmp_path: Path):
    """The check can fail: an undefined variable is a parse error."""
    broken = tmp_path / "broken.nix"
    broken.write_text("{ a = undefinedVariable; }\n")
    result = subprocess.run(["nix-instantiate", "--parse", str(broken)], capture_output=True, text=True, timeout=60)
    assert result.returncode != 0 and "undefined variable" in result.stderr, result.stderr
