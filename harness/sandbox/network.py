"""The sandbox network: the instance's namespace and the "internet" namespace, both linked to the host.

Per run (names from the run id, e.g. ``it3f9a1c2b``)::

    netns it3f9a1c2b-i  (the instance)   host0 B+2/30  <-veth->  vc-it3f9a1c2b B+1/30  (host)
    netns it3f9a1c2b-n  (the internet)   eth0  B+6/30  <-veth->  vi-it3f9a1c2b B+5/30  (host)

``B`` is a /29 inside 10.213.0.0/16 derived from the run id, moved on when it
collides with an existing route. The host forwards between the two
(``net.ipv4.ip_forward=1``); the firewall module filters what reaches the
instance. The instance gets a route to 10.213.0.0/16 only, no default route: it
reaches the host side of its link (where sandbox services listen) and nothing
outside the sandbox.
"""
from __future__ import annotations

import ipaddress
import json
import subprocess
from dataclasses import asdict, dataclass
from pathlib import Path

from harness.errors import HarnessError
from harness.runid import is_sandbox_name

SANDBOX_NET = ipaddress.ip_network("10.213.0.0/16")
SUBNET_PREFIX = 29
# The long-lived sandbox cloud's operators (harness/sandbox/cloud.py): one address per instance, on the
# instance's internet namespace, the range staging and production allow SSH from. No run's /29 is taken from it.
OPERATOR_NET = ipaddress.ip_network("10.213.254.0/24")
METADATA_ADDRESS = "169.254.169.254"  # EC2's instance metadata address, as the instance sees it


@dataclass(frozen=True)
class AddressPlan:
    run_id: str
    subnet: str  # the run's /29
    host_side: str  # host end of the instance link (sandbox services listen here)
    instance: str  # the instance's address (host0)
    internet_host_side: str  # host end of the internet link
    internet: str  # the internet prober's address
    instance_netns: str
    internet_netns: str
    instance_veth: str  # host-side veth of the instance link (nft matches oifname on it)
    internet_veth: str  # host-side veth of the internet link
    internet_peer: str  # temporary name of the internet namespace's end before it moves
    operator: str = ""  # a sandbox cloud instance's operator address (OPERATOR_NET) on the internet namespace

    @property
    def internet_cidr(self) -> str:
        """The prober's address as a /32: what the security group must allow for "the internet"."""
        return f"{self.internet}/32"

    def to_dict(self) -> dict:
        return asdict(self)


def _run(args: list[str], *, check: bool = True, input: str | None = None) -> subprocess.CompletedProcess:
    result = subprocess.run(args, capture_output=True, text=True, input=input)
    if check and result.returncode != 0:
        raise HarnessError(
            f"`{' '.join(args)}` failed ({result.returncode}): {result.stderr.strip()}; "
            "the sandbox network needs root, iproute2 and nftables (`make setup`)"
        )
    return result


def _routes_in_use() -> list[ipaddress.IPv4Network]:
    result = _run(["ip", "-j", "-4", "route", "show", "table", "all"], check=False)
    networks = []
    try:
        entries = json.loads(result.stdout or "[]")
    except ValueError:
        entries = []
    for entry in entries:
        dst = entry.get("dst")
        if not dst or dst == "default":
            continue
        try:
            networks.append(ipaddress.ip_network(dst if "/" in dst else f"{dst}/32", strict=False))
        except ValueError:
            continue
    return networks


def plan_addresses(run_id: str, in_use: list[ipaddress.IPv4Network] | None = None) -> AddressPlan:
    """The run's addresses: a /29 of 10.213.0.0/16 chosen from the run id, skipping ones in use."""
    if not is_sandbox_name(run_id):
        raise HarnessError(f"run id {run_id!r} is not 'it' (or 'ic') + 8 hex digits; sandbox names are derived from it")
    if in_use is None:
        in_use = _routes_in_use()
    subnets = list(SANDBOX_NET.subnets(new_prefix=SUBNET_PREFIX))
    start = int(run_id[2:], 16) % len(subnets)
    for offset in range(len(subnets)):
        subnet = subnets[(start + offset) % len(subnets)]
        if subnet.network_address == SANDBOX_NET.network_address or subnet.overlaps(OPERATOR_NET):
            continue  # keep 10.213.0.0/29 unused: it reads like the network itself
        if any(subnet.overlaps(net) and net.prefixlen > 8 for net in in_use if net != SANDBOX_NET):
            continue
        base = subnet.network_address
        return AddressPlan(
            run_id=run_id,
            subnet=str(subnet),
            host_side=str(base + 1),
            instance=str(base + 2),
            internet_host_side=str(base + 5),
            internet=str(base + 6),
            instance_netns=f"{run_id}-i",
            internet_netns=f"{run_id}-n",
            instance_veth=f"vc-{run_id}",
            internet_veth=f"vi-{run_id}",
            internet_peer=f"vn-{run_id}",
        )
    raise HarnessError("no free /29 left in 10.213.0.0/16 for the sandbox network; run `make clean`")


