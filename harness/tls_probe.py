"""One TLS handshake with a chosen protocol version, cipher suite or key exchange group, always verified.

A scanner grades a TLS server by what it *accepts*: :func:`handshake` offers exactly
what it is told (one version, one TLS 1.2 cipher, one group) and reports whether the
server completed the handshake and what was negotiated. The chain and the name are
verified against the deployment's trust in every attempt (never ``CERT_NONE``); the
client's own security level is lowered only so that it can *offer* old protocols and
ciphers, which the server must refuse.
"""
from __future__ import annotations

import socket
import ssl
import warnings
from dataclasses import dataclass
from typing import Optional

from harness.http import Trust, tls_context

TIMEOUT = 10.0  # seconds to connect and complete one handshake
VERSIONS = {
    "TLSv1": ssl.TLSVersion.TLSv1, "TLSv1.1": ssl.TLSVersion.TLSv1_1,
    "TLSv1.2": ssl.TLSVersion.TLSv1_2, "TLSv1.3": ssl.TLSVersion.TLSv1_3,
}


@dataclass(frozen=True)
class Handshake:
    """The outcome of one handshake: what was negotiated, or why it failed."""

    offered: str  # what was offered, for messages ("TLSv1.1", "TLSv1.2 ECDHE-ECDSA-AES128-SHA", ...)
    version: Optional[str] = None  # negotiated protocol; None when the handshake failed
    cipher: Optional[str] = None
    certificate: Optional[bytes] = None  # the server's certificate (DER)
    error: Optional[str] = None  # why the handshake failed (the server's alert, or a verification failure)
    verify_failed: bool = False  # the handshake failed because the chain or name did not verify

    @property
    def accepted(self) -> bool:
        return self.version is not None


def _context(trust: Trust, version: Optional[str], cipher: Optional[str], group: Optional[str]) -> ssl.SSLContext:
    context = tls_context(trust)  # CERT_REQUIRED and check_hostname, against the deployment's CA
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # TLSv1/TLSv1_1 are deprecated: offered on purpose
        if version is not None:
            context.minimum_version = context.maximum_version = VERSIONS[version]
        if version in ("TLSv1", "TLSv1.1") or cipher is not None:
            context.set_ciphers((cipher or "ALL") + ":@SECLEVEL=0")  # let the client offer what must be refused
    if group is not None:
        context.set_ecdh_curve(group)
    return context


def handshake(address: str, port: int, trust: Trust, *, version: Optional[str] = None,
              cipher: Optional[str] = None, group: Optional[str] = None, timeout: float = TIMEOUT) -> Handshake:
    """Try one handshake offering only ``version`` / ``cipher`` (TLS 1.2 names) / ``group``.

    Raises ``AssertionError`` when nothing accepts a TCP connection on ``address:port``.
    """
    offered = " ".join(part for part in (version, cipher, group) if part) or "defaults"
    try:
        context = _context(trust, version, cipher, group)
    except (ssl.SSLError, ValueError) as error:
        return Handshake(offered, error=f"this client cannot offer it ({error})")
    try:
        raw = socket.create_connection((address, port), timeout=timeout)
    except OSError as error:
        raise AssertionError(f"nothing accepts TCP connections on {address}:{port} ({error}): is Nginx running?") \
            from None
    with raw:
        try:
            with context.wrap_socket(raw, server_hostname=address) as tls:
                negotiated = tls.cipher()
                return Handshake(offered, tls.version(), negotiated[0] if negotiated else None,
                                 tls.getpeercert(binary_form=True))
        except ssl.SSLCertVerificationError as error:
            return Handshake(offered, error=str(error.verify_message), verify_failed=True)
        except (ssl.SSLError, OSError) as error:
            return Handshake(offered, error=getattr(error, "reason", None) or str(error))


def offerable_tls12_ciphers() -> list[str]:
    """Every TLS 1.2 (and older) cipher suite this machine's OpenSSL can offer, by OpenSSL name."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.set_ciphers("ALL:COMPLEMENTOFALL:@SECLEVEL=0")
    return sorted({c["name"] for c in context.get_ciphers() if c["protocol"] != "TLSv1.3"})
