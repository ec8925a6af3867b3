"""Certification: the host's logs reach CloudWatch Logs, and the basic monitoring is in place (every environment).

The application's, Nginx's (JSON access lines carrying the request id) and
PostgreSQL's journal entries are shipped to the environment's log group with the
instance profile's credentials (Vector on NixOS, a stand-in shipper in the sandbox);
the group keeps them for the declared retention; the instance has its alarms (EC2
status check with the recover action, CPU credits of a t2, root volume nearly full);
and nothing secret is in what was shipped.
"""
from __future__ import annotations

import logging

import pytest

from suites import log_checks

log = logging.getLogger("harness.suites.logs")

pytestmark = [pytest.mark.sandbox, pytest.mark.staging, pytest.mark.production]


@pytest.mark.concurrent
def test_request_reaches_the_log_group(deployment):
    """A request with a unique X-Request-Id through Nginx is in the group within 30 s, with status and path."""
    latency = log_checks.check_request_delivered(deployment)
    log.info("log delivery latency (Nginx access line, request -> event found): %.2f s", latency)


@pytest.mark.concurrent
def test_application_line_reaches_the_log_group(deployment):
    """The application's log line of a request is in the group within 30 s."""
    latency = log_checks.check_app_line_delivered(deployment)
    log.info("log delivery latency (application line): %.2f s", latency)


@pytest.mark.concurrent
def test_postgresql_line_reaches_the_log_group(deployment):
    """A PostgreSQL log line (RAISE LOG with a marker) is in the group within 30 s."""
    latency = log_checks.check_postgresql_line_delivered(deployment)
    log.info("log delivery latency (PostgreSQL line): %.2f s", latency)


def test_log_group_retention(deployment):
    """The log group keeps events for spec.json logs.retention_days."""
    log_checks.check_retention(deployment)


def test_status_check_alarm_recovers_the_instance(deployment):
    """StatusCheckFailed_System on the instance triggers arn:aws:automate:<region>:ec2:recover."""
    log_checks.check_status_check_alarm(deployment)


def test_cpu_credit_alarm(deployment):
    """A t2 instance has its CPU credit balance alarm with the declared threshold."""
    log_checks.check_cpu_credit_alarm(deployment)


def test_disk_alarm(deployment):
    """The root volume alarm watches the host's disk_used_percent with the declared threshold."""
    log_checks.check_disk_alarm(deployment)


def test_no_secret_was_shipped(deployment):
    """The run's secret values (database password, SECRET_KEY_BASE, AWS credentials) are not in the group."""
    count = log_checks.check_no_secret_shipped(deployment)
    log.info("searched %d shipped events for the run's secrets: none found", count)
