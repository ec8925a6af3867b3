"""Faults the static checks must catch, each in its own broken copy of terraform/.

Each fault edits a copy of the configuration (an unformatted file, a reference to a
resource that does not exist, an unencrypted root volume checkov flags, an inline skip
of a check that applies to nothing here, a skip without its reason) and runs the static
suite against the copy as a user would (`pytest --terraform-dir=<copy>
suites/test_static.py`, no deployment): exactly the guarding check fails, with a message
naming the fault. The unbroken configuration passing the same suite is
tests/integration/test_infra_certification.py::test_sandbox_infra_is_certified.
"""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Callable

import pytest

from harness_run import HarnessRun, run_harness
from terraform_copy import copy_terraform, edit, unencrypted_root_volume

SUITE = "suites/test_static.py"
STALE_SKIP = "CKV_AWS_16"  # RDS encryption: the configuration has no database instance, so checkov never evaluates it


def unformatted_file(tf: Path) -> None:
    (tf / "fault_unformatted.tf").write_text('locals {\nfault_unformatted   =    "not aligned"\n}\n')


def undeclared_reference(tf: Path) -> None:
    # In an output: a reference checkov does not follow, so only validate sees it.
    edit(tf / "outputs.tf", "value       = aws_instance.app.id", "value       = aws_instance.no_such_instance.id")


def stale_skip(tf: Path) -> None:
    edit(tf / "main.tf", 'resource "aws_instance" "app" {\n',
         'resource "aws_instance" "app" {\n'
         f"  #checkov:skip={STALE_SKIP}:left over from a database this configuration no longer has\n")


def skip_without_reason(tf: Path) -> None:
    text = (tf / "main.tf").read_text()
    line = next(line for line in text.splitlines() if "#checkov:skip=CKV_AWS_126:" in line)
    edit(tf / "main.tf", line, line.split("CKV_AWS_126:")[0] + "CKV_AWS_126")


# fault -> (edit of the copy, the check that must fail (and no other), words its message must hold)
FAULTS: dict[str, tuple[Callable[[Path], None], str, str]] = {
    "unformatted-file": (unformatted_file, "test_terraform_fmt", "fault_unformatted.tf"),
    "undeclared-reference": (undeclared_reference, "test_terraform_validate", "no_such_instance"),
    "unencrypted-root-volume": (unencrypted_root_volume, "test_checkov_passes", "CKV_AWS_8"),
    "stale-skip": (stale_skip, "test_checkov_skips_are_not_stale", f": {STALE_SKIP}"),
    "skip-without-reason": (skip_without_reason, "test_checkov_skips_have_reasons", "skip of CKV_AWS_126 has no reason"),
}


@pytest.fixture(scope="module")
def static_runs(tmp_path_factory) -> dict[str, HarnessRun]:
    """The static suite over each broken copy, two at a time (checkov is most of each run)."""
    # The folders before the threads: two first calls at once race to make the worker's base folder.
    folders = {name: tmp_path_factory.mktemp(name) for name in FAULTS}

    def one(name: str) -> HarnessRun:
        break_copy = FAULTS[name][0]
        workdir = folders[name]
        copy = copy_terraform(workdir / "terraform")
        break_copy(copy)
        return run_harness([f"--terraform-dir={copy}", SUITE], workdir)

    with ThreadPoolExecutor(max_workers=2) as pool:
        return dict(zip(FAULTS, pool.map(one, FAULTS)))


@pytest.mark.timeout(900)
@pytest.mark.parametrize("fault", [pytest.param(name, marks=pytest.mark.breaks(f"{SUITE}::{check}"))
                                   for name, (_, check, _) in FAULTS.items()])
def test_static_fault_fails_only_its_check(fault, static_runs):
    """The broken copy fails exactly the guarding static check, naming the fault; nothing is certified."""
    _, check, words = FAULTS[fault]
    result = static_runs[fault]
    outcomes = result.outcomes()
    every_check = {guarding for _, guarding, _ in FAULTS.values()}
    assert set(outcomes) == every_check, f"the static suite did not run every check:\n{result.output[-3000:]}"
    failed = {name for name, (outcome, _) in outcomes.items() if outcome != "passed"}
    assert failed == {check}, f"fault {fault}: expected only {check} to fail, got {sorted(failed)}:\n" + "\n".join(
        f"  {name}: {message.strip()[:500]}" for name, (outcome, message) in outcomes.items() if name in failed)
    assert words in outcomes[check][1], outcomes[check][1]
    assert result.returncode == 1 and result.certificate() is None
    assert result.leaks == []
