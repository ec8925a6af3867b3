"""The run's address plan and interface names."""
from __future__ import annotations

import ipaddress

from harness.sandbox.network import SANDBOX_NET, networkd_file, plan_addresses


def test_plan_is_deterministic_and_inside_the_sandbox_net():
    a = plan_addresses("it3f9a1c2b", in_use=[])
    assert a == plan_addresses("it3f9a1c2b", in_use=[])
    subnet = ipaddress.ip_network(a.subnet)
    assert subnet.subnet_of(SANDBOX_NET) and subnet.prefixlen == 29
    for address in (a.host_side, a.instance, a.internet_host_side, a.internet):
        assert ipaddress.ip_address(address) in subnet
    assert len({a.host_side, a.instance, a.internet_host_side, a.internet}) == 4
    assert a.internet_cidr == f"{a.internet}/32"


def test_different_runs_get_different_subnets():
    assert plan_addresses("it00000001", in_use=[]).subnet != plan_addresses("it00000002", in_use=[]).subnet


def test_plan_skips_subnets_in_use():
    first = plan_addresses("it3f9a1c2b", in_use=[])
    moved = plan_addresses("it3f9a1c2b", in_use=[ipaddress.ip_network(first.subnet),
                                                   ipaddress.ip_network("192.0.2.0/24")])
    assert moved.subnet != first.subnet
    # A broad route (a VPN's 10.0.0.0/8) does not make every subnet "taken".
    assert plan_addresses("it3f9a1c2b", in_use=[ipaddress.ip_network("10.0.0.0/8")]).subnet == first.subnet


def test_interface_names_fit_ifnamsiz():
    plan = plan_addresses("itffffffff", in_use=[])
    for name in (plan.instance_veth, plan.internet_veth, plan.internet_peer, plan.instance_netns,
                 plan.internet_netns):
        assert len(name) <= 15 and "itffffffff" in name


def test_networkd_file():
    plan = plan_addresses("it3f9a1c2b", in_use=[])
    text = networkd_file(plan)
    assert "Name=host0" in text and f"Address={plan.instance}/30" in text
    assert f"Gateway={plan.host_side}" in text and "Destination=10.213.0.0/16" in text
    assert "0.0.0.0/0" not in text  # no default route: the instance reaches only the sandbox
