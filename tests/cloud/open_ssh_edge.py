"""Loaded with ``-p open_ssh_edge`` by the promotion flow test: once the run has attached to production's
instance (and loaded its edge firewall from the security groups), the edge lets SSH in from anywhere,
although the groups still allow it only from the operators' range. The exposure check must see SSH
answer from the internet outside ssh_allowed_cidrs; nothing in the API or on the host changed."""
from __future__ import annotations

import subprocess
from typing import Any

import pytest


@pytest.fixture(scope="session", autouse=True)
def ssh_open_at_the_edge(request: pytest.FixtureRequest) -> None:
    """Insert an accept for TCP 22 from anywhere at the top of the instance's edge firewall (nftables)."""
    instance: Any = request.getfixturevalue("instance")
    plan = instance.plan
    subprocess.run(["nft", "insert", "rule", "inet", plan.run_id, "forward", "oifname", plan.instance_veth,
                    "tcp", "dport", "22", "accept"], check=True)
