"""What was deployed, read back from the API and the host, for the certificate to state.

* the instance id and its AMI (``describe_instances``);
* the ingress rules of its security groups as the API returns them (harness/security_groups.py);
* the host system's identity: on NixOS the toplevel store path ``/run/current-system``
  points to; in the sandbox the configuration digest the provisioner (the stand-in for
  the NixOS switch) left on the host (:data:`PROVISIONER_CONFIGURATION`);
* the application's version, as the application states it: the unit's ``ExecStart``
  with its last argument (``start``/``serve``) replaced by ``version`` (a Mix release's
  ``bin/<name> version``; the stand-in answers the same).
"""
from __future__ import annotations

import re
import shlex
from dataclasses import asdict
from typing import Any, Mapping

from harness.errors import HarnessError
from harness.security_groups import flatten_groups

NIXOS_CURRENT_SYSTEM = "/run/current-system"
# Written by fixtures/sandbox/provisioner.py: the digest of the configuration it applied (stand-in for the toplevel).
PROVISIONER_CONFIGURATION = "/var/lib/sandbox-provisioner/configuration"


def instance_facts(ec2: Any, instance_id: str) -> dict[str, Any]:
    """The instance id, its AMI and its security groups' ingress rules, read back from the API."""
    reservations = ec2.describe_instances(InstanceIds=[instance_id])["Reservations"]
    if not reservations or not reservations[0]["Instances"]:
        raise HarnessError(f"instance {instance_id} is not in the API: the certificate cannot state what ran")
    described = reservations[0]["Instances"][0]
    group_ids = [g["GroupId"] for g in described.get("SecurityGroups", [])]
    groups = ec2.describe_security_groups(GroupIds=group_ids)["SecurityGroups"] if group_ids else []
    rules = sorted((asdict(p) for p in flatten_groups(groups)),
                   key=lambda r: (r["group_id"], r["protocol"], r["from_port"] or 0, r["to_port"] or 0, r["source"]))
    return {"instance_id": instance_id, "ami": described.get("ImageId"), "security_group_rules": rules}


def host_system(host: Any) -> dict[str, str]:
    """The host system's identity: the NixOS toplevel, or the sandbox provisioner's configuration digest."""
    current = host.file(NIXOS_CURRENT_SYSTEM)
    if current.is_symlink:
        return {"kind": "nixos toplevel", "id": current.linked_to}
    stated = host.file(PROVISIONER_CONFIGURATION)
    if stated.is_file:
        return {"kind": "sandbox provisioner configuration (stand-in for the NixOS toplevel)",
                "id": stated.content_string.strip()}
    raise HarnessError(f"the host states no system identity: neither {NIXOS_CURRENT_SYSTEM} (NixOS) nor "
                       f"{PROVISIONER_CONFIGURATION} (sandbox provisioner) exists; configure the host first")


def version_command(exec_start: str) -> list[str]:
    """The command that asks the application for its version, from ``systemctl show -p ExecStart --value``."""
    match = re.search(r"argv\[\]=([^;]*)", exec_start)
    argv = shlex.split(match.group(1) if match else exec_start)
    if len(argv) < 2:
        raise HarnessError(f"cannot tell the application's command from its unit's ExecStart: {exec_start!r}")
    return [*argv[:-1], "version"]


def app_version(host: Any, spec: Mapping[str, Any]) -> str:
    """The application's version, as it states it (``<release> version``)."""
    unit = f"{spec['app']['name']}.service"
    shown = host.run("systemctl show -p ExecStart --value %s", unit)
    if shown.rc != 0 or not shown.stdout.strip():
        raise HarnessError(f"cannot read the ExecStart of {unit} on the host: {shown.stderr.strip()}")
    answer = host.run(shlex.join(version_command(shown.stdout.strip())))
    if answer.rc != 0 or not answer.stdout.strip():
        raise HarnessError(f"the application did not state its version ({shlex.join(version_command(shown.stdout))} "
                           f"exited {answer.rc}: {answer.stderr.strip()[-300:]})")
    return answer.stdout.strip().splitlines()[-1]


def deployed_facts(ec2: Any, instance_id: str, host: Any, spec: Mapping[str, Any]) -> dict[str, Any]:
    """Everything :mod:`harness.deployed` reads, as the certificate's top-level keys."""
    return {**instance_facts(ec2, instance_id), "host_system": host_system(host),
            "app_version": app_version(host, spec)}
