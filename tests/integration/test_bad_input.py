"""Bad input ends in one clear message, a non-zero exit, and nothing left running."""

import pytest

from harness_run import run_harness

INFRA_SUITE = "suites/test_infra.py"


def test_unknown_environment(tmp_path):
    result = run_harness(["--env", "qa", INFRA_SUITE], tmp_path)
    assert result.returncode == 4, result.output
    assert "unknown environment 'qa'; use --env with one of sandbox, staging, production" in result.output
    assert "Traceback" not in result.output
    assert result.leaks == []


def test_two_environments_at_once(tmp_path):
    result = run_harness(["-m", "sandbox or staging", INFRA_SUITE], tmp_path)
    assert result.returncode == 4, result.output
    assert "selects sandbox and staging; certify one environment per run" in result.output
    assert result.leaks == []


def test_missing_terraform_binary(tmp_path):
    result = run_harness([INFRA_SUITE], tmp_path, env={"HARNESS_TERRAFORM": "no-such-terraform"})
    assert result.returncode == 4, result.output
    assert "terraform binary 'no-such-terraform' not found on PATH; install Terraform" in result.output
    assert result.leaks == []


def test_unknown_instance_disk_choice(tmp_path):
    """A mistyped HARNESS_INSTANCE_DISK stops the run at its start, naming the two values, before anything exists."""
    result = run_harness([INFRA_SUITE], tmp_path, env={"HARNESS_INSTANCE_DISK": "ram"})
    assert result.returncode == 4, result.output
    assert "HARNESS_INSTANCE_DISK='ram' is not a choice: set it to 'disk'" in result.output
    assert "Traceback" not in result.output
    assert result.leaks == []


def test_missing_tfvars(tmp_path):
    result = run_harness(["--tfvars", str(tmp_path / "nope.tfvars"), INFRA_SUITE], tmp_path)
    assert result.returncode == 4, result.output
    assert "nope.tfvars does not exist" in result.output
    assert result.leaks == []


@pytest.mark.timeout(300)
def test_broken_tfvars(tmp_path):
    """A syntax error in the variables file: terraform's own error, once, and nothing leaked."""
    broken = tmp_path / "broken.tfvars"
    broken.write_text('ssh_allowed_cidrs = ["0.0.0.0/0"\nexpose_phoenix_port = maybe\n')
    result = run_harness(["--tfvars", str(broken), INFRA_SUITE], tmp_path)
    assert result.returncode == 3, result.output
    assert "harness error in stage infra: terraform apply failed" in result.output
    assert "Error:" in result.output and "broken.tfvars" in result.output
    assert result.output.count("harness error in stage infra") == 1
    assert result.certificate() is None
    assert result.leaks == []
    # the failed run's page says why, and shows the failed stage and its teardown
    page = (result.reports_dir / "certificate.html").read_text()
    assert "NOT CERTIFIED" in page and "harness error in stage infra: terraform apply failed" in page
    assert 'class="bar stage failed" data-name="infra"' in page


def test_failed_run_removes_a_stale_certificate(tmp_path):
    reports = tmp_path / "reports"
    reports.mkdir()
    (reports / "certificate.json").write_text('{"certified": true}')
    broken = tmp_path / "broken.tfvars"
    broken.write_text("this is not hcl")
    result = run_harness(["--tfvars", str(broken), INFRA_SUITE], tmp_path)
    assert result.returncode != 0
    assert not (reports / "certificate.json").exists()
    assert result.leaks == []
