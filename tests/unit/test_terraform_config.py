"""Terraform wiring: mirror discovery, CLI config, endpoint override, error extraction."""
import shutil

import pytest

from harness import terraform
from harness import terraform_init_cache as init_cache
from harness.errors import HarnessError
from harness.spec import REPO_ROOT
from harness.terraform import Terraform, drop_lock_hashes, prepare_workdir, terraform_env


def test_mirror_from_setting(tmp_path, monkeypatch):
    (tmp_path / "registry.terraform.io").mkdir()
    monkeypatch.setenv("HARNESS_TF_MIRROR", str(tmp_path))
    assert terraform.find_provider_mirror() == tmp_path
    config = terraform.write_cli_config(tmp_path).read_text()
    assert "filesystem_mirror" in config and str(tmp_path) in config


def test_bad_mirror_setting_says_how_to_fix(tmp_path, monkeypatch):
    monkeypatch.setenv("HARNESS_TF_MIRROR", str(tmp_path))
    with pytest.raises(HarnessError, match="folder above registry.terraform.io"):
        terraform.find_provider_mirror()


def test_no_mirror_falls_back_to_registry(tmp_path, monkeypatch):
    monkeypatch.delenv("HARNESS_TF_MIRROR", raising=False)
    monkeypatch.setattr(terraform, "MIRROR_CANDIDATES", (str(tmp_path),))
    assert terraform.find_provider_mirror() is None
    assert "filesystem_mirror" not in terraform.write_cli_config(tmp_path).read_text()


def test_endpoint_override_is_a_provider_override():
    text = terraform.endpoint_override("http://127.0.0.1:5000")
    assert 'provider "aws"' in text and 'ec2 = "http://127.0.0.1:5000"' in text and "skip_credentials_validation" in text


def test_override_goes_into_the_working_copy_not_main_tf(tmp_path):
    workdir = terraform.prepare_workdir(REPO_ROOT / "terraform", tmp_path, "http://127.0.0.1:5000")
    assert (workdir / "harness_endpoint_override.tf").exists()
    assert "127.0.0.1:5000" not in (workdir / "main.tf").read_text()
    assert (tmp_path / "spec.json").exists()


def test_missing_binary_names_the_fix(monkeypatch):
    monkeypatch.setenv("HARNESS_TERRAFORM", "terraform-that-does-not-exist")
    with pytest.raises(HarnessError, match="install Terraform"):
        terraform.terraform_binary()


def test_first_error_keeps_the_error_block():
    output = "plan...\nlots\n\nError: Invalid value for variable\n\n  on sandbox.tfvars line 2:\n"
    assert terraform.first_error(output).startswith("Error: Invalid value for variable")


def test_backend_config_makes_remote_state(tmp_path):
    source = tmp_path / "tf"
    source.mkdir()
    (source / "main.tf").write_text("")
    assert terraform.backend_config(source, "staging") is None
    (source / "staging.backend.hcl").write_text('bucket = "state"\n')
    backend = terraform.backend_config(source, "staging")
    workdir = terraform.prepare_workdir(source, tmp_path / "run", None, backend)
    assert 'backend "s3"' in (workdir / "harness_backend_override.tf").read_text()


def test_state_files_are_made_mode_0600(tmp_path):
    """Terraform writes its local state 0644; the harness closes it after every command."""
    from harness.terraform import protect_state

    for name in ("terraform.tfstate", "terraform.tfstate.backup", "main.tf"):
        (tmp_path / name).write_text("{}")
        (tmp_path / name).chmod(0o644)
    protect_state(tmp_path)
    assert (tmp_path / "terraform.tfstate").stat().st_mode & 0o777 == 0o600
    assert (tmp_path / "terraform.tfstate.backup").stat().st_mode & 0o777 == 0o600
    assert (tmp_path / "main.tf").stat().st_mode & 0o777 == 0o644


