"""On AWS, the machine running the harness is the operator: its public address must lie in ssh_allowed_cidrs.

The harness connects to staging and production over SSH from this machine, so a security group that
does not let it in would fail the run after a long wait. The address is asked of AWS's own
checkip service; the ranges come from the environment's tfvars.
"""
from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Iterable

from harness.errors import HarnessError

CHECKIP_URL = "https://checkip.amazonaws.com"


def runner_public_address(timeout: float = 10.0) -> str:
    """This machine's public IPv4 address as AWS sees it."""
    from harness.http import http_session

    try:
        with http_session(True) as session:
            answer = session.get(CHECKIP_URL, timeout=timeout)
        answer.raise_for_status()
        return str(ipaddress.ip_address(answer.text.strip()))
    except Exception as exc:  # noqa: BLE001 - one message whatever went wrong
        raise HarnessError(f"cannot find this machine's public address ({CHECKIP_URL}: {exc}); the harness must "
                           "know it to check that ssh_allowed_cidrs lets it in") from None


def ssh_allowed_cidrs(tfvars: Path) -> list[str]:
    """``ssh_allowed_cidrs`` of a tfvars file."""
    from harness.terraform import read_hcl

    values = read_hcl(tfvars, "a Terraform variables file")
    cidrs = values.get("ssh_allowed_cidrs")
    if not isinstance(cidrs, list) or not cidrs:
        raise HarnessError(f"{tfvars} sets no ssh_allowed_cidrs: list the operators' addresses there")
    return [str(cidr) for cidr in cidrs]


def require_in_ssh_range(address: str, cidrs: Iterable[str], tfvars: Path) -> None:
    """A HarnessError naming the fix unless ``address`` lies in one of ``cidrs``."""
    cidrs = list(cidrs)
    ip = ipaddress.ip_address(address)
    if not any(ip in ipaddress.ip_network(cidr, strict=False) for cidr in cidrs):
        raise HarnessError(
            f"this machine's public address {address} is not in ssh_allowed_cidrs {cidrs} ({tfvars}), so the "
            f"harness could not reach the instance over SSH: add \"{address}/32\" to ssh_allowed_cidrs in {tfvars} "
            "(or run from an operator's machine inside the range)")
