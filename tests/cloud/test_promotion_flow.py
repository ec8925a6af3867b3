"""The promotion flow a team runs, end to end, in a long-lived sandbox cloud of its own.

Each step is a harness run in a subprocess, in a clone of this checkout (so that a step can commit
a change), against one sandbox cloud (``HARNESS_CLOUD_DIR`` in a temporary folder) that lives for
the whole module: staging deploys and certifies, production applies only behind the gate, a
read-only production certification changes nothing, a new commit closes the gate until staging is
certified for it, drift fails production, and a SIGKILLed staging run cleaned up by ``make clean``
leaves staging's deployment and state alone. The tests run in order and build on each other.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import pytest

from harness.sandbox.cloud import STATE_BUCKET, load
from harness.spec import REPO_ROOT
from harness_run import HarnessRun, interrupt_harness, processes_tagged, run_harness

STAGING = ["-m", "staging", "--cloud", "sandbox"]
PRODUCTION = ["-m", "production", "--cloud", "sandbox"]
APPLY = [*PRODUCTION, "--allow-production-apply"]
USAGE_ERROR = 4  # pytest's exit status for an error in the input (the gate's refusals come before anything runs)


@dataclass
class Flow:
    """The clone the runs are made in, the cloud they deploy to, and what the steps measured."""

    checkout: Path
    cloud_dir: Path
    workdir: Path
    seconds: dict[str, float] = field(default_factory=dict)

    def run(self, name: str, args: list[str], extra_path: Path | None = None, **kw) -> HarnessRun:
        """One harness run (its wall time recorded as ``name``); ``extra_path``: where ``-p`` plugins are."""
        start = time.monotonic()
        env = {"HARNESS_CLOUD_DIR": str(self.cloud_dir), **({"PYTHONPATH": str(extra_path)} if extra_path else {})}
        result = run_harness(args, self.workdir / name, root=self.checkout, env=env, **kw)
        self.seconds[name] = round(time.monotonic() - start, 1)
        return result

    def git(self, *args: str) -> str:
        return subprocess.run(["git", "-C", str(self.checkout), *args], check=True, capture_output=True,
                              text=True).stdout.strip()

    def cloud(self):
        return load(self.cloud_dir)


def _clone(target: Path) -> Path:
    """A clone of this checkout's HEAD, with the checkov virtualenv of this checkout (not installed twice)."""
    subprocess.run(["git", "clone", "-q", "--no-hardlinks", str(REPO_ROOT), str(target)], check=True)
    subprocess.run(["git", "-C", str(target), "config", "user.email", "flow@inventory-tracker.invalid"], check=True)
    subprocess.run(["git", "-C", str(target), "config", "user.name", "promotion flow test"], check=True)
    checkov = REPO_ROOT / ".venv-checkov"
    if checkov.exists():
        (target / ".venv-checkov").symlink_to(checkov.resolve())
    return target


def _cloud(command: str, cloud_dir: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "harness.sandbox.cloud", command, "--dir", str(cloud_dir)],
                          capture_output=True, text=True, cwd=REPO_ROOT, timeout=300)


@pytest.fixture(scope="module")
def flow(tmp_path_factory) -> Iterator[Flow]:
    """A clone and a sandbox cloud of its own (make cloud-up); the cloud is taken down (make cloud-down) after."""
    base = tmp_path_factory.mktemp("flow")
    started_at = time.monotonic()
    flow = Flow(_clone(base / "checkout"), base / "cloud", base / "runs")
    started = _cloud("up", flow.cloud_dir)
    assert started.returncode == 0, started.stdout + started.stderr
    try:
        yield flow
    finally:
        names = [slot.name for slot in flow.cloud().slots.values()] if (flow.cloud_dir / "cloud.json").exists() else []
        stopped = _cloud("down", flow.cloud_dir)
        # the README's figures: each step's wall time, a read-only production certification of a deployment
        # that is up, a good switch's unavailability, a failed certification to a re-certified rollback
        (REPO_ROOT / "reports").mkdir(exist_ok=True)
        (REPO_ROOT / "reports" / "promotion-flow.json").write_text(json.dumps(
            {**flow.seconds, "whole_flow": round(time.monotonic() - started_at, 1)}, indent=2) + "\n")
        assert stopped.returncode == 0, stopped.stdout + stopped.stderr
        from harness.sandbox.cleanup import leftovers_by_name

        assert not [item for name in names for item in leftovers_by_name(name)], "make cloud-down left something"
        assert not flow.cloud_dir.exists()


def _leaks(flow: Flow, result: HarnessRun) -> list[str]:
    """What a run left behind, besides the cloud's own instances (booted by a run, they stay with the cloud)."""
    return [leak for leak in result.leaks if str(flow.cloud_dir) not in leak]


