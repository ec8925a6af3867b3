"""The cloud a run deploys into, and what follows from it.

The environment (sandbox | staging | production) is policy, variables and lifecycle; the cloud is
where it runs:

- the sandbox environment makes its own throwaway cloud per run (a moto server and a container);
- staging and production run in real AWS (``--cloud aws``, their default) or in the long-lived
  sandbox cloud (``--cloud sandbox``, harness/sandbox/cloud.py, started by ``make cloud-up``).

From the cloud follow: where Terraform keeps the state (a remote backend, always, for staging and
production), the operator key the instances boot with and the harness connects with, the extra
Terraform variables (the sandbox cloud's operator range and Debian AMI), which key signs the
certificates and which allowed-signers file the gate trusts, the CA the checks trust, and which
operating system the host runs (Debian 13 configured by the sandbox provisioner, or NixOS).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

from harness.errors import HarnessError
from harness.keys import KeyPair
from harness.options import RunOptions
from harness.terraform import backend_config

CLOUDS = ("aws", "sandbox")


def choose_cloud(environment: str, named: Optional[str]) -> Optional[str]:
    """The cloud of a run: None for the sandbox environment (its own), else ``named`` or ``aws``."""
    if named is not None and named not in CLOUDS:
        raise HarnessError(f"unknown cloud {named!r}; use --cloud with one of {', '.join(CLOUDS)}")
    if environment == "sandbox":
        if named is not None:
            raise HarnessError("--cloud is for staging and production; the sandbox environment makes its own "
                               "cloud for each run (drop --cloud, or add -m staging / -m production)")
        return None
    return named or "aws"


def sandbox_cloud(options: RunOptions) -> Any:
    """The long-lived sandbox cloud the run deploys into (harness.sandbox.cloud.SandboxCloud), or None."""
    if options.cloud != "sandbox":
        return None
    from harness.sandbox.cloud import load

    return load(options.cloud_dir)


def backend_file(options: RunOptions) -> Optional[Path]:
    """The S3 backend file of the run's state: the sandbox cloud's, or ``terraform/<environment>.backend.hcl``."""
    cloud = sandbox_cloud(options)
    if cloud is not None:
        return cloud.backend_file(options.environment)
    return backend_config(options.terraform_dir, options.environment)


def require_remote_state(options: RunOptions) -> None:
    """Staging and production never keep their state in a run folder (it would be lost with the run)."""
    if options.environment != "sandbox" and backend_file(options) is None:
        raise HarnessError(
            f"{options.environment} keeps its Terraform state in S3, not in a run folder: copy "
            f"{options.terraform_dir}/backend.hcl.example to {options.terraform_dir}/{options.environment}.backend.hcl "
            "and fill in the state bucket (or run it in the sandbox cloud: make cloud-up, then --cloud sandbox)")


def operator_keypair(options: RunOptions) -> Optional[KeyPair]:
    """The persistent environment's operator key (None for the sandbox environment: each run makes its own)."""
    if options.environment == "sandbox":
        return None
    cloud = sandbox_cloud(options)
    if cloud is not None:
        return cloud.operator_key
    from harness.operator_key import operator_keypair as named_key

    return named_key(options.environment, options.operator_key)


def cloud_variables(options: RunOptions, spec: dict[str, Any]) -> dict[str, Any]:
    """Terraform variables the sandbox cloud sets over the environment's tfvars: SSH only from its operators'
    range, and the document's Debian 13 AMI (the sandbox provisioner stands in for the NixOS switch there)."""
    cloud = sandbox_cloud(options)
    if cloud is None:
        return {}
    return {"ssh_allowed_cidrs": [cloud.operator_cidr], "ami_id": spec["instance"]["ami"]}


def signing_directory(options: RunOptions) -> Optional[Path]:
    """Where the sandbox signing key of the run lives: the sandbox cloud's own, or None (the sandbox's default).
    Staging and production on AWS sign with the operator's key instead."""
    cloud = sandbox_cloud(options)
    return cloud.signing_dir if cloud is not None else None


def allowed_signers(options: RunOptions) -> list[Path]:
    """The allowed-signers files the gate trusts: the repository's; in the sandbox cloud, the cloud's own."""
    from harness.signing import REPOSITORY_ALLOWED_SIGNERS, sandbox_allowed_signers

    directory = signing_directory(options)
    return [sandbox_allowed_signers(directory)] if directory is not None else [REPOSITORY_ALLOWED_SIGNERS]


def ca_directory(options: RunOptions, run_dir: Path) -> Path:
    """The CA that signs the host's TLS certificate: the sandbox cloud's (its hosts outlive runs), else the run's."""
    cloud = sandbox_cloud(options)
    return cloud.ca_dir if cloud is not None else run_dir / "ca"


def host_os(options: RunOptions) -> str:
    """``debian`` where the sandbox provisioner configures Debian 13 (the sandbox, the sandbox cloud), else ``nixos``."""
    return "debian" if options.environment == "sandbox" or options.cloud == "sandbox" else "nixos"
