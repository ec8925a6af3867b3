"""The run's CA: signs a host's request for the names the harness chooses; a self-signed certificate is not its."""
import datetime
import ipaddress
import stat

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from harness.errors import HarnessError
from harness.tls import RunCA


def _csr(key: ec.EllipticCurvePrivateKey) -> bytes:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "asked-for-name")])
    return x509.CertificateSigningRequestBuilder().subject_name(name).sign(key, hashes.SHA256()).public_bytes(
        serialization.Encoding.PEM)


def _self_signed(key: ec.EllipticCurvePrivateKey) -> bytes:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "self")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(1).not_valid_before(now).not_valid_after(now + datetime.timedelta(days=1))
            .sign(key, hashes.SHA256()))
    return cert.public_bytes(serialization.Encoding.PEM)


def test_the_ca_signs_for_the_names_the_harness_chooses(tmp_path):
    ca = RunCA.open(tmp_path / "ca", "it00000000")
    assert stat.S_IMODE(ca.key_path.stat().st_mode) == 0o600
    host_key = ec.generate_private_key(ec.SECP256R1())
    signed = ca.sign_csr(_csr(host_key), ["10.0.0.2", "localhost"])
    cert = x509.load_pem_x509_certificate(signed)
    names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert names.get_values_for_type(x509.IPAddress) == [ipaddress.ip_address("10.0.0.2")]
    assert names.get_values_for_type(x509.DNSName) == ["localhost"]
    assert cert.public_key().public_numbers() == host_key.public_key().public_numbers()
    assert ca.issued(signed)
    assert RunCA.open(tmp_path / "ca", "it00000000").issued(signed), "opening again keeps the same CA"


def test_a_self_signed_or_other_runs_certificate_is_not_issued_by_the_ca(tmp_path):
    ca = RunCA.open(tmp_path / "ca", "it00000001")
    other = RunCA.open(tmp_path / "other", "it00000002")
    key = ec.generate_private_key(ec.SECP256R1())
    assert not ca.issued(_self_signed(key))
    assert not ca.issued(other.sign_csr(_csr(key), ["localhost"]))


def test_garbage_is_not_signed(tmp_path):
    ca = RunCA.open(tmp_path / "ca", "it00000003")
    with pytest.raises(HarnessError):
        ca.sign_csr(b"not a request", ["localhost"])
