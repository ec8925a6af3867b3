"""The pytest binding (-m nixos) against real nix and fixture flakes that need no nixpkgs.

Each test runs pytest as a subprocess with only harness.plugin.nixos_checks loaded
and reads its JUnit report.
"""
from __future__ import annotations

import os
import shutil

import pytest

pytestmark = pytest.mark.skipif(shutil.which("nix") is None,
                                reason="nix is not installed: `make setup` installs Debian's nix-bin")

SYSTEM = "x86_64-linux"


def test_passing_and_failing_checks_are_items_with_their_outcome(fixture_flake, run_pytest):
    """One item per check: the passing check passes, the failing one fails with its log tail."""
    flake = fixture_flake("checks")
    run = run_pytest("-m", "nixos", "--flake", str(flake), "--nix-local")
    cases = run.cases()
    assert set(cases) == {f"checks.{SYSTEM}.passes", f"checks.{SYSTEM}.fails"}, run.output
    passed = cases[f"checks.{SYSTEM}.passes"]
    assert passed.find("failure") is None and passed.find("error") is None, run.output
    failure = cases[f"checks.{SYSTEM}.fails"].find("failure")
    assert failure is not None, run.output
    report = (failure.get("message") or "") + (failure.text or "")
    assert "FIXTURE-FAILURE-MARKER line one" in report, report
    assert "the second line of the failing builder's log" in report, report
    assert "failed with exit code 3" in report, report
    assert "Traceback" not in report and "harness/nix.py" not in report, report
    assert run.returncode == 1, run.output
    assert "1 failed, 1 passed" in run.output, run.output


def test_unfetchable_inputs_end_in_one_clear_failure(fixture_flake, run_pytest):
    """A flake whose inputs cannot be fetched: one failure naming that, fast, no traceback."""
    flake = fixture_flake("unfetchable")
    run = run_pytest("-m", "nixos", "--flake", str(flake), timeout=120)
    cases = list(run.junit.iter("testcase"))
    assert len(cases) == 1, run.output
    failure = cases[0].find("failure")
    assert failure is not None, run.output
    report = (failure.get("message") or "") + (failure.text or "")
    assert "the flake's inputs cannot be fetched here" in report, report
    assert "127.0.0.1:9" in report, report
    assert "machine with Nix and network" in report, report
    assert "Traceback" not in run.output, run.output
    assert run.returncode == 1 and "1 failed" in run.output, run.output


def test_flake_that_does_not_evaluate_is_one_failure(fixture_flake, run_pytest):
    """A broken flake: one failure that quotes Nix's evaluation error."""
    flake = fixture_flake("broken")
    run = run_pytest("-m", "nixos", "--flake", str(flake), "--nix-local")
    cases = list(run.junit.iter("testcase"))
    assert len(cases) == 1, run.output
    failure = cases[0].find("failure")
    assert failure is not None, run.output
    report = (failure.get("message") or "") + (failure.text or "")
    assert "does not evaluate" in report and "FIXTURE-EVAL-ERROR" in report, report
    assert "cannot be fetched" not in report, report
    assert "Traceback" not in run.output, run.output


def test_without_nix_one_skip_with_the_reason(fixture_flake, run_pytest, tmp_path):
    """No nix on PATH: a single skipped item whose reason says how to install Nix."""
    flake = fixture_flake("checks")
    empty_bin = tmp_path / "bin"
    empty_bin.mkdir()
    run = run_pytest("-m", "nixos", "--flake", str(flake), env={"PATH": str(empty_bin)})
    cases = list(run.junit.iter("testcase"))
    assert len(cases) == 1, run.output
    skipped = cases[0].find("skipped")
    assert skipped is not None, run.output
    assert "nix" in (skipped.get("message") or "") and "install" in (skipped.get("message") or ""), run.output
    assert run.returncode == 0, run.output


def test_without_m_nixos_the_binding_adds_nothing(fixture_flake, run_pytest, tmp_path):
    """Without -m nixos no item is added and nix is never called."""
    flake = fixture_flake("checks")
    (tmp_path / "bin").mkdir()
    spy = tmp_path / "bin" / "nix"
    spy.write_text(f"#!/bin/sh\ntouch {tmp_path / 'nix-was-called'}\nexit 1\n")
    spy.chmod(0o755)
    run = run_pytest("--flake", str(flake), "-m", "not nixos",
                     env={"PATH": f"{tmp_path / 'bin'}:{os.environ['PATH']}"})
    assert list(run.junit.iter("testcase")) == [], run.output
    assert not (tmp_path / "nix-was-called").exists(), run.output


def test_keyword_selects_one_check(fixture_flake, run_pytest):
    """-k narrows the checks like any other test: only the passing one runs."""
    flake = fixture_flake("checks")
    run = run_pytest("-m", "nixos", "-k", "passes", "--flake", str(flake), "--nix-local")
    assert set(run.cases()) == {f"checks.{SYSTEM}.passes"}, run.output
    assert run.returncode == 0, run.output


def test_missing_system_is_one_failure(fixture_flake, run_pytest):
    """Asking for a system the flake has no checks for fails once and lists the systems it has."""
    flake = fixture_flake("checks")
    run = run_pytest("-m", "nixos", "--flake", str(flake), "--nix-local", "--nix-system", "riscv64-linux")
    cases = list(run.junit.iter("testcase"))
    assert len(cases) == 1, run.output
    failure = cases[0].find("failure")
    assert failure is not None, run.output
    assert "no checks for riscv64-linux" in (failure.text or ""), run.output
    assert "x86_64-linux (2)" in (failure.text or ""), run.output
