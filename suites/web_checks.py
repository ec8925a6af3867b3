"""Web certification checks: Nginx in front of the application, TLS, headers, the app's port and user.

Each ``check_*`` takes the ``deployment`` object and raises ``AssertionError``
with an actionable message when the deployment is wrong (``HarnessError`` when
the harness could not find out). suites/test_web.py wraps them as tests; the
fault-injection tests (tests/host/) call them directly.
"""
from __future__ import annotations

import secrets
import socket
import ssl
from typing import Any, Optional

import requests

from harness.http import request, tls_context
from harness.hostprobes import psql_superuser
from harness.hostinfra import is_loopback, listeners

# Security policy (fixed here, not read from spec.json): the headers every response carries.
REQUIRED_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
}
CSP_REQUIRED = "default-src 'self'"
TLS_TIMEOUT = 10.0  # seconds for the raw TLS handshake


def fetch(deployment: Any, url: str, *, method: str = "GET", payload: Optional[dict[str, Any]] = None
          ) -> requests.Response:
    """One HTTP(S) request from this machine (redirects not followed, TLS verified); AssertionError when
    nothing answers or the certificate is not the one the deployment is meant to have."""
    try:
        return request(deployment.http, method, url, payload=payload)
    except requests.exceptions.SSLError as error:
        raise AssertionError(
            f"{method} {url}: the TLS certificate does not verify ({_reason(error)}); it must be issued for "
            f"{deployment.address} by the CA the deployment trusts (in the sandbox the run's own CA), not self-signed"
        ) from None
    except requests.RequestException as error:
        raise AssertionError(
            f"{method} {url} got no HTTP answer ({_reason(error)}); is Nginx running and listening? "
            "On the host: `systemctl status nginx`, `ss -ltnp`, `nginx -t`"
        ) from None


def _reason(error: BaseException) -> str:
    while error.__context__ is not None and not isinstance(error, ssl.SSLError):
        error = error.__context__
    return str(error)[:300]


def _expect_app_answer(response: requests.Response, url: str, expected: int = 200, method: str = "GET") -> None:
    hint = ""
    if response.status_code in (502, 504):
        hint = (" — Nginx answered but could not reach the application: check `proxy_pass` in the Nginx site "
                "and `systemctl status inventory-tracker` on the host")
    elif response.status_code == 503:
        hint = " — the application reports its database unavailable: check PostgreSQL and DATABASE_URL"
    assert response.status_code == expected, (
        f"{method} {url} answered {response.status_code}, expected {expected}{hint}; body: {response.content[:200]!r}"
    )


def check_http_root(deployment: Any) -> None:
    """Nginx on port 80 answers ``/`` with 200 from the application."""
    url = deployment.base_url + "/"
    _expect_app_answer(fetch(deployment, url), url)


def check_http_health(deployment: Any) -> None:
    """Nginx on port 80 answers the health path with 200 (the app is up and reaches its database)."""
    url = deployment.base_url + deployment.spec["app"]["health_path"]
    _expect_app_answer(fetch(deployment, url), url)


def check_tls_handshake(deployment: Any) -> None:
    """Port 443 completes a TLS handshake (TLS 1.2 or newer) with a certificate for the address that
    verifies against the deployment's trust (the run's CA in the sandbox; a self-signed one fails)."""
    host, port = deployment.address, deployment.spec["ports"]["https"]
    try:
        with socket.create_connection((host, port), timeout=TLS_TIMEOUT) as raw:
            with tls_context(deployment.tls_trust).wrap_socket(raw, server_hostname=host) as tls:
                version = tls.version()
                certificate = tls.getpeercert(binary_form=True)
    except ssl.SSLCertVerificationError as error:
        raise AssertionError(
            f"the TLS certificate of {host}:{port} does not verify ({error.verify_message}): it must be issued "
            f"for {host} by the CA the deployment trusts (in the sandbox the run's own CA), not self-signed"
        ) from None
    except (OSError, ssl.SSLError) as error:
        raise AssertionError(
            f"no TLS handshake with {host}:{port} ({error}); check the `listen {port} ssl` server in the Nginx "
            "site, its ssl_certificate files and `systemctl status nginx` on the host"
        ) from None
    assert version in ("TLSv1.2", "TLSv1.3"), f"{host}:{port} negotiated {version}; allow only TLSv1.2 and TLSv1.3"
    assert certificate, f"{host}:{port} presented no certificate; set ssl_certificate in the Nginx site"


