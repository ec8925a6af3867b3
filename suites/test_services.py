"""Certification: the services are enabled and active; in the sandbox, provisioning is idempotent."""
from __future__ import annotations

import pytest

from suites import service_checks


@pytest.mark.sandbox
@pytest.mark.staging
@pytest.mark.production
@pytest.mark.parametrize("unit", ["nginx.service", "postgresql.service", "app"])
def test_service_enabled_and_active(deployment, unit):
    """Nginx, PostgreSQL and the application's unit are enabled (start at boot) and active."""
    service_checks.check_unit_enabled_and_active(deployment, deployment.app_unit if unit == "app" else unit)


@pytest.mark.sandbox
@pytest.mark.concurrent
def test_provisioning_is_idempotent(deployment):
    """Running the sandbox provisioner again changes nothing ("0 changes").

    It starts with the deployment, beside the other checks: on a host that is as configured the re-run
    changes nothing they look at; on one that drifted it repairs what it finds, and this check fails,
    naming the changes, so the run is not certified either way."""
    service_checks.check_provisioning_idempotent(deployment)