def _refused(result: HarnessRun, why: str) -> None:
    refused = result.returncode == USAGE_ERROR and "production apply refused" in result.output
    assert refused, f"exit {result.returncode}, not refused:\n{result.output[-3000:]}"
    said = why in result.output
    assert said, f"refused, but not because {why!r}:\n{result.output[-1500:]}"
    assert not result.leaks, result.leaks


def _certified(flow: Flow, result: HarnessRun, environment: str) -> dict:
    assert result.returncode == 0, result.output[-6000:]
    certificate = json.loads((result.reports_dir / f"certificate-{environment}.json").read_text())
    assert certificate["certified"] and certificate["environment"] == environment
    assert certificate["cloud"] == "sandbox"
    assert (result.reports_dir / f"certificate-{environment}.json.sig").is_file()
    assert not _leaks(flow, result), result.leaks
    return certificate


def test_production_apply_without_a_staging_certificate_is_refused(flow):
    _refused(flow.run("apply-without-staging", APPLY), "does not exist")


def test_a_partial_staging_certificate_does_not_open_the_gate(flow):
    partial = flow.run("staging-partial", [*STAGING, "-k", "test_os_is_the_environments"])
    assert partial.returncode == 0, partial.output[-6000:]
    # staging's first apply: its container boots as soon as the instance exists, while Terraform still waits for
    # the bucket's lifecycle rule
    stages = {stage["name"]: stage for stage in json.loads(
        (partial.reports_dir / "certificate-staging.json").read_text())["stages"]}
    assert stages["instance"]["ended_at"] < stages["infra"]["ended_at"], stages
    _refused(flow.run("apply-after-partial", APPLY), "partial")


def test_staging_deploys_and_certifies_with_state_in_the_clouds_bucket(flow):
    result = flow.run("staging", STAGING)
    certificate = _certified(flow, result, "staging")
    verified = subprocess.run([sys.executable, "-m", "harness", "verify",
                               str(result.reports_dir / "certificate-staging.json")], capture_output=True, text=True,
                              cwd=flow.checkout, env={**os.environ, "PYTHONPATH": str(flow.checkout),
                                                      "HARNESS_CLOUD_DIR": str(flow.cloud_dir)}, timeout=60)
    assert verified.returncode == 0 and verified.stdout.startswith("VALID"), verified.stdout + verified.stderr
    assert certificate["host_system"]["kind"].startswith("sandbox provisioner")
    s3 = flow.cloud().endpoint().client("s3")
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=STATE_BUCKET).get("Contents", [])]
    assert "staging/terraform.tfstate" in keys
    assert f"certificates/staging/{flow.git('rev-parse', 'HEAD')}.json" in keys
    assert not [key for key in keys if key.endswith(".tflock")], f"a state lock was left: {keys}"
    assert flow.cloud().slot("staging").running()


def test_production_applies_behind_the_gate_and_certifies(flow):
    certificate = _certified(flow, flow.run("production-apply", APPLY), "production")
    assert certificate["instance_id"] == flow.cloud().slot("production").instance_id()


def test_read_only_production_changes_nothing_and_certifies(flow):
    s3 = flow.cloud().endpoint().client("s3")
    before = s3.head_object(Bucket=STATE_BUCKET, Key="production/terraform.tfstate")["ETag"]
    _certified(flow, flow.run("production-read-only", PRODUCTION), "production")
    assert s3.head_object(Bucket=STATE_BUCKET, Key="production/terraform.tfstate")["ETag"] == before


def test_a_new_commit_needs_a_clean_staging_certificate_of_its_own(flow):
    readme = flow.checkout / "README.md"
    readme.write_text(readme.read_text() + "\nA change the promotion flow test commits.\n")
    flow.git("commit", "-qam", "a change to promote")
    _refused(flow.run("apply-new-commit", APPLY), f"staging certificate for commit {flow.git('rev-parse', 'HEAD')}")
    # staging certified from a dirty tree (one check is enough: the gate names a dirty tree before a partial run)
    readme.write_text(readme.read_text() + "\nNot committed.\n")
    dirty = flow.run("staging-dirty", [*STAGING, "-k", "test_os_is_the_environments"])
    assert dirty.returncode == 0, dirty.output[-6000:]
    flow.git("checkout", "--", "README.md")
    _refused(flow.run("apply-after-dirty", APPLY), "dirty tree")
    _certified(flow, flow.run("staging-new-commit", STAGING), "staging")
    switched = _certified(flow, flow.run("production-apply-new-commit", APPLY), "production")
    # a good switch of a configured host: the generation before it kept, a base backup first, /health polled
    assert switched["switch"]["previous_generation"] >= 1
    assert switched["switch"]["base_backup"].startswith("taken")
    health = switched["switch"]["health"]
    assert health["polls"] > 0 and health["longest_unavailable_seconds"] >= 0
    flow.seconds["good_switch_longest_unavailable"] = health["longest_unavailable_seconds"]


