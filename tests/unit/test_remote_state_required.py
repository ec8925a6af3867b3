"""Staging and production never keep their Terraform state in a run folder."""
from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from harness.errors import HarnessError
from harness.options import RunOptions
from harness.target_cloud import backend_file, require_remote_state


def _options(tmp_path: Path, environment: str, allow: bool = False, **more) -> RunOptions:
    return RunOptions(environment=environment, policy=environment, keep=False, reuse=None, aws_endpoint=None,
                      terraform_dir=tmp_path, tfvars=tmp_path / f"{environment}.tfvars", runs_dir=tmp_path / "runs",
                      reports_dir=tmp_path / "reports", allow_production_apply=allow,
                      cloud=None if environment == "sandbox" else "aws", **more)


@pytest.mark.parametrize("environment, allow", [("staging", False), ("production", True), ("production", False)])
def test_staging_or_production_without_a_backend_file_is_refused_naming_the_file(tmp_path, environment, allow):
    with pytest.raises(HarnessError, match=f"copy .*backend.hcl.example to .*/{environment}.backend.hcl"):
        require_remote_state(_options(tmp_path, environment, allow))


def test_with_a_backend_file_or_in_the_sandbox_it_goes_on(tmp_path):
    require_remote_state(_options(tmp_path, "sandbox"))
    (tmp_path / "staging.backend.hcl").write_text('bucket = "state"\n')
    require_remote_state(_options(tmp_path, "staging"))
    assert backend_file(_options(tmp_path, "staging")) == tmp_path / "staging.backend.hcl"


def test_the_sandbox_cloud_must_be_up(tmp_path):
    options = dataclasses.replace(_options(tmp_path, "staging"), cloud="sandbox", cloud_dir=tmp_path / "cloud")
    with pytest.raises(HarnessError, match="no sandbox cloud is running .*make cloud-up"):
        require_remote_state(options)
