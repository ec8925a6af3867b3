"""The run's own certificate authority: the sandbox's TLS is verified against it.

Each run makes a CA (key kept in the run folder, mode 0600). The host makes its
own key and a certificate signing request with openssl; the harness signs the
request here and the certificate goes back to the host, so the host's private
key never leaves it. The checks then verify the chain against the CA
certificate: a self-signed certificate (or one from another run) fails.
"""
from __future__ import annotations

import datetime
import ipaddress
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from harness.errors import HarnessError

CA_DAYS = 30
HOST_DAYS = 30


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _san(names: Sequence[str]) -> x509.SubjectAlternativeName:
    entries: list[x509.GeneralName] = []
    for name in names:
        try:
            entries.append(x509.IPAddress(ipaddress.ip_address(name)))
        except ValueError:
            entries.append(x509.DNSName(name))
    return x509.SubjectAlternativeName(entries)


@dataclass(frozen=True)
class RunCA:
    """A CA whose key and certificate live in ``directory`` (``ca.key`` 0600, ``ca.pem``)."""

    directory: Path

    @property
    def cert_path(self) -> Path:
        """The CA certificate (PEM): what clients trust."""
        return self.directory / "ca.pem"

    @property
    def key_path(self) -> Path:
        return self.directory / "ca.key"

    @classmethod
    def open(cls, directory: Path, label: str) -> "RunCA":
        """The CA in ``directory``, created (named after ``label``) when there is none."""
        ca = cls(Path(directory))
        if not ca.cert_path.exists() or not ca.key_path.exists():
            ca._create(label)
        return ca

    def _create(self, label: str) -> None:
        key = ec.generate_private_key(ec.SECP256R1())
        now = datetime.datetime.now(datetime.timezone.utc)
        name = _name(f"inventory-tracker harness CA {label}")
        cert = (
            x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=CA_DAYS))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=False, content_commitment=False, key_encipherment=False,
                                         data_encipherment=False, key_agreement=False, key_cert_sign=True,
                                         crl_sign=True, encipher_only=False, decipher_only=False), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .sign(key, hashes.SHA256())
        )
        self.directory.mkdir(parents=True, exist_ok=True)
        pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
        fd = os.open(self.key_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(pem)
        self.cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))

    def certificate_pem(self) -> bytes:
        """The CA certificate, PEM."""
        return self.cert_path.read_bytes()

    def sign_csr(self, csr_pem: bytes, names: Sequence[str], *, days: int = HOST_DAYS) -> bytes:
        """Sign a host's certificate request for ``names`` (the harness decides the names, not the request).

        The request's own signature must verify (it proves the host holds the key).
        """
        try:
            csr = x509.load_pem_x509_csr(csr_pem)
        except ValueError as exc:
            raise HarnessError(f"the host sent no valid certificate request: {exc}") from None
        if not csr.is_signature_valid:
            raise HarnessError("the host's certificate request has an invalid signature")
        if not names:
            raise HarnessError("a host certificate needs at least one name")
        key = serialization.load_pem_private_key(self.key_path.read_bytes(), password=None)
        assert isinstance(key, ec.EllipticCurvePrivateKey)
        ca_cert = x509.load_pem_x509_certificate(self.certificate_pem())
        now = datetime.datetime.now(datetime.timezone.utc)
        cert = (
            x509.CertificateBuilder().subject_name(_name(names[0])).issuer_name(ca_cert.subject)
            .public_key(csr.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=days))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(_san(names), critical=False)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(key.public_key()), critical=False)
            .sign(key, hashes.SHA256())
        )
        return cert.public_bytes(serialization.Encoding.PEM)

    def issued(self, cert_pem: bytes) -> bool:
        """True when ``cert_pem`` was signed by this CA."""
        try:
            cert = x509.load_pem_x509_certificate(cert_pem)
            cert.verify_directly_issued_by(x509.load_pem_x509_certificate(self.certificate_pem()))
        except (ValueError, TypeError, InvalidSignature):
            return False
        return True
