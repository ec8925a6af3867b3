"""harness/nix.py: finding the tools, flags, classification of failures, nixos_switch."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from harness import nix
from harness.errors import HarnessError


def fake_tool(directory: Path, name: str, body: str) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / name
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(0o755)
    return path


def test_missing_nix_is_a_harness_error_with_an_install_hint(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(HarnessError, match="apt-get install nix-bin"):
        nix.find_nix()
    assert "not installed" in (nix.nix_available() or "")


def test_flags_local_mode_and_timeouts():
    """Every call enables flakes and short network timeouts; local mode turns the cache and sandbox off."""
    flags = nix.base_flags(nix.NixSettings(local=True, connect_timeout=5))
    assert flags[:2] == ["--extra-experimental-features", "nix-command flakes"]
    joined = " ".join(repr(flag) for flag in flags)
    assert "'connect-timeout' '5'" in joined and "'substituters' ''" in joined and "'sandbox' 'false'" in joined
    remote = nix.base_flags(nix.NixSettings(local=False))
    assert "substituters" not in remote and "sandbox" not in remote
    build = nix.base_flags(nix.NixSettings(local=False), fail_fast=False)
    assert "download-attempts" not in build and "connect-timeout" not in build


def test_fetch_failures_are_recognised():
    assert nix.is_fetch_failure("error: unable to download 'https://x': Couldn't resolve host name (6)")
    assert not nix.is_fetch_failure("error: undefined variable 'foo'")


def test_nixos_switch_needs_nixos_rebuild(monkeypatch, tmp_path):
    """Without nixos-rebuild on PATH the error names the tool and how to get it."""
    bin_dir = tmp_path / "bin"
    fake_tool(bin_dir, "nix", "exit 0\n")
    monkeypatch.setenv("PATH", str(bin_dir))
    with pytest.raises(HarnessError, match="nixos-rebuild.*not installed.*nix develop"):
        nix.nixos_switch(tmp_path, "192.0.2.10", "deploy")


def test_nixos_switch_needs_nix(monkeypatch, tmp_path):
    bin_dir = tmp_path / "bin"
    fake_tool(bin_dir, "nixos-rebuild", "exit 0\n")
    monkeypatch.setenv("PATH", str(bin_dir))
    with pytest.raises(HarnessError, match="`nix` is not installed"):
        nix.nixos_switch(tmp_path, "192.0.2.10", "deploy")


def test_nixos_switch_runs_the_documented_command(monkeypatch, tmp_path, caplog):
    """The switch runs in the flake dir with --flake/--target-host/--use-remote-sudo; its output is logged."""
    bin_dir = tmp_path / "bin"
    record = tmp_path / "record"
    fake_tool(bin_dir, "nix", "exit 0\n")
    fake_tool(bin_dir, "nixos-rebuild",
              f'pwd > {record}\necho "$@" >> {record}\necho "$NIX_SSHOPTS" >> {record}\n'
              'echo "building the system configuration..."\necho "activating the configuration..."\n')
    monkeypatch.setenv("PATH", f"{bin_dir}:/usr/bin:/bin")
    flake = tmp_path / "flake"
    flake.mkdir()
    key = tmp_path / "id_ed25519"
    with caplog.at_level("INFO", logger="harness.nix"):
        tail = nix.nixos_switch(flake, "192.0.2.10", "deploy", ssh_key=key)
    cwd, args, sshopts = record.read_text().splitlines()
    assert cwd == str(flake)
    assert args == "switch --flake .#inventory-tracker --target-host deploy@192.0.2.10 --use-remote-sudo"
    assert f"-i {key}" in sshopts and "StrictHostKeyChecking=accept-new" in sshopts
    assert "activating the configuration..." in tail
    assert "activating the configuration..." in caplog.text


def test_nixos_switch_failure_carries_the_output_tail(monkeypatch, tmp_path):
    bin_dir = tmp_path / "bin"
    fake_tool(bin_dir, "nix", "exit 0\n")
    fake_tool(bin_dir, "nixos-rebuild", 'echo "error: attribute missing in configuration" >&2\nexit 1\n')
    monkeypatch.setenv("PATH", f"{bin_dir}:/usr/bin:/bin")
    with pytest.raises(HarnessError, match="(?s)failed \\(exit 1\\).*attribute missing"):
        nix.nixos_switch(tmp_path, "192.0.2.10", "deploy")


@pytest.mark.skipif(shutil.which("nix") is None, reason="nix is not installed")
def test_flake_checks_and_build_against_real_nix(fixture_flake):
    """flake_check_names and build_check on the fixture flake (real nix, no nixpkgs)."""
    flake = fixture_flake("checks")
    settings = nix.NixSettings(local=True)
    assert nix.flake_check_names(flake, "x86_64-linux", settings=settings) == ["fails", "passes"]
    assert nix.flake_check_names(flake, "aarch64-darwin", settings=settings) == []
    assert nix.build_check(flake, "x86_64-linux", "passes", settings=settings)[0] is True
    ok, tail = nix.build_check(flake, "x86_64-linux", "fails", settings=settings)
    assert ok is False and "FIXTURE-FAILURE-MARKER" in tail and "Git tree" not in tail


@pytest.mark.skipif(shutil.which("nix") is None, reason="nix is not installed")
def test_unfetchable_and_broken_flakes_raise_flake_eval_error(fixture_flake):
    with pytest.raises(nix.FlakeEvalError) as unfetchable:
        nix.flake_checks(fixture_flake("unfetchable"))
    assert unfetchable.value.fetch_failed and "cannot be fetched here" in str(unfetchable.value)
    with pytest.raises(nix.FlakeEvalError) as broken:
        nix.flake_checks(fixture_flake("broken"), settings=nix.NixSettings(local=True))
    assert not broken.value.fetch_failed and "FIXTURE-EVAL-ERROR" in str(broken.value)
