"""Staging and production never apply with their Terraform state in a run folder."""
from __future__ import annotations

from pathlib import Path

import pytest

from harness.errors import HarnessError
from harness.options import RunOptions
from harness.plugin.core import require_remote_state


def _options(tmp_path: Path, environment: str, allow: bool = False) -> RunOptions:
    return RunOptions(environment=environment, policy=environment, keep=False, reuse=None, aws_endpoint=None,
                      terraform_dir=tmp_path, tfvars=tmp_path / f"{environment}.tfvars", runs_dir=tmp_path / "runs",
                      reports_dir=tmp_path / "reports", allow_production_apply=allow)


@pytest.mark.parametrize("environment, allow", [("staging", False), ("production", True)])
def test_apply_without_a_backend_file_is_refused_naming_the_file(tmp_path, environment, allow):
    with pytest.raises(HarnessError, match=f"copy .*backend.hcl.example to .*/{environment}.backend.hcl"):
        require_remote_state(_options(tmp_path, environment, allow))


def test_with_a_backend_file_or_read_only_or_in_the_sandbox_it_goes_on(tmp_path):
    require_remote_state(_options(tmp_path, "sandbox"))
    require_remote_state(_options(tmp_path, "production"))  # read-only: no apply
    (tmp_path / "staging.backend.hcl").write_text('bucket = "state"\n')
    require_remote_state(_options(tmp_path, "staging"))