def plan_for_run(run_id: str, run_dir: Path) -> AddressPlan:
    """The run's address plan, fixed at its first use (kept in ``<run_dir>/sandbox-network.json``).

    Other stages may call this early (e.g. to allow the internet prober's address in
    the security group) and get the same answer as the instance stage later.
    """
    path = run_dir / "sandbox-network.json"
    if path.is_file():
        return AddressPlan(**json.loads(path.read_text()))
    plan = plan_addresses(run_id)
    run_dir.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(plan.to_dict(), indent=2))
    return plan


def networkd_file(plan: AddressPlan) -> str:
    """The systemd-networkd file that gives the container its address (written as /etc/systemd/network/10-host0.network)."""
    return (
        "# Written by the harness for this run: the sandbox instance's address.\n"
        "[Match]\nName=host0\n\n"
        "[Network]\n"
        f"Address={plan.instance}/30\n"
        "LinkLocalAddressing=no\nIPv6AcceptRA=no\nLLMNR=no\nMulticastDNS=no\n\n"
        "[Route]\n"
        f"Destination={SANDBOX_NET}\nGateway={plan.host_side}\n\n"
        "# The instance metadata service (the firewall's NAT sends it to the link services).\n"
        "[Route]\n"
        f"Destination={METADATA_ADDRESS}/32\nGateway={plan.host_side}\n"
    )


def enable_forwarding() -> None:
    """Turn on IPv4 forwarding (the host routes between the internet namespace and the instance)."""
    Path("/proc/sys/net/ipv4/ip_forward").write_text("1\n")


def create_instance_link(plan: AddressPlan) -> None:
    """Make the instance's namespace and its veth; the namespace end is called host0 (as nspawn would)."""
    _run(["ip", "netns", "add", plan.instance_netns])
    _run(["ip", "link", "add", plan.instance_veth, "type", "veth", "peer", "name", "host0",
          "netns", plan.instance_netns])
    _run(["ip", "addr", "add", f"{plan.host_side}/30", "dev", plan.instance_veth])
    _run(["ip", "link", "set", plan.instance_veth, "up"])
    _run(["ip", "-n", plan.instance_netns, "link", "set", "lo", "up"])


def create_internet(plan: AddressPlan) -> None:
    """Make the "internet" namespace: a veth to the host and a default route via the host."""
    _run(["ip", "netns", "add", plan.internet_netns])
    _run(["ip", "link", "add", plan.internet_veth, "type", "veth", "peer", "name", "eth0",
          "netns", plan.internet_netns])
    _run(["ip", "addr", "add", f"{plan.internet_host_side}/30", "dev", plan.internet_veth])
    _run(["ip", "link", "set", plan.internet_veth, "up"])
    ns = ["ip", "-n", plan.internet_netns]
    _run(ns + ["link", "set", "lo", "up"])
    _run(ns + ["addr", "add", f"{plan.internet}/30", "dev", "eth0"])
    _run(ns + ["link", "set", "eth0", "up"])
    _run(ns + ["route", "add", "default", "via", plan.internet_host_side])


def add_operator_address(plan: AddressPlan, address: str) -> None:
    """Give the instance's internet namespace a second address, an operator's (inside ssh_allowed_cidrs).

    A probe bound to it crosses the same edge firewall as the internet prober but from the
    operators' range; the host routes replies to it through the internet link. Idempotent: a run
    that attaches to the instance calls it again (a host route can be lost while the instance stays).
    """
    _run(["ip", "-n", plan.internet_netns, "addr", "replace", f"{address}/32", "dev", "eth0"])
    _run(["ip", "route", "replace", f"{address}/32", "via", plan.internet, "dev", plan.internet_veth])


def delete_link(name: str) -> None:
    """Delete a host-side veth (its peer goes with it); a missing one is fine."""
    _run(["ip", "link", "del", name], check=False)


def delete_netns(name: str) -> None:
    """Delete a network namespace; a missing one is fine."""
    _run(["ip", "netns", "del", name], check=False)


def list_netns() -> list[str]:
    """Names of the network namespaces under /run/netns."""
    try:
        return sorted(p.name for p in Path("/run/netns").iterdir())
    except OSError:
        return []


def list_links() -> list[str]:
    """Names of the host's network interfaces."""
    result = _run(["ip", "-j", "link", "show"], check=False)
    try:
        return [entry["ifname"] for entry in json.loads(result.stdout or "[]")]
    except (ValueError, KeyError):
        return []
