"""The host fault tests' shared fixture."""
from __future__ import annotations

import pytest

from host_faults import failed_checks


@pytest.fixture(scope="module")
def sandbox_host(deployment):
    """The provisioned sandbox; every check passes on it before any fault is injected."""
    if deployment.environment != "sandbox":
        pytest.skip("fault injection breaks the host: sandbox only")
    assert failed_checks(deployment) == {}, "the freshly provisioned sandbox must pass every check"
    return deployment
