"""Security groups at the sandbox instance's network edge: ingress rules -> nftables.

The rules are read back from the API (``ec2 describe_security_groups`` of the
groups the instance has) and enforced in an ``inet`` table named after the run
id, in a ``forward`` hook chain that matches traffic leaving the host towards
the instance (``oifname`` = the host-side veth of the instance link): replies
to established connections pass, each allowed rule passes, everything else is
dropped. Traffic from the sandbox namespaces to anything outside them is
dropped too, so the sandbox never reaches beyond this machine.

Like AWS, the groups are stateful and allow-only; a rule that references
another security group (``UserIdGroupPairs``) or a prefix list matches no
sandbox source and is skipped (logged).
"""
from __future__ import annotations

import ipaddress
import logging
import subprocess
from dataclasses import dataclass
from typing import Any, Iterable

from harness.errors import HarnessError
from harness.security_groups import KNOWN_PROTOCOLS, flatten_groups

log = logging.getLogger("harness.sandbox.firewall")

@dataclass(frozen=True)
class IngressRule:
    protocol: str  # "tcp", "udp", "icmp", "icmpv6" or "all"
    from_port: int | None  # None for "all" and ICMP
    to_port: int | None
    cidrs: tuple[str, ...]  # IPv4 and IPv6 source ranges
    group_id: str = ""  # the security group the rule belongs to (for the comment)

    def allows_tcp(self, port: int, source: str) -> bool:
        """True when this rule lets a TCP connection from ``source`` to ``port`` in."""
        if self.protocol not in ("tcp", "all"):
            return False
        if self.protocol == "tcp" and not (self.from_port is not None and self.to_port is not None
                                           and self.from_port <= port <= self.to_port):
            return False
        address = ipaddress.ip_address(source)
        return any(address in ipaddress.ip_network(cidr, strict=False) for cidr in self.cidrs
                   if ipaddress.ip_network(cidr, strict=False).version == address.version)


def rules_from_security_groups(groups: Iterable[dict[str, Any]]) -> list[IngressRule]:
    """Ingress rules from ``describe_security_groups()["SecurityGroups"]`` entries (read by
    harness/security_groups.py), the address-range sources of one permission together."""
    grouped: dict[tuple[str, str, int | None, int | None], list[str]] = {}
    for permission in flatten_groups(groups):
        group_id, protocol = permission.group_id, permission.protocol
        if protocol not in KNOWN_PROTOCOLS:
            log.warning("security group %s: protocol %r is not enforced in the sandbox (skipped)", group_id, protocol)
            continue
        if permission.cidr is None:
            log.info("security group %s: group/prefix-list sources match nothing in the sandbox (skipped)", group_id)
            continue
        if protocol in ("all", "icmp", "icmpv6"):
            ports: tuple[int | None, int | None] = (None, None)
        elif permission.from_port is None:
            ports = (0, 65535)  # every port of the protocol
        else:
            ports = (permission.from_port, permission.to_port)
        grouped.setdefault((group_id, protocol, *ports), []).append(permission.cidr)
    return [IngressRule(protocol, from_port, to_port, tuple(cidrs), group_id)
            for (group_id, protocol, from_port, to_port), cidrs in grouped.items()]


def _nft_set(items: list[str]) -> str:
    return items[0] if len(items) == 1 else "{ " + ", ".join(items) + " }"


def _rule_lines(rule: IngressRule, oif: str) -> list[str]:
    lines = []
    for family, selector in ((4, "ip saddr"), (6, "ip6 saddr")):
        cidrs = [str(ipaddress.ip_network(c, strict=False)) for c in rule.cidrs
                 if ipaddress.ip_network(c, strict=False).version == family]
        if not cidrs:
            continue
        match = f'oifname "{oif}" {selector} {_nft_set(cidrs)}'
        if rule.protocol == "all":
            action = ""
        elif rule.protocol in ("icmp", "icmpv6"):
            action = f" meta l4proto {rule.protocol}"
        else:
            ports = str(rule.from_port) if rule.from_port == rule.to_port else f"{rule.from_port}-{rule.to_port}"
            action = f" {rule.protocol} dport {ports}"
        comment = f' comment "{rule.group_id}"' if rule.group_id else ""
        lines.append(f"{match}{action} accept{comment}")
    return lines


def nft_script(table: str, instance_veth: str, sandbox_veths: list[str], rules: list[IngressRule],
               metadata: tuple[str, str, int] | None = None) -> str:
    """An nft script that (re)defines ``table inet <table>`` atomically for the given rules.

    ``metadata`` (metadata address, host-side address, port) adds the NAT that sends the
    instance's requests to the metadata address to the link services on the host side.
    """
    body = [
        f'oifname "{instance_veth}" ct state established,related accept',
        f'oifname "{instance_veth}" ct state invalid drop',
    ]
    for rule in rules:
        body.extend(_rule_lines(rule, instance_veth))
    body.append(f'oifname "{instance_veth}" drop comment "not allowed by the security groups"')
    ours = _nft_set([f'"{v}"' for v in sandbox_veths])
    body.append(f'iifname {ours} oifname != {ours} drop comment "the sandbox stays inside this machine"')
    chain = "\n".join(f"        {line}" for line in body)
    nat = ""
    if metadata is not None:
        address, target, port = metadata
        nat = (
            "    chain prerouting {\n"
            "        type nat hook prerouting priority dstnat; policy accept;\n"
            f'        iifname "{instance_veth}" ip daddr {address} tcp dport 80 dnat ip to {target}:{port}'
            ' comment "instance metadata"\n'
            "    }\n"
        )
    return (
        f"table inet {table} {{}}\n"
        f"delete table inet {table}\n"
        f"table inet {table} {{\n"
        f"    chain forward {{\n"
        f"        type filter hook forward priority filter; policy accept;\n"
        f"{chain}\n"
        f"    }}\n"
        f"{nat}"
        f"}}\n"
    )


def apply(script: str) -> None:
    """Load an nft script (atomically: all of it or nothing)."""
    result = subprocess.run(["nft", "-f", "-"], input=script, capture_output=True, text=True)
    if result.returncode != 0:
        raise HarnessError(f"nft rejected the sandbox firewall: {result.stderr.strip()}\n--- script ---\n{script}")


def delete_table(table: str) -> None:
    """Remove ``table inet <table>``; a missing table is fine."""
    subprocess.run(["nft", "delete", "table", "inet", table], capture_output=True, text=True)


def list_tables() -> list[str]:
    """Names of the ``inet`` tables currently loaded."""
    result = subprocess.run(["nft", "list", "tables"], capture_output=True, text=True)
    return [line.split()[2] for line in result.stdout.splitlines() if line.startswith("table inet ")]
