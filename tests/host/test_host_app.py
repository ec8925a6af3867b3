"""The stand-in application's contract, through Nginx on the provisioned sandbox.

The same contract the Phoenix release keeps: /health answers 503 (not 200, not a crash)
while the database is down and 200 again once it is back; the inventory API validates
its input.
"""
from __future__ import annotations

import pytest

from harness.retry import wait_until
from host_faults import failed_checks, repair
from suites.web_checks import fetch


@pytest.fixture(scope="module")
def sandbox_host(deployment):
    """The provisioned sandbox deployment."""
    if deployment.environment != "sandbox":
        pytest.skip("these tests stop services on the host: sandbox only")
    return deployment


def test_health_is_503_while_the_database_is_down(sandbox_host):
    """Stopping PostgreSQL turns /health into 503 while / still answers; the provisioner brings it back."""
    deployment = sandbox_host
    health = deployment.base_url + deployment.spec["app"]["health_path"]
    try:
        deployment.ssh.sudo("systemctl stop 'postgresql@*-main.service'")
        status = wait_until("/health to answer 503 with the database stopped",
                            lambda: fetch(deployment, health).status_code == 503 or None, timeout=30, interval=0.5)
        assert status
        assert fetch(deployment, deployment.base_url + "/").status_code == 200, "the app must keep serving / without its database"
        body = fetch(deployment, health).json()
        assert body.get("status") == "error"
    finally:
        report = repair(deployment)
    assert any("postgresql" in change for change in report.changes), report.summary()
    assert fetch(deployment, health).status_code == 200
    assert failed_checks(deployment) == {}


@pytest.mark.parametrize("payload, expected", [
    ({"name": "bolt", "quantity": -1}, 400),
    ({"name": "", "quantity": 1}, 400),
    ({"name": "bolt", "quantity": "3"}, 400),
    ({"quantity": 3}, 400),
    ([1, 2], 400),
    ({"name": "washer", "quantity": 0}, 201),
])
def test_items_api_validates_input(sandbox_host, payload, expected):
    """POST /items accepts a name and a non-negative integer quantity, and answers 400 otherwise."""
    answer = fetch(sandbox_host, sandbox_host.base_url + "/items", method="POST", payload=payload)
    assert answer.status_code == expected, f"POST /items {payload!r} answered {answer.status_code}: {answer.content[:200]!r}"


def test_malformed_json_and_unknown_paths(sandbox_host):
    """A body that is not JSON answers 400; an unknown path answers 404."""
    answer = sandbox_host.http.post(sandbox_host.base_url + "/items", data=b"{not json", timeout=10,
                                    headers={"Content-Type": "application/json"}, allow_redirects=False)
    status = answer.status_code
    assert status == 400
    assert fetch(sandbox_host, sandbox_host.base_url + "/no-such-page").status_code == 404
