"""One AWS provider process serves a working copy's Terraform commands against a stand-in API
(harness/provider_server.py): real terraform and the real provider against moto."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from harness.aws import AwsEndpoint
from harness.errors import HarnessError
from harness.keys import generate_keypair
from harness.process import pid_alive
from harness.provider_server import reattach_value
from harness.retry import wait_until
from harness.sandbox.cleanup import process_cwds
from harness.terraform import ENDPOINT_OVERRIDE_FILE, Terraform, endpoint_override
from test_replay_recovery import KEY_PAIR_CONFIG, initialised_terraform, moto  # noqa: F401 (moto: a fixture)

PRINTED = ("\tTF_REATTACH_PROVIDERS='{\"registry.terraform.io/hashicorp/aws\":{\"Protocol\":\"grpc\",\"ProtocolVersion\""
           ":5,\"Pid\":4242,\"Test\":true,\"Addr\":{\"Network\":\"unix\",\"String\":\"/tmp/plugin1\"}}}'\n")


def test_the_printed_address_is_read_and_a_cut_one_refused():
    assert '"Pid":4242' in str(reattach_value(PRINTED))
    assert reattach_value("Provider started. To attach Terraform CLI, set ...\n") is None
    with pytest.raises(ValueError):
        reattach_value(PRINTED[:60] + "'\n")


def test_only_a_plain_http_stand_in_uses_a_provider_server(tmp_path: Path, monkeypatch):
    terraform = Terraform(tmp_path, {})
    assert not terraform.uses_provider_server()  # AWS itself: Terraform starts its providers
    (tmp_path / ENDPOINT_OVERRIDE_FILE).write_text(endpoint_override("http://127.0.0.1:5000"))
    assert terraform.uses_provider_server()
    monkeypatch.setenv("HARNESS_TF_REATTACH", "off")
    assert not Terraform(tmp_path, {}).uses_provider_server()
    monkeypatch.delenv("HARNESS_TF_REATTACH")
    (tmp_path / ENDPOINT_OVERRIDE_FILE).write_text(endpoint_override("https://127.0.0.1:5000"))
    assert not terraform.uses_provider_server()  # a CA bundle would be needed, which the server goes without


def _processes_in(folder: Path) -> list[int]:
    return [pid for pid, cwd, _ in process_cwds() if cwd == str(folder) and pid != os.getpid()]


@pytest.mark.timeout(300)
def test_commands_share_one_provider_and_close_ends_it(tmp_path: Path, moto: AwsEndpoint):  # noqa: F811
    """An apply and a destroy go through one provider process working in the working copy; close() ends it."""
    keypair = generate_keypair(tmp_path / "keys", "provider-server-test")
    terraform, tfvars = initialised_terraform(tmp_path, KEY_PAIR_CONFIG, moto)
    try:
        terraform.apply(tfvars, {"public_key": keypair.public_openssh})
        first = terraform.provider_pid
        assert first is not None and pid_alive(first)
        assert first in _processes_in(terraform.workdir)  # beside the memo in front of it (harness/provider_memo.py)
        terraform.destroy(tfvars, {"public_key": keypair.public_openssh}, refresh=False)
        assert terraform.provider_pid == first
        assert moto.client("ec2").describe_key_pairs()["KeyPairs"] == []
    finally:
        terraform.close()
    assert terraform.provider_pid is None and not pid_alive(first)
    assert _processes_in(terraform.workdir) == []


LOG_GROUP_CONFIG = """
terraform {
  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "~> 5.100"
    }
  }
}

variable "name" {
  type = string
}

resource "aws_cloudwatch_log_group" "this" {
  name = var.name
}
"""


@pytest.mark.timeout(300)
def test_a_failed_command_ends_its_provider_and_the_next_starts_one(tmp_path: Path, moto: AwsEndpoint):  # noqa: F811
    """A name the provider refuses fails the apply; its provider process is gone, and the next apply has its own."""
    terraform, tfvars = initialised_terraform(tmp_path, LOG_GROUP_CONFIG, moto)
    try:
        with pytest.raises(HarnessError, match="terraform apply failed"):
            terraform.apply(tfvars, {"name": "not a log group name!"})
        assert terraform.provider_pid is None
        assert _processes_in(terraform.workdir) == []
        terraform.apply(tfvars, {"name": "provider-server-test"})
        assert terraform.provider_pid is not None and pid_alive(terraform.provider_pid)
        assert [g["logGroupName"] for g in moto.client("logs").describe_log_groups()["logGroups"]] == [
            "provider-server-test"]
    finally:
        terraform.close()


@pytest.mark.timeout(300)
def test_terraform_talks_to_the_server_and_a_lost_one_is_replaced(tmp_path: Path, moto: AwsEndpoint):  # noqa: F811
    """With its provider process killed behind its back, the working copy's next plan fails (Terraform went to that
    process, not to a provider of its own); the one after starts a new process and succeeds."""
    terraform, tfvars = initialised_terraform(tmp_path, LOG_GROUP_CONFIG, moto)
    # The killed provider cannot remove its Unix socket file: it is left in this test's folder, not in /tmp.
    temporary = tmp_path / "tmp"
    temporary.mkdir()
    terraform.tf.env["TMPDIR"] = str(temporary)
    variables = {"name": "provider-server-test"}
    try:
        assert terraform.planned_changes(tfvars, variables) == ["aws_cloudwatch_log_group.this: create"]
        lost = terraform.provider_pid
        assert lost is not None
        assert [path.name[:6] for path in temporary.iterdir()] == ["plugin"]
        os.kill(lost, signal.SIGKILL)
        wait_until(f"the provider (pid {lost}) to be gone", lambda: not pid_alive(lost) or _zombie(lost), timeout=15)
        with pytest.raises(HarnessError, match="terraform plan failed"):
            terraform.planned_changes(tfvars, variables)
        assert terraform.provider_pid is None
        assert terraform.planned_changes(tfvars, variables) == ["aws_cloudwatch_log_group.this: create"]
        assert terraform.provider_pid not in (None, lost)
    finally:
        terraform.close()


def _zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True


DYING_HARNESS = """
import os, signal, sys
from pathlib import Path
from harness.terraform import Terraform, terraform_env
workdir = Path(sys.argv[1])
terraform = Terraform(workdir, terraform_env(workdir.parent, {}))
terraform._with_provider("state list", lambda: None)  # starts the working copy's provider
print(terraform.provider_pid, flush=True)
os.kill(os.getpid(), signal.SIGKILL)
"""


@pytest.mark.timeout(300)
def test_the_provider_ends_when_its_harness_is_killed(tmp_path: Path, moto: AwsEndpoint):  # noqa: F811
    """SIGKILL leaves the harness no moment to clean up: the provider's watchdog sees its pipe close and ends it."""
    terraform, _ = initialised_terraform(tmp_path, KEY_PAIR_CONFIG, moto)
    killed = subprocess.run([sys.executable, "-c", DYING_HARNESS, str(terraform.workdir)], capture_output=True,
                            text=True, timeout=120, env={**os.environ, **moto.env})
    assert killed.returncode == -9, killed.stderr
    pid = int(killed.stdout.split()[0])
    wait_until(f"the provider (pid {pid}) of a killed harness to end", lambda: not pid_alive(pid), timeout=15)
    # The watchdog ends a moment after its provider (it waits for it, then stops its own gRPC server).
    wait_until("no process left working in the killed harness's working copy",
               lambda: _processes_in(terraform.workdir) == [], timeout=15)
