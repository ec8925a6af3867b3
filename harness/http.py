"""HTTP from this machine to the deployment: one ``requests.Session``, TLS verified, a timeout on every call.

Redirects are never followed (a check must see them). TLS is verified against
what the deployment is meant to present: in the sandbox the run's own CA
(harness/tls.py), elsewhere the system trust store (certifi). A self-signed
certificate fails either way.
"""
from __future__ import annotations

import ssl
from typing import Any, Optional, Union

import certifi
import requests

TIMEOUT = 10.0  # seconds, connect and read

Trust = Union[str, bool]  # a CA bundle path, or True for the system trust store


def http_session(trust: Trust) -> requests.Session:
    """A session that verifies TLS against ``trust`` and ignores proxy settings of the environment."""
    session = requests.Session()
    session.verify = trust
    session.trust_env = False  # the sandbox's addresses are never reached through a proxy
    return session


def request(session: requests.Session, method: str, url: str, *, payload: Optional[Any] = None,
            timeout: float = TIMEOUT) -> requests.Response:
    """One request, redirects not followed, with a timeout; ``payload`` is sent as JSON."""
    return session.request(method, url, json=payload, allow_redirects=False, timeout=timeout)


def tls_context(trust: Trust) -> ssl.SSLContext:
    """A client TLS context that verifies the chain and the name against ``trust``."""
    return ssl.create_default_context(cafile=trust if isinstance(trust, str) else certifi.where())
