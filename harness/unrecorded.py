"""The sandbox's destroy, and what an interrupted apply created without recording it.

An apply interrupted (SIGINT/SIGTERM) while the provider was putting a role's inline policy, or adding the role
to its instance profile, can leave that in the account but not in the state. The destroy then cannot delete the
role: the provider retries ``DeleteConflict`` for two minutes and fails. Seen in CI: "deleting IAM Role (...):
DeleteConflict: Cannot delete entity, must delete policies first".

Before the destroy, each role the state lists is made to hold only what the state lists. This is for the
sandbox alone: its account is the run's own, and only the sandbox is ever destroyed.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from harness.aws import AwsEndpoint
from harness.logblock import log


def _instances(state: dict[str, Any], resource_type: str) -> list[dict[str, Any]]:
    return [instance["attributes"] for resource in state.get("resources", [])
            if resource.get("mode") == "managed" and resource.get("type") == resource_type
            for instance in resource.get("instances", [])]


def remove_unrecorded_role_attachments(state_file: Path, aws: AwsEndpoint) -> list[str]:
    """Delete the inline policies, managed-policy attachments and instance-profile memberships of the state's
    roles that the state does not list; what was removed, for the log."""
    state = json.loads(state_file.read_text() or "{}")
    roles = {attributes["name"] for attributes in _instances(state, "aws_iam_role")}
    inline = {(a["role"], a["name"]) for a in _instances(state, "aws_iam_role_policy")}
    attached = {(a["role"], a["policy_arn"]) for a in _instances(state, "aws_iam_role_policy_attachment")}
    profiles = {(a["role"], a["name"]) for a in _instances(state, "aws_iam_instance_profile")}
    iam = aws.client("iam")
    removed = []
    for role in sorted(roles):
        for name in iam.list_role_policies(RoleName=role)["PolicyNames"]:
            if (role, name) not in inline:
                iam.delete_role_policy(RoleName=role, PolicyName=name)
                removed.append(f"inline policy {name} of role {role}")
        for policy in iam.list_attached_role_policies(RoleName=role)["AttachedPolicies"]:
            if (role, policy["PolicyArn"]) not in attached:
                iam.detach_role_policy(RoleName=role, PolicyArn=policy["PolicyArn"])
                removed.append(f"policy {policy['PolicyArn']} attached to role {role}")
        for profile in iam.list_instance_profiles_for_role(RoleName=role)["InstanceProfiles"]:
            if (role, profile["InstanceProfileName"]) not in profiles:
                iam.remove_role_from_instance_profile(InstanceProfileName=profile["InstanceProfileName"],
                                                      RoleName=role)
                removed.append(f"role {role} in instance profile {profile['InstanceProfileName']}")
    return removed


def destroy_sandbox(terraform: Any, var_file: Path, variables: dict[str, Any], aws: AwsEndpoint) -> None:
    """The sandbox's ``terraform destroy``: no refresh (the run wrote this state and only it changes the
    sandbox's emulated account), after removing what an interrupted apply left unrecorded on the state's roles."""
    state_file = terraform.workdir / "terraform.tfstate"
    if aws.endpoint_url is not None and state_file.is_file():
        for what in remove_unrecorded_role_attachments(state_file, aws):
            log.warning("terraform destroy: removed %s, which an interrupted apply created but did not record", what)
    terraform.destroy(var_file, variables, refresh=False)
