"""Run options in one dataclass, one comment per field."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Optional

ENVIRONMENTS = ("sandbox", "staging", "production")


@dataclass(frozen=True)
class RunOptions:
    # target environment: sandbox (this machine), staging or production (real AWS)
    environment: str
    # security policy the suites apply; normally the environment's own
    policy: str
    # leave the deployment running after the run (prints how to reuse or destroy it)
    keep: bool
    # attach to a deployment kept by an earlier run with --keep (its run id)
    reuse: Optional[str]
    # AWS API endpoint (moto, LocalStack); None: the sandbox starts moto, others use real AWS
    aws_endpoint: Optional[str]
    # the Terraform configuration to apply (copied into the run directory)
    terraform_dir: Path
    # the variables file for the environment (default terraform/<environment>.tfvars)
    tfvars: Path
    # where runs keep their state (keys, terraform copy, logs)
    runs_dir: Path
    # where the certificate and JUnit XML are written
    reports_dir: Path
    # allow `terraform apply` to production (needs a staging certificate for the same commit)
    allow_production_apply: bool
    # the SSH key that signs staging/production certificates (--signing-key, else $INVENTORY_TRACKER_SIGNING_KEY);
    # the sandbox signs with its own generated key (harness/signing.py)
    signing_key: Optional[Path] = None
    # where staging/production run: "aws" (default) or "sandbox" (the long-lived sandbox cloud, make cloud-up);
    # None for the sandbox environment, which makes its own cloud per run (harness/target_cloud.py)
    cloud: Optional[str] = None
    # the sandbox cloud's folder (None: $HARNESS_CLOUD_DIR, else clouds/sandbox)
    cloud_dir: Optional[Path] = None
    # the persistent environment's operator key on AWS (--operator-key; else $INVENTORY_TRACKER_OPERATOR_KEY
    # or the ssh-agent; harness/operator_key.py)
    operator_key: Optional[Path] = None