def test_a_switch_to_a_broken_generation_is_rolled_back_and_recertified(flow):
    result = flow.run("production-broken-switch", [*APPLY, "-p", "broken_switch"],
                      extra_path=flow.checkout / "tests" / "cloud")
    assert result.returncode != 0, result.output[-6000:]
    assert not (result.reports_dir / "certificate-production.json").exists()
    rollback_record = result.reports_dir / "rollback-production.json"
    assert rollback_record.exists(), f"no rollback record; the run said:\n{result.output[-8000:]}"
    record = json.loads(rollback_record.read_text())
    assert record["certified"] is False
    rollback = record["rollback"]
    assert any("test_web.py" in check for check in rollback["failed_checks"]), rollback
    assert rollback["rolled_back"] and rollback["recertified"], result.output[-6000:]
    assert rollback["rolled_back_to_generation"] == record["switch"]["previous_generation"]
    recertified = json.loads((result.reports_dir / "rollback" / "certificate-production.json").read_text())
    assert recertified["certified"] and recertified["environment"] == "production"
    assert "rolled back to generation" in result.output and "re-certified" in result.output
    flow.seconds["failed_certification_to_recertified_rollback"] = rollback["seconds_to_recertified"]
    assert not _leaks(flow, result), result.leaks


@pytest.mark.breaks("suites/test_host.py::test_exactly_allowed_ports_answer")
def test_ssh_open_to_the_internet_at_the_edge_fails_only_the_exposure_check(flow):
    result = flow.run("production-ssh-open-at-the-edge", [*PRODUCTION, "-p", "open_ssh_edge"],
                      extra_path=flow.checkout / "tests" / "cloud")
    assert result.failed() == {"test_exactly_allowed_ports_answer"}, result.output[-6000:]
    message = result.outcomes()["test_exactly_allowed_ports_answer"][1]
    assert "SSH (22) answers from the internet, outside ssh_allowed_cidrs" in message, message
    assert not _leaks(flow, result), result.leaks


@pytest.mark.breaks("suites/test_drift.py::test_no_drift", "suites/test_infra.py::test_ingress_is_exactly_the_declared_rules")
def test_drift_added_through_the_api_fails_read_only_production(flow):
    cloud = flow.cloud()
    ec2 = cloud.endpoint().client("ec2")
    instance = cloud.slot("production").instance_id()
    described = ec2.describe_instances(InstanceIds=[instance])["Reservations"][0]["Instances"][0]
    group = described["SecurityGroups"][0]["GroupId"]
    ec2.authorize_security_group_ingress(GroupId=group, IpPermissions=[{
        "IpProtocol": "tcp", "FromPort": 8080, "ToPort": 8080, "IpRanges": [{"CidrIp": "198.51.100.0/24"}]}])
    result = flow.run("production-drift", PRODUCTION)
    # the plan shows the drift, and the rules read back from the API are no longer the declared ones
    assert result.failed() == {"test_no_drift", "test_ingress_is_exactly_the_declared_rules"}, result.output[-6000:]
    assert "aws_security_group.web: update (ingress)" in result.output, result.output[-6000:]
    assert not (result.reports_dir / "certificate-production.json").exists()
    assert not _leaks(flow, result), result.leaks


def test_make_clean_after_a_killed_staging_run_leaves_staging_alone(flow):
    cloud = flow.cloud()
    slot = cloud.slot("staging")
    instance = slot.instance_id()
    killed = interrupt_harness(STAGING, flow.workdir / "staging-killed", "stage host ... finished", sig=signal.SIGKILL,
                               root=flow.checkout, env={"HARNESS_CLOUD_DIR": str(flow.cloud_dir)})
    assert killed.returncode == -signal.SIGKILL, killed.output[-3000:]
    swept = subprocess.run([sys.executable, "-m", "harness.sweep", f"--runs-dir={killed.runs_dir}"],
                           capture_output=True, text=True, cwd=flow.checkout, timeout=300,
                           env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "PYTHONPATH": str(flow.checkout),
                                "HARNESS_CLOUD_DIR": str(flow.cloud_dir)})
    assert swept.returncode == 0, swept.stdout + swept.stderr
    assert "left running: the sandbox cloud" in swept.stdout
    assert not list(killed.runs_dir.iterdir()), "make clean left the killed run's folder"
    assert slot.running() and slot.instance_id() == instance
    s3 = cloud.endpoint().client("s3")
    state = json.loads(s3.get_object(Bucket=STATE_BUCKET, Key="staging/terraform.tfstate")["Body"].read())
    assert any(r["type"] == "aws_instance" for r in state["resources"])
    reservations = cloud.endpoint().client("ec2").describe_instances(InstanceIds=[instance])["Reservations"]
    assert reservations[0]["Instances"][0]["State"]["Name"] == "running"
    assert not processes_tagged(str(flow.workdir / "staging-killed")), "the killed run left processes after make clean"