def _header_problems(response: requests.Response, *, hsts: bool) -> list[str]:
    problems = []
    for name, value in REQUIRED_HEADERS.items():
        actual = response.headers.get(name)
        if actual is None or actual.strip().lower() != value.lower():
            problems.append(f"{name}: {actual!r} (want {value!r})")
    csp = response.headers.get("Content-Security-Policy")
    if csp is None or CSP_REQUIRED not in csp:
        problems.append(f"Content-Security-Policy: {csp!r} (want it to contain {CSP_REQUIRED!r})")
    if hsts:
        value = response.headers.get("Strict-Transport-Security") or ""
        max_age = 0
        for part in value.split(";"):
            key, _, number = part.strip().partition("=")
            if key.lower() == "max-age" and number.strip().isdigit():
                max_age = int(number)
        if max_age < 86400:
            problems.append(f"Strict-Transport-Security: {value or None!r} (want max-age of at least 86400)")
    return problems


def check_security_headers(deployment: Any) -> None:
    """Responses on 80 and 443 carry the security headers; 443 also HSTS (whatever the status)."""
    problems = []
    for url, hsts in ((deployment.base_url + "/", False), (deployment.https_url + "/", True)):
        problems += [f"{url}: {p}" for p in _header_problems(fetch(deployment, url), hsts=hsts)]
    assert not problems, (
        "missing or wrong security headers (add them with `add_header ... always;` at server level in the Nginx "
        "site; a location with its own add_header drops the server's):\n  " + "\n  ".join(problems)
    )


def check_app_listens_on_loopback_only(deployment: Any) -> None:
    """The application's port listens on the host, on loopback addresses only (testinfra ``host.socket``)."""
    port = deployment.spec["app"]["port"]
    addresses = listeners(deployment.host, port)
    assert addresses, (
        f"nothing listens on port {port} on the host; check `systemctl status {deployment.app_unit}`"
    )
    public = [a for a in addresses if not is_loopback(a)]
    assert not public, (
        f"the application's port {port} listens on {', '.join(public)} (besides loopback): it must bind "
        f"{deployment.spec['app']['bind']} only — check BIND in the unit {deployment.app_unit}"
    )


def check_app_port_closed_from_internet(deployment: Any) -> None:
    """The application's port does not answer from the internet (only Nginx is public)."""
    port = deployment.spec["app"]["port"]
    assert not deployment.instance.internet.is_open(port, timeout=2), (
        f"port {port} answers from the internet; close it in the security group (expose_phoenix_port=false) "
        f"and bind the application to {deployment.spec['app']['bind']}"
    )


def check_app_runs_as_own_user(deployment: Any) -> None:
    """The application's main process runs as the application's own user, not root."""
    unit = deployment.app_unit
    want = deployment.spec["app"]["user"]
    pid = deployment.host.service(unit).systemd_properties.get("MainPID", "")
    assert pid.isdigit() and pid != "0", f"{unit} has no main process (MainPID={pid!r}); is it running?"
    processes = deployment.host.process.filter(pid=int(pid))
    user = processes[0].user if processes else None
    assert user == want, f"{unit}'s main process {pid} runs as {user!r}, expected {want!r}: set User={want} in the unit"


def check_item_roundtrip(deployment: Any) -> None:
    """An item created through Nginx (POST /items) is stored in PostgreSQL and listed by GET /items."""
    name = f"certification-{deployment.run.run_id}-{secrets.token_hex(4)}"
    quantity = secrets.randbelow(1000) + 1
    url = deployment.base_url + "/items"
    created = fetch(deployment, url, method="POST", payload={"name": name, "quantity": quantity})
    _expect_app_answer(created, url, expected=201, method="POST")
    row = created.json()
    assert row.get("name") == name and row.get("quantity") == quantity, f"POST {url} answered {row!r}"
    stored = psql_superuser(
        deployment.ssh, deployment.db.name,
        "SELECT quantity FROM items WHERE name = :'name';", {"name": name},
    ).split()
    assert stored == [str(quantity)], (
        f"the item {name!r} created through Nginx is not in table items of database {deployment.db.name} "
        f"(found {stored!r}); is the application writing to the database named in DATABASE_URL?"
    )
    listed = fetch(deployment, url)
    _expect_app_answer(listed, url)
    assert any(item.get("name") == name for item in listed.json()), f"GET {url} does not list {name!r}"