def test_a_kept_runs_outputs_are_read_again_only_when_its_state_changed(tmp_path, monkeypatch):
    """--reuse reads the outputs kept beside the local state under its digest, without terraform; a changed
    state (another apply, a destroy) is read by terraform again."""
    from types import SimpleNamespace

    from harness import terraform as tf

    reads = []

    def read(terraform):
        reads.append(1)
        return tf.InfraOutputs("i-1", "10.0.0.5", "sg-1", "bucket", ["aws_instance.app"], terraform.workdir,
                               {"instance_id": "i-1", "run_id": f"read {len(reads)}"})

    monkeypatch.setattr(tf, "infra_outputs", read)
    working_copy = SimpleNamespace(workdir=tmp_path)
    (tmp_path / "terraform.tfstate").write_text('{"serial": 1}')
    first = tf.kept_infra_outputs(working_copy)
    again = tf.kept_infra_outputs(working_copy)
    assert len(reads) == 1 and again == first and again.variables == {"run_id": "read 1"}
    (tmp_path / "terraform.tfstate").write_text('{"serial": 2}')
    assert tf.kept_infra_outputs(working_copy).variables == {"run_id": "read 2"} and len(reads) == 2


LOCK_FILE = '''# This file is maintained automatically by "terraform init".
# Manual edits may be lost in future updates.

provider "registry.terraform.io/hashicorp/aws" {
  version     = "5.100.0"
  constraints = "~> 5.100"
  hashes = [
    "h1:edXOJWE4ORX8Fm+dpVpICzMZJat4AX0VRCAy/xkcOc0=",
    "zh:0123456789abcdef",
  ]
}

provider "registry.terraform.io/hashicorp/random" {
  version = "3.6.0"
  hashes = [
    "h1:abc=",
  ]
}
'''


def test_a_stand_in_working_copy_keeps_versions_but_no_provider_hashes(tmp_path):
    (tmp_path / ".terraform.lock.hcl").write_text(LOCK_FILE)
    drop_lock_hashes(tmp_path)
    lock = (tmp_path / ".terraform.lock.hcl").read_text()
    assert "hashes" not in lock and "h1:" not in lock
    assert lock.count('version     = "5.100.0"') == 1 and 'constraints = "~> 5.100"' in lock
    assert 'version = "3.6.0"' in lock and lock.count("provider \"") == 2


def test_init_drops_the_hashes_against_a_stand_in_only(tmp_path):
    """Real terraform init (the machine's provider mirror): a working copy against AWS keeps the hashes init
    recorded, one against a stand-in endpoint has none, and terraform still reads it."""
    kept = {}
    for name, endpoint in (("aws", None), ("stand-in", "http://127.0.0.1:9")):
        run_dir = tmp_path / name
        run_dir.mkdir()
        terraform = Terraform(prepare_workdir(REPO_ROOT / "terraform", run_dir, endpoint), terraform_env(run_dir, {}))
        terraform.init()
        kept[name] = "h1:" in (terraform.workdir / ".terraform.lock.hcl").read_text()
        terraform.tf.execute_command("validate")  # raises when terraform rejects the lock file
    assert kept == {"aws": True, "stand-in": False}


def test_a_working_copy_of_a_configuration_already_initialised_gets_that_init(tmp_path, monkeypatch):
    """Real terraform: the first init of a configuration against a stand-in runs and is kept; the next working copy
    of it gets that result without running terraform (and terraform validates with it); an edited configuration,
    or one against AWS, runs its own init."""
    monkeypatch.setenv(init_cache.CACHE_ENV, str(tmp_path / "cache"))
    source = tmp_path / "source"
    shutil.copytree(REPO_ROOT / "terraform", source)

    def working_copy(name: str, endpoint):
        run_dir = tmp_path / name
        run_dir.mkdir()
        return Terraform(prepare_workdir(source, run_dir, endpoint), terraform_env(run_dir, {}))

    first = working_copy("first", "http://127.0.0.1:9")
    first.init()
    assert len(list((tmp_path / "cache").iterdir())) == 1

    second = working_copy("second", "http://127.0.0.1:10")  # another run: another endpoint, the same init
    monkeypatch.setattr(second.tf, "init", lambda **_: pytest.fail("terraform init ran for a kept configuration"))
    second.init()
    assert (second.workdir / ".terraform.lock.hcl").read_text() == (first.workdir / ".terraform.lock.hcl").read_text()
    second.tf.execute_command("validate")  # raises when terraform does not accept the copied result

    (source / "main.tf").write_text((source / "main.tf").read_text() + "\n# edited\n")
    for name, endpoint in (("edited", "http://127.0.0.1:9"), ("aws", None)):
        ran = []
        other = working_copy(name, endpoint)
        real_init = other.tf.init
        monkeypatch.setattr(other.tf, "init", lambda **kw: ran.append(real_init(**kw)))
        other.init()
        assert ran, f"the {name} working copy did not run its own init"
    assert len(list((tmp_path / "cache").iterdir())) == 2  # the edited configuration's; none for AWS
