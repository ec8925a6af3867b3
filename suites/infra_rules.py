"""Rules for what Terraform created, as pure functions over API answers.

suites/test_infra.py reads the deployment through boto3 and hands the answers
to these functions; tests/unit/test_infra_rules.py feeds them crafted inputs.
Every ``check_*`` returns a list of violations (empty: the rule holds), each
one sentence that names the resource, what is wrong and how to fix it.

The security policy (which ports may ever be open to the whole internet, which
never at all, what each environment allows) is fixed here as constants, not
read from spec.json, so that a mistake in the spec cannot certify itself.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable, Mapping, Optional, Sequence

from harness.errors import HarnessError
from harness.security_groups import Permission

# --- the security policy (fixed; not from spec.json) ---------------------------------------------

SSH_PORT = 22
HTTP_PORT = 80
HTTPS_PORT = 443
APP_PORT = 4000  # Phoenix, fronted by Nginx
POSTGRES_PORT = 5432

PORT_NAMES = {SSH_PORT: "SSH", HTTP_PORT: "HTTP", HTTPS_PORT: "HTTPS", APP_PORT: "Phoenix", POSTGRES_PORT: "PostgreSQL"}


@dataclass(frozen=True)
class Policy:
    """What one environment's security policy allows."""

    name: str
    # ports that may be open to the whole internet in every case
    world_ports: frozenset[int]
    # SSH (22) may be open to the whole internet
    ssh_world_allowed: bool
    # the Phoenix port may be opened to the internet (expose_phoenix_port = true)
    app_exposure_allowed: bool
    # ports that must never be open, from any source
    never_open: frozenset[int]

    def world_allowed(self, expose_app: bool) -> frozenset[int]:
        """The ports this policy lets be open to the whole internet in a run."""
        ports = set(self.world_ports)
        if self.ssh_world_allowed:
            ports.add(SSH_PORT)
        if expose_app and self.app_exposure_allowed:
            ports.add(APP_PORT)
        return frozenset(ports)


POLICIES: dict[str, Policy] = {
    # The sandbox's "internet" is a network namespace on this machine.
    "sandbox": Policy("sandbox", frozenset({HTTP_PORT, HTTPS_PORT}), ssh_world_allowed=True,
                      app_exposure_allowed=True, never_open=frozenset({POSTGRES_PORT})),
    "staging": Policy("staging", frozenset({HTTP_PORT, HTTPS_PORT}), ssh_world_allowed=False,
                      app_exposure_allowed=True, never_open=frozenset({POSTGRES_PORT})),
    # Production never exposes Phoenix directly: Nginx fronts it.
    "production": Policy("production", frozenset({HTTP_PORT, HTTPS_PORT}), ssh_world_allowed=False,
                         app_exposure_allowed=False, never_open=frozenset({POSTGRES_PORT})),
}


def policy_for(name: str) -> Policy:
    """The fixed policy called ``name``; HarnessError naming the known ones otherwise."""
    try:
        return POLICIES[name]
    except KeyError:
        raise HarnessError(f"no security policy {name!r} in suites/infra_rules.py; use one of "
                           f"{', '.join(POLICIES)} (--policy)") from None


def _port_list(ports: Iterable[int]) -> str:
    return ", ".join(str(p) for p in sorted(ports))


# --- security group ingress ----------------------------------------------------------------------

@dataclass(frozen=True)
class ExpectedRule:
    """One declared ingress rule: TCP to one port from one CIDR."""

    port: int
    source: str

    def describe(self) -> str:
        return f"tcp port {self.port} from {self.source}"


def expected_ingress(ports: Mapping[str, int], ssh_cidrs: Sequence[str], expose_app: bool) -> set[ExpectedRule]:
    """The ingress terraform/main.tf declares: SSH from ``ssh_cidrs``, HTTP and HTTPS from the
    IPv4 internet, the app port from the IPv4 internet when exposed (ports from spec.json)."""
    rules = {ExpectedRule(ports["ssh"], cidr) for cidr in ssh_cidrs}
    rules |= {ExpectedRule(ports["http"], "0.0.0.0/0"), ExpectedRule(ports["https"], "0.0.0.0/0")}
    if expose_app:
        rules.add(ExpectedRule(ports["app"], "0.0.0.0/0"))
    return rules


