"""Which cloud a run deploys into, the operator key, and the runner's address: each bad input is one clear error."""
from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from harness.errors import HarnessError
from harness.operator_key import OPERATOR_KEY_ENV, operator_keypair
from harness.runner_address import require_in_ssh_range, ssh_allowed_cidrs
from harness.sandbox.cloud import backend_text
from harness.target_cloud import choose_cloud, host_os
from harness.options import RunOptions


def _key(folder: Path) -> Path:
    path = folder / "id_ed25519"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "operator", "-f", str(path)], check=True)
    return path


def test_staging_and_production_default_to_aws_and_the_sandbox_makes_its_own():
    assert choose_cloud("staging", None) == "aws"
    assert choose_cloud("production", "sandbox") == "sandbox"
    assert choose_cloud("sandbox", None) is None
    with pytest.raises(HarnessError, match="--cloud is for staging and production"):
        choose_cloud("sandbox", "sandbox")
    with pytest.raises(HarnessError, match="unknown cloud 'gcp'"):
        choose_cloud("staging", "gcp")


def test_a_missing_operator_key_is_one_error_naming_the_fix(tmp_path, monkeypatch):
    monkeypatch.delenv(OPERATOR_KEY_ENV, raising=False)
    monkeypatch.delenv("SSH_AUTH_SOCK", raising=False)
    with pytest.raises(HarnessError, match="staging needs its operator key .*--operator-key"):
        operator_keypair("staging", None)
    with pytest.raises(HarnessError, match=r"operator key .*/absent cannot be read \(No such file"):
        operator_keypair("production", tmp_path / "absent")
    (tmp_path / "junk.pub").write_text("not a key\n")
    with pytest.raises(HarnessError, match="is not an OpenSSH public key"):
        operator_keypair("staging", tmp_path / "junk.pub")


def test_an_operator_key_by_path_or_environment_gives_both_halves(tmp_path, monkeypatch):
    private = _key(tmp_path)
    public = (tmp_path / "id_ed25519.pub").read_text().strip()
    assert operator_keypair("staging", private).public_openssh == public
    assert operator_keypair("staging", private).private_key_path == private
    from_pub = operator_keypair("staging", tmp_path / "id_ed25519.pub")
    assert (from_pub.private_key_path, from_pub.public_openssh) == (private, public)
    (tmp_path / "id_ed25519.pub").unlink()  # the public half derived from the private key
    assert operator_keypair("staging", private).public_openssh.split()[:2] == public.split()[:2]
    monkeypatch.setenv(OPERATOR_KEY_ENV, str(private))
    assert operator_keypair("production", None).private_key_path == private


def test_the_runner_outside_the_ssh_range_is_refused_with_the_line_to_add(tmp_path):
    tfvars = tmp_path / "staging.tfvars"
    tfvars.write_text('environment = "staging"\nssh_allowed_cidrs = ["203.0.113.0/24", "198.51.100.7/32"]\n')
    cidrs = ssh_allowed_cidrs(tfvars)
    assert cidrs == ["203.0.113.0/24", "198.51.100.7/32"]
    require_in_ssh_range("203.0.113.9", cidrs, tfvars)
    with pytest.raises(HarnessError, match=r'192\.0\.2\.44 is not in ssh_allowed_cidrs .*add "192\.0\.2\.44/32"'):
        require_in_ssh_range("192.0.2.44", cidrs, tfvars)


def test_the_sandbox_clouds_backend_locks_with_a_lock_file_in_its_own_s3():
    text = backend_text("production", "http://127.0.0.1:5555", "us-east-1")
    assert 'key    = "production/terraform.tfstate"' in text
    assert "use_lockfile = true" in text and "dynamodb" not in text
    assert 's3 = "http://127.0.0.1:5555"' in text


def test_the_host_os_follows_the_cloud(tmp_path):
    def options(environment: str, cloud):
        return RunOptions(environment=environment, policy=environment, keep=False, reuse=None, aws_endpoint=None,
                          terraform_dir=tmp_path, tfvars=tmp_path / "x.tfvars", runs_dir=tmp_path,
                          reports_dir=tmp_path, allow_production_apply=False, cloud=cloud)

    assert host_os(options("sandbox", None)) == "debian"
    assert host_os(options("staging", "sandbox")) == "debian"  # the sandbox provisioner stands in for NixOS
    assert host_os(options("production", "aws")) == "nixos"


def test_each_instance_slot_of_each_cloud_gets_its_own_operator_address(tmp_path, monkeypatch):
    from harness.sandbox import cloud

    monkeypatch.setattr(cloud, "OPERATOR_RESERVATIONS", tmp_path / "reservations")
    mine, theirs, gone = tmp_path / "mine", tmp_path / "theirs", tmp_path / "gone"
    for folder in (mine, theirs, gone):
        folder.mkdir()
    addresses = [cloud.reserve_operator_address(mine), cloud.reserve_operator_address(mine),
                 cloud.reserve_operator_address(theirs)]
    assert len(set(addresses)) == 3
    stale = cloud.reserve_operator_address(gone)
    gone.rmdir()  # removed without `make cloud-down`: its address is free again
    assert cloud.reserve_operator_address(theirs) == stale
    cloud.release_operator_addresses(mine)
    assert sorted(p.name for p in (tmp_path / "reservations").iterdir()) == sorted([addresses[2], stale])
