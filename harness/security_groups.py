"""Security-group ingress as the AWS API returns it, read in one place.

``describe_security_groups()["SecurityGroups"]`` becomes one :class:`Permission`
per source. The infrastructure checks (suites/infra_rules.py) judge these; the
sandbox firewall (harness/sandbox/firewall.py) enforces them with nftables.
"""
from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Any, Iterable, Mapping, Optional

KNOWN_PROTOCOLS = frozenset({"tcp", "udp", "icmp", "icmpv6", "all"})
_PROTOCOLS = {"tcp": "tcp", "6": "tcp", "udp": "udp", "17": "udp", "icmp": "icmp", "1": "icmp",
              "icmpv6": "icmpv6", "58": "icmpv6", "-1": "all", "all": "all"}


@dataclass(frozen=True)
class Permission:
    """One source of one ingress permission of a security group."""

    group_id: str
    protocol: str  # "tcp", "udp", "icmp", "icmpv6", "all", or the API's value when unknown
    from_port: Optional[int]  # None: every port
    to_port: Optional[int]
    source: str  # a CIDR, a security group id (sg-...) or a prefix list id (pl-...)

    @property
    def all_ports(self) -> bool:
        return self.protocol == "all" or (self.protocol in ("tcp", "udp") and self.from_port is None)

    @property
    def single_tcp_port(self) -> Optional[int]:
        """The port when this is a TCP rule for exactly one port, else None."""
        if self.protocol == "tcp" and self.from_port is not None and self.from_port == self.to_port:
            return self.from_port
        return None

    @property
    def is_world(self) -> bool:
        """The source is the whole IPv4 or IPv6 internet."""
        try:
            return ipaddress.ip_network(self.source, strict=False).prefixlen == 0
        except ValueError:
            return False

    @property
    def cidr(self) -> Optional[str]:
        """The source when it is an address range (not a security group or a prefix list), else None."""
        try:
            ipaddress.ip_network(self.source, strict=False)
        except ValueError:
            return None
        return self.source

    def covers(self, port: int) -> bool:
        """True when this permission lets TCP traffic to ``port`` in."""
        if self.protocol == "all":
            return True
        if self.protocol != "tcp":
            return False
        if self.from_port is None or self.to_port is None:
            return True
        return self.from_port <= port <= self.to_port

    def ports_text(self) -> str:
        if self.all_ports:
            return "all ports" if self.protocol == "all" else f"all {self.protocol} ports"
        if self.protocol in ("icmp", "icmpv6"):
            return self.protocol
        if self.from_port == self.to_port:
            return f"{self.protocol} port {self.from_port}"
        return f"{self.protocol} ports {self.from_port}-{self.to_port}"

    def describe(self) -> str:
        return f"{self.ports_text()} from {self.source} in {self.group_id}"


def flatten(group_id: str, ip_permissions: Iterable[Mapping[str, Any]]) -> list[Permission]:
    """One :class:`Permission` per source of each entry of ``IpPermissions``."""
    result: list[Permission] = []
    for entry in ip_permissions:
        raw = str(entry.get("IpProtocol", "")).lower()
        protocol = _PROTOCOLS.get(raw, raw)
        from_port, to_port = entry.get("FromPort"), entry.get("ToPort")
        if protocol == "all" or from_port in (None, -1) or (protocol in ("tcp", "udp") and (from_port, to_port) == (0, 65535)):
            from_port = to_port = None
        sources = [r["CidrIp"] for r in entry.get("IpRanges", []) if r.get("CidrIp")]
        sources += [r["CidrIpv6"] for r in entry.get("Ipv6Ranges", []) if r.get("CidrIpv6")]
        sources += [p["GroupId"] for p in entry.get("UserIdGroupPairs", []) if p.get("GroupId")]
        sources += [p["PrefixListId"] for p in entry.get("PrefixListIds", []) if p.get("PrefixListId")]
        result.extend(Permission(group_id, protocol, from_port, to_port, source) for source in sources)
    return result


def flatten_groups(groups: Iterable[Mapping[str, Any]]) -> list[Permission]:
    """Permissions of every group of ``describe_security_groups()["SecurityGroups"]``."""
    return [p for g in groups for p in flatten(g.get("GroupId", "?"), g.get("IpPermissions", []))]