def check_exact_ingress(permissions: Sequence[Permission], expected: set[ExpectedRule]) -> list[str]:
    """The ingress rules are exactly the declared ones: none missing, none extra."""
    violations = []
    actual: dict[ExpectedRule, Permission] = {}
    for permission in permissions:
        if permission.single_tcp_port is not None:
            key = ExpectedRule(permission.single_tcp_port, permission.source)
            if key in expected:
                actual[key] = permission
                continue
        violations.append(f"{permission.describe()} is not declared (declared: "
                          f"{', '.join(r.describe() for r in sorted(expected, key=lambda r: (r.port, r.source)))}); "
                          "remove it, or declare it in terraform/main.tf")
    for rule in sorted(expected - set(actual), key=lambda r: (r.port, r.source)):
        violations.append(f"declared ingress {rule.describe()} is missing from the security group; "
                          "run terraform apply, and check terraform/main.tf and the tfvars")
    return violations


def check_protocols(permissions: Sequence[Permission]) -> list[str]:
    """Every ingress rule is TCP (nothing the application needs is UDP, ICMP or all-traffic)."""
    return [f"{p.describe()} uses protocol {p.protocol}; only tcp ingress is declared: remove the rule"
            for p in permissions if p.protocol != "tcp"]


def check_never_open(permissions: Sequence[Permission], policy: Policy) -> list[str]:
    """No rule covers a never-open port (5432), from any source: single ports, port ranges and
    all-traffic rules count."""
    violations = []
    for permission in permissions:
        for port in sorted(policy.never_open):
            if permission.covers(port):
                violations.append(
                    f"port {port} ({PORT_NAMES.get(port, 'never-open')}) is open to {permission.source} in "
                    f"{permission.group_id} through {permission.ports_text()}; port {port} must never be open "
                    f"from anywhere: remove or narrow the rule")
    return violations


def check_world_exposure(permissions: Sequence[Permission], policy: Policy, expose_app: bool) -> list[str]:
    """Only the ports the policy allows are open to the whole internet (0.0.0.0/0 or ::/0),
    each as a single TCP port (no ranges, no all-traffic rules)."""
    allowed = policy.world_allowed(expose_app)
    violations = []
    for permission in permissions:
        if not permission.is_world:
            continue
        port = permission.single_tcp_port
        if port is not None and port in allowed:
            continue
        what = f"port {port} is" if port is not None else f"{permission.ports_text()} are"
        violations.append(f"{what} open to {permission.source} in {permission.group_id}; only "
                          f"{_port_list(allowed)} may be (policy {policy.name}): remove the rule or "
                          "restrict its source")
    return violations


def check_ssh_source(permissions: Sequence[Permission], policy: Policy) -> list[str]:
    """SSH is not reachable from the whole internet unless the policy allows it (sandbox only)."""
    if policy.ssh_world_allowed:
        return []
    return [f"SSH (port {SSH_PORT}) is open to {p.source} in {p.group_id} through {p.ports_text()}; the "
            f"{policy.name} policy allows SSH only from listed addresses: set ssh_allowed_cidrs in "
            f"terraform/{policy.name}.tfvars to your operators' CIDRs"
            for p in permissions if p.is_world and p.covers(SSH_PORT)]


def check_app_port(permissions: Sequence[Permission], policy: Policy, expose_app: bool) -> list[str]:
    """The Phoenix port is open only when the run asked for it, and only where the policy allows."""
    open_rules = [p for p in permissions if p.covers(APP_PORT)]
    if expose_app and not policy.app_exposure_allowed:
        return [f"expose_phoenix_port is true, but the {policy.name} policy never opens port {APP_PORT} "
                f"(Nginx fronts Phoenix): set expose_phoenix_port = false in terraform/{policy.name}.tfvars"]
    if expose_app:
        if not any(p.is_world for p in open_rules):
            return [f"expose_phoenix_port is true, but port {APP_PORT} is not open to the internet: run terraform apply"]
        return []
    return [f"port {APP_PORT} (Phoenix) is open to {p.source} in {p.group_id} through {p.ports_text()}, but "
            f"expose_phoenix_port is false; Nginx fronts the app on {HTTP_PORT}/{HTTPS_PORT}: remove the rule"
            for p in open_rules]


# --- instance, volume, tags, bucket --------------------------------------------------------------


def check_instance_shape(instance: Mapping[str, Any], instance_type: str, ami: str) -> list[str]:
    """The instance has the declared type and AMI (``describe_instances`` entry)."""
    violations = []
    iid = instance.get("InstanceId", "?")
    if instance.get("InstanceType") != instance_type:
        violations.append(f"instance {iid} is {instance.get('InstanceType')}, spec.json declares {instance_type}: "
                          "fix instance_type in the tfvars or spec.json instance.type")
    if instance.get("ImageId") != ami:
        violations.append(f"instance {iid} runs AMI {instance.get('ImageId')}, its environment's is {ami}: "
                          "fix ami_id in the tfvars or spec.json instance.ami (Debian 13) / instance.nixos_ami")
    return violations


