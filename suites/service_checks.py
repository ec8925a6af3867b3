"""Service certification checks: the services the deployment consists of are enabled and active.

Each ``check_*`` raises ``AssertionError`` with an actionable message. suites/test_services.py
wraps them; the fault-injection tests (tests/host/) call them directly.
"""
from __future__ import annotations

from typing import Any

from suites.hostprobes import unit_state

# Debian runs each PostgreSQL cluster as postgresql@<version>-<name>; NixOS has postgresql.service only.
POSTGRES_INSTANCES = "postgresql@*"


def required_units(deployment: Any) -> list[str]:
    """The units that must be enabled (start at boot) and active."""
    return ["nginx.service", "postgresql.service", deployment.app_unit]


def check_unit_enabled_and_active(deployment: Any, unit: str) -> None:
    """``unit`` is enabled (starts at boot) and active now."""
    enabled, active = unit_state(deployment.ssh, unit)
    assert enabled == "enabled", f"{unit} is {enabled}, not enabled: it will not start at boot (`systemctl enable {unit}`)"
    assert active == "active", (
        f"{unit} is {active}, not active: see `systemctl status {unit}` and `journalctl -u {unit}` on the host"
    )
    if unit == "postgresql.service":
        listed = deployment.ssh.sudo(
            f"systemctl list-units --all --plain --no-legend '{POSTGRES_INSTANCES}'", check=False
        ).stdout.splitlines()
        down = [line.split()[0] for line in listed if line.split() and line.split()[2] != "active"]
        assert not down, f"PostgreSQL cluster unit(s) {', '.join(down)} not active: see `systemctl status {down[0]}`"


def check_services(deployment: Any) -> None:
    """Every required unit is enabled and active."""
    for unit in required_units(deployment):
        check_unit_enabled_and_active(deployment, unit)
