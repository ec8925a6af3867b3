"""The instance stage through the real fixtures (moto + terraform + container), run as a user would run pytest."""
from __future__ import annotations

import re
import signal

import pytest

from harness.sandbox.cleanup import leftovers_by_name
from harness.runid import run_ids_in
from harness.spec import REPO_ROOT
from harness_run import interrupt_harness, run_harness
from sandbox_support import requires_root

pytestmark = pytest.mark.timeout(900)
HOST_SUITE = "suites/test_host.py"


def _sandbox_leftovers(output: str) -> list[str]:
    """What the run(s) named in ``output`` left on this machine (other runs may be going on concurrently)."""
    run_ids = run_ids_in(output)
    assert run_ids, "no run id in the harness output"
    return [item for run_id in sorted(run_ids) for item in leftovers_by_name(run_id)]


def _stage_seconds(output: str, name: str) -> float:
    found = re.findall(rf"stage {name} \.\.\. finished in ([0-9.]+) s", output)
    assert found, f"no finished stage {name} in the output"
    return float(found[-1])


def _teardown_seconds(output: str) -> tuple[dict[str, float], float]:
    """The teardown's steps and their wall time, from the run's stage timings."""
    steps = {name: float(seconds) for name, seconds in re.findall(r"(?m)^teardown ([a-z-]+) +([0-9.]+) s$", output)}
    total = re.findall(r"(?m)^teardown \(all steps\) +([0-9.]+) s$", output)
    assert steps and total, f"no teardown timings in the output:\n{output[-3000:]}"
    return steps, float(total[-1])


def test_host_suite_passes_then_an_interrupted_teardown_leaves_nothing(tmp_path):
    """pytest suites/test_host.py in the sandbox: every host check passes, the instance stage takes <= 15 s; then
    Ctrl-C while Terraform destroys and the container is removed beside it: both end, nothing remains.

    (One deployment for both: a run that ends without a signal leaves nothing either, in every other run here.)
    """
    requires_root()
    result = interrupt_harness([HOST_SUITE], tmp_path, "terraform destroy ...", sig=signal.SIGINT, delay=0.5)
    assert result.failed() == set(), result.output[-4000:]
    assert len(result.outcomes()) >= 7
    seconds = _stage_seconds(result.output, "instance")
    print(f"\n[sandbox tests] stage instance through the fixtures: {seconds:.1f} s")
    assert seconds <= 15, f"the instance stage took {seconds:.1f} s"
    assert result.returncode == 2, result.output[-3000:]  # pytest's "interrupted", after the whole teardown
    assert "SIGINT during the teardown: the teardown goes on to its end" in result.output, result.output[-3000:]
    assert re.search(r"terraform destroy \.\.\. finished", result.output), result.output[-3000:]
    assert result.leaks == [], result.output[-3000:]
    assert _sandbox_leftovers(result.output) == [], result.output[-3000:]
    # the container is removed while Terraform destroys: the teardown's wall time is less than its steps' sum
    steps, wall = _teardown_seconds(result.output)
    assert {"instance-remove", "terraform-destroy"} <= set(steps), steps
    assert wall < sum(steps.values()), (steps, wall)


@pytest.mark.breaks("suites/test_host.py::test_exactly_allowed_ports_answer")
def test_ssh_rule_changed_in_terraform_changes_what_the_internet_sees(tmp_path):
    """SSH allowed only from a network that is not the prober's: 22 does not answer, the exposure check fails."""
    requires_root()
    tfvars = (REPO_ROOT / "terraform" / "sandbox.tfvars").read_text()
    changed, count = re.subn(r"(?m)^ssh_allowed_cidrs\s*=.*$", 'ssh_allowed_cidrs = ["192.0.2.0/24"]', tfvars)
    assert count == 1, "terraform/sandbox.tfvars has no ssh_allowed_cidrs line"
    path = tmp_path / "narrow-ssh.tfvars"
    path.write_text(changed)
    result = run_harness(["--tfvars", str(path), HOST_SUITE], tmp_path)
    failed = result.failed()
    assert any("test_exactly_allowed_ports_answer" in name for name in failed), result.output[-4000:]
    message = next(msg for name, (_, msg) in result.outcomes().items() if "allowed_ports" in name)
    assert "SSH (22) does not answer from the internet" in message
    assert {n for n in failed if "allowed_ports" not in n} == set(), "only the exposure check may fail"
    assert result.leaks == []
    assert _sandbox_leftovers(result.output) == []


def test_interrupt_during_the_instance_stage_leaves_nothing(tmp_path):
    """Ctrl-C while the container boots: the harness stops, and no container, netns, veth or nft table remains.

    (Signals at other moments of a boot: tests/sandbox/test_lifecycle.py, without terraform.)
    """
    requires_root()
    result = interrupt_harness([HOST_SUITE], tmp_path, "waiting for SSH to answer", sig=signal.SIGINT)
    assert result.returncode != 0
    assert result.leaks == [], result.output[-3000:]
    assert _sandbox_leftovers(result.output) == [], result.output[-3000:]