def check_imdsv2(instance: Mapping[str, Any]) -> list[str]:
    """Instance metadata requires session tokens (IMDSv2: HttpTokens = required)."""
    options = instance.get("MetadataOptions") or {}
    if options.get("HttpTokens") == "required":
        return []
    return [f"instance {instance.get('InstanceId', '?')} allows IMDSv1 (HttpTokens={options.get('HttpTokens')!r}); "
            "set metadata_options { http_tokens = \"required\" } in terraform/main.tf"]


def root_volume_id(instance: Mapping[str, Any]) -> Optional[str]:
    """The EBS volume id mapped at the instance's root device, or None."""
    root = instance.get("RootDeviceName")
    for mapping in instance.get("BlockDeviceMappings", []):
        if mapping.get("DeviceName") == root and mapping.get("Ebs"):
            return str(mapping["Ebs"].get("VolumeId"))
    return None


def check_root_volume(volume: Mapping[str, Any], size_gb: int, volume_type: str) -> list[str]:
    """The root volume is encrypted, ``size_gb`` GB and of ``volume_type`` (``describe_volumes`` entry)."""
    vid = volume.get("VolumeId", "?")
    violations = []
    if volume.get("Encrypted") is not True:
        violations.append(f"root volume {vid} is not encrypted: set root_block_device {{ encrypted = true }} "
                          "(the instance must be replaced)")
    if volume.get("Size") != size_gb:
        violations.append(f"root volume {vid} is {volume.get('Size')} GB, spec.json declares {size_gb} GB "
                          "(instance.root_volume_gb)")
    if volume.get("VolumeType") != volume_type:
        violations.append(f"root volume {vid} is {volume.get('VolumeType')}, spec.json declares {volume_type} "
                          "(instance.root_volume_type)")
    return violations


def check_tags(what: str, tags: Optional[Iterable[Mapping[str, str]]], expected: Mapping[str, Optional[str]]) -> list[str]:
    """``tags`` (the API's Key/Value list) has every expected key; a value of None means any non-empty value."""
    present = {t.get("Key"): t.get("Value") for t in (tags or [])}
    violations = []
    for key, want in expected.items():
        have = present.get(key)
        if not have:
            violations.append(f"{what} has no {key} tag: terraform's provider default_tags must set it")
        elif want is not None and have != want:
            violations.append(f"{what} is tagged {key}={have!r}, expected {want!r}")
    return violations


def check_public_access_block(bucket: str, config: Optional[Mapping[str, Any]]) -> list[str]:
    """All four public-access-block settings are on (``get_public_access_block`` configuration)."""
    if not config:
        return [f"bucket {bucket} has no public access block: add aws_s3_bucket_public_access_block"]
    keys = ("BlockPublicAcls", "IgnorePublicAcls", "BlockPublicPolicy", "RestrictPublicBuckets")
    off = [k for k in keys if config.get(k) is not True]
    return [f"bucket {bucket} public access block has {', '.join(off)} off; all four must be true"] if off else []


def check_versioning(bucket: str, answer: Mapping[str, Any]) -> list[str]:
    """Versioning is enabled (``get_bucket_versioning`` answer)."""
    status = answer.get("Status")
    return [] if status == "Enabled" else [
        f"bucket {bucket} versioning is {status or 'never enabled'}; backups need it: "
        "aws_s3_bucket_versioning status = \"Enabled\""]


ENCRYPTION_ALGORITHMS = ("AES256", "aws:kms", "aws:kms:dsse")


def check_encryption(bucket: str, rules: Optional[Sequence[Mapping[str, Any]]]) -> list[str]:
    """Default encryption is set (``get_bucket_encryption`` rules)."""
    algorithms = [r.get("ApplyServerSideEncryptionByDefault", {}).get("SSEAlgorithm") for r in (rules or [])]
    if any(a in ENCRYPTION_ALGORITHMS for a in algorithms):
        return []
    return [f"bucket {bucket} has no default encryption (found {algorithms or 'none'}): add "
            "aws_s3_bucket_server_side_encryption_configuration"]


def check_lifecycle(bucket: str, rules: Optional[Sequence[Mapping[str, Any]]]) -> list[str]:
    """An enabled lifecycle rule moves objects to long-term storage (a transition to a Glacier or
    Deep Archive class)."""
    long_term = ("GLACIER", "DEEP_ARCHIVE", "GLACIER_IR")
    for rule in rules or []:
        if rule.get("Status") == "Enabled" and any(t.get("StorageClass") in long_term for t in rule.get("Transitions", [])):
            return []
    return [f"bucket {bucket} has no enabled lifecycle rule moving backups to long-term storage: "
            "see aws_s3_bucket_lifecycle_configuration in terraform/main.tf"]
