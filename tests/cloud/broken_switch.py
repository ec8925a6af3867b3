"""Loaded with ``-p broken_switch`` by the promotion flow test: the production switch ends in a broken
generation (an Nginx configuration that does not load, Nginx down), which the certification must
catch and the harness must roll back (harness/production_switch.py)."""
from __future__ import annotations

from typing import Any

import pytest

BROKEN_LINE = "this_is_not_an_nginx_directive;"


@pytest.fixture(scope="session", autouse=True)
def broken_generation(request: pytest.FixtureRequest) -> None:
    """Once the switch is done, the new generation's Nginx site does not load and Nginx is down."""
    request.getfixturevalue("host_configured")
    ssh: Any = request.getfixturevalue("ssh")
    site = "/etc/nginx/sites-available/inventory-tracker"
    ssh.sudo(f"sed -i '1i {BROKEN_LINE}' {site}; systemctl restart nginx.service", check=False)
    assert ssh.sudo("systemctl is-active nginx.service", check=False).exit_status != 0, "nginx still runs"
