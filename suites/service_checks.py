"""Service certification checks: the services the deployment consists of are enabled and active.

Each ``check_*`` raises ``AssertionError`` with an actionable message. suites/test_services.py
wraps them; the fault-injection tests (tests/host/) call them directly.
"""
from __future__ import annotations

from typing import Any

from harness.hostinfra import unit_state


def check_unit_enabled_and_active(deployment: Any, unit: str) -> None:
    """``unit`` is enabled (starts at boot) and active now; for PostgreSQL also every cluster unit it consists of."""
    host = deployment.host
    enabled, active = unit_state(host, unit)
    assert enabled, f"{unit} is not enabled: it will not start at boot (`systemctl enable {unit}`)"
    assert active, (
        f"{unit} is not active: see `systemctl status {unit}` and `journalctl -u {unit}` on the host"
    )
    if unit == "postgresql.service":
        # Debian runs each cluster as postgresql@<version>-<name>, part of postgresql.service; NixOS has none.
        clusters = host.service(unit).systemd_properties.get("ConsistsOf", "").split()
        down = [cluster for cluster in clusters if not host.service(cluster).is_running]
        assert not down, f"PostgreSQL cluster unit(s) {', '.join(down)} not active: see `systemctl status {down[0]}`"


def check_provisioning_idempotent(deployment: Any) -> None:
    """Running the sandbox provisioner again changes nothing ("0 changes")."""
    from fixtures.sandbox.provisioner import provision

    report = provision(deployment.ssh, deployment.spec, deployment.db.password.reveal(), tls=deployment.run.ca,
                       backup=deployment.config.backup, logs=deployment.config.logs)
    assert not report.changes, (
        f"a second provisioner run changed the host ({report.summary()}): a step does not compare desired with "
        "actual state, or something on the host drifts on its own"
    )
