"""Certification: the web tier (Nginx, TLS, headers) and the application behind it."""
from __future__ import annotations

import pytest

from suites import web_checks


@pytest.mark.sandbox
@pytest.mark.staging
@pytest.mark.production
def test_root_answers_through_nginx(deployment):
    """Nginx on port 80 answers / with 200 from the application."""
    web_checks.check_http_root(deployment)


@pytest.mark.sandbox
@pytest.mark.staging
@pytest.mark.production
def test_health_answers_through_nginx(deployment):
    """Nginx on port 80 answers the health path with 200: the app is up and reaches its database."""
    web_checks.check_http_health(deployment)


@pytest.mark.sandbox
@pytest.mark.staging
@pytest.mark.production
def test_https_completes_tls_handshake(deployment):
    """Port 443 completes a TLS handshake (TLS 1.2+) and presents a certificate."""
    web_checks.check_tls_handshake(deployment)


@pytest.mark.sandbox
@pytest.mark.staging
@pytest.mark.production
def test_security_headers_present(deployment):
    """Responses on 80 and 443 carry nosniff, DENY, no-referrer and a CSP; 443 also HSTS."""
    web_checks.check_security_headers(deployment)


@pytest.mark.sandbox
@pytest.mark.staging
@pytest.mark.production
def test_app_port_listens_on_loopback_only(deployment):
    """The application's port 4000 listens on 127.0.0.1 only (ss on the host)."""
    web_checks.check_app_listens_on_loopback_only(deployment)


@pytest.mark.sandbox
@pytest.mark.staging
@pytest.mark.production
@pytest.mark.concurrent
def test_app_port_closed_from_internet(deployment):
    """The application's port does not answer from the internet (unless expose_phoenix_port is set)."""
    if deployment.expose_phoenix_port:
        pytest.skip("expose_phoenix_port is true for this deployment: the port is meant to be reachable")
    web_checks.check_app_port_closed_from_internet(deployment)


@pytest.mark.sandbox
@pytest.mark.staging
@pytest.mark.production
def test_app_runs_as_its_own_user(deployment):
    """The application's main process runs as the application user from the spec, not root."""
    web_checks.check_app_runs_as_own_user(deployment)


@pytest.mark.sandbox
@pytest.mark.staging
def test_item_created_through_nginx_is_stored(deployment):
    """An item POSTed through Nginx is stored in PostgreSQL and listed back (writes: not on production)."""
    web_checks.check_item_roundtrip(deployment)
