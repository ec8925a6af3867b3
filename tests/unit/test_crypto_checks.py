"""The cryptography checks' rules, the KEXINIT reader and the TLS probe, on real sockets where there are some."""
from __future__ import annotations

import datetime
import socket
import ssl
import struct
import threading
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

from fixtures.sandbox import render
from harness.errors import HarnessError
from harness.spec import load_spec
from harness.ssh_kexinit import parse_kexinit, read_server_kexinit
from harness.tls import RunCA
from harness.tls_probe import Handshake, handshake, offerable_tls12_ciphers
from suites import crypto_baselines as B
from suites.crypto_checks import certificate_problems, host_key_type, ssh_crypto_violations, tls_violations

SPEC = load_spec()


# ------------------------------------------------------------------------------------------------ SSH rules

def test_the_configured_ssh_algorithms_meet_the_baseline():
    """spec.json crypto.ssh (what sshd is configured with) passes the SSH rules, post-quantum hybrid first."""
    ssh = SPEC["crypto"]["ssh"]
    assert ssh_crypto_violations(ssh["kex_algorithms"], ssh["ciphers"], ssh["macs"], ssh["host_key_algorithms"]) == []
    assert ssh["kex_algorithms"][0] in B.SSH_PQ_HYBRID_KEX
    assert set(ssh["host_key_types"]) <= set(B.SSH_ALLOWED_HOST_KEY_TYPES)


def test_weak_ssh_algorithms_are_named_with_their_reason():
    """SHA-1 and encrypt-and-MAC MACs, NIST-curve key exchange, ECDSA and ssh-rsa host keys, a classical first
    key exchange: each is named; the protocol markers in a KEXINIT are not algorithms."""
    problems = ssh_crypto_violations(
        ["curve25519-sha256", "ext-info-s", "kex-strict-s-v00@openssh.com", "ecdh-sha2-nistp256"],
        ["aes128-ctr", "aes128-cbc"],
        ["hmac-sha2-256-etm@openssh.com", "hmac-sha1", "hmac-sha2-256"],
        ["ssh-ed25519", "ecdsa-sha2-nistp256", "ssh-rsa"])
    text = "\n".join(problems)
    assert "MAC hmac-sha1 (a SHA-1/MD5 MAC)" in text
    assert "MAC hmac-sha2-256 (an encrypt-and-MAC mode" in text
    assert "key exchange ecdh-sha2-nistp256 (a NIST-curve key exchange)" in text
    assert "first key exchange curve25519-sha256" in text
    assert "host key algorithm ecdsa-sha2-nistp256 (an ECDSA host key)" in text
    assert "host key algorithm ssh-rsa (a SHA-1 host key signature)" in text
    assert "cipher aes128-cbc" in text
    assert "ext-info-s" not in text and "kex-strict" not in text
    assert len(problems) == 7


def test_host_key_type_from_its_file_name():
    assert host_key_type("/etc/ssh/ssh_host_ed25519_key") == "ed25519"
    assert host_key_type("/etc/ssh/ssh_host_ecdsa_key") == "ecdsa"


def test_sshd_drop_in_renders_the_spec():
    """The sandbox's sshd drop-in carries spec.json crypto.ssh, one HostKey line per type, no placeholder left."""
    ssh = SPEC["crypto"]["ssh"]
    text = render.sshd_crypto(SPEC)
    assert f"MACs {','.join(ssh['macs'])}\n" in text
    assert f"KexAlgorithms {','.join(ssh['kex_algorithms'])}\n" in text
    assert f"Ciphers {','.join(ssh['ciphers'])}\n" in text
    assert [line for line in text.splitlines() if line.startswith("HostKey ")] == [
        f"HostKey /etc/ssh/ssh_host_{kind}_key" for kind in ssh["host_key_types"]]
    assert "@" not in text.replace("@openssh.com", "").replace("@libssh.org", "")


# ------------------------------------------------------------------------------------------------ KEXINIT

def _name_list(names: list[str]) -> bytes:
    raw = ",".join(names).encode()
    return struct.pack(">I", len(raw)) + raw


def _kexinit_payload() -> bytes:
    lists = [["mlkem768x25519-sha256", "curve25519-sha256", "ext-info-s"], ["ssh-ed25519"],
             ["aes128-ctr"], ["aes256-gcm@openssh.com", "aes128-ctr"], ["hmac-sha1"],
             ["hmac-sha2-256-etm@openssh.com", "hmac-sha1"], ["none"], ["none", "zlib@openssh.com"], [], []]
    return bytes([20]) + b"\x11" * 16 + b"".join(_name_list(names) for names in lists) + b"\x00" + b"\x00" * 4


def _packet(payload: bytes) -> bytes:
    padding = 8 - (len(payload) + 5) % 8 + 8
    return struct.pack(">IB", len(payload) + padding + 1, padding) + payload + b"\x00" * padding


def test_parse_kexinit_reads_the_server_to_client_lists():
    offered = parse_kexinit(_kexinit_payload(), "SSH-2.0-x")
    assert offered.kex_algorithms == ("mlkem768x25519-sha256", "curve25519-sha256", "ext-info-s")
    assert offered.host_key_algorithms == ("ssh-ed25519",)
    assert offered.ciphers == ("aes256-gcm@openssh.com", "aes128-ctr")
    assert offered.ciphers_client_to_server == ("aes128-ctr",)
    assert offered.macs == ("hmac-sha2-256-etm@openssh.com", "hmac-sha1")
    assert offered.compression == ("none", "zlib@openssh.com")


def test_parse_kexinit_refuses_other_messages_and_short_payloads():
    with pytest.raises(HarnessError, match="not KEXINIT"):
        parse_kexinit(bytes([21]) + b"\x00" * 40)
    with pytest.raises(HarnessError, match="cut short|ends before"):
        parse_kexinit(_kexinit_payload()[:40])


def _serve_once(handler) -> tuple[int, threading.Thread]:
    server = socket.create_server(("127.0.0.1", 0))
    port = server.getsockname()[1]

    def run() -> None:
        with server:
            connection, _ = server.accept()
            with connection:
                handler(connection)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return port, thread


def test_read_server_kexinit_over_a_socket():
    """A server that sends a line before its version, then its KEXINIT once it has the client's version."""
    received = []

    def ssh_server(connection: socket.socket) -> None:
        connection.sendall(b"a banner line\r\nSSH-2.0-OpenSSH_10.0p2 Debian-7\r\n")
        received.append(connection.recv(100))
        connection.sendall(_packet(_kexinit_payload()))

    port, thread = _serve_once(ssh_server)
    offered = read_server_kexinit("127.0.0.1", port, timeout=5)
    thread.join(5)
    assert offered.version == "SSH-2.0-OpenSSH_10.0p2 Debian-7"
    assert received and received[0].startswith(b"SSH-2.0-")
    assert "hmac-sha1" in offered.macs


def test_read_server_kexinit_names_a_server_that_closes():
    port, thread = _serve_once(lambda connection: connection.sendall(b"SSH-2.0-x\r\n"))
    # the server's close reaches the client as an end of stream, or (when it closed with our banner unread) a reset
    with pytest.raises(HarnessError, match="closed the connection|Connection reset by peer"):
        read_server_kexinit("127.0.0.1", port, timeout=5)
    thread.join(5)


# ------------------------------------------------------------------------------------------------ TLS rules

def test_the_configured_tls_values_are_the_baselines():
    """spec.json crypto.tls (what Nginx is configured with) stays inside Mozilla intermediate."""
    tls = SPEC["crypto"]["tls"]
    assert tuple(tls["protocols"]) == B.TLS_VERSIONS
    assert set(tls["ciphers"]) <= set(B.TLS12_CIPHERS) and set(tls["curves"]) <= set(B.TLS_CURVES)
    site = render.nginx_site(SPEC)
    assert f"ssl_ciphers         {':'.join(tls['ciphers'])};" in site
    assert f"ssl_ecdh_curve      {':'.join(tls['curves'])};" in site
    assert "ssl_protocols       TLSv1.2 TLSv1.3;" in site


def test_tls_violations_name_what_the_server_accepts_against_the_baseline():
    ok = Handshake("x", "TLSv1.3", "TLS_AES_256_GCM_SHA384")
    refused = Handshake("x", error="unsupported protocol")
    versions = {"TLSv1": refused, "TLSv1.1": Handshake("x", "TLSv1.1", "ECDHE-ECDSA-AES128-SHA"),
                "TLSv1.2": refused, "TLSv1.3": ok}
    tls12 = {"ECDHE-ECDSA-AES128-GCM-SHA256": ok, "ECDHE-ECDSA-AES128-SHA": ok, "AES128-SHA": refused}
    groups = {"X25519": ok, "secp521r1": ok, "X448": refused}
    problems = tls_violations(versions, tls12, groups)
    assert problems == ["accepts TLSv1.1 (negotiated ECDHE-ECDSA-AES128-SHA)", "refuses TLSv1.2 (unsupported protocol)",
                        "accepts TLS 1.2 cipher ECDHE-ECDSA-AES128-SHA", "accepts group secp521r1"]
    assert tls_violations({"TLSv1.2": ok, "TLSv1.3": ok}, {"ECDHE-ECDSA-AES128-GCM-SHA256": ok}, {"X25519": ok}) == []


def _certificate(key, *, days: int, signer=None) -> bytes:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "host")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(1).not_valid_before(now).not_valid_after(now + datetime.timedelta(days=days))
            .sign(signer or key, hashes.SHA256()))
    return cert.public_bytes(serialization.Encoding.DER)


def test_certificate_problems():
    """P-256 with ecdsa-with-SHA256 for 30 days fits; P-521, RSA 1024 and 400 days do not."""
    assert certificate_problems(_certificate(ec.generate_private_key(ec.SECP256R1()), days=30)) == []
    p521 = certificate_problems(_certificate(ec.generate_private_key(ec.SECP521R1()), days=400))
    assert any("curve secp521r1" in p for p in p521) and any("valid for 400 days" in p for p in p521)
    small = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    assert any("RSA key of 1024 bits" in p for p in certificate_problems(_certificate(small, days=30)))


# ------------------------------------------------------------------------------------------------ TLS probe

@pytest.fixture(scope="module")
def tls_server(tmp_path_factory):
    """A TLS 1.2/1.3 server on loopback with a certificate from a RunCA, ECDHE-ECDSA-AES128-GCM-SHA256 only in
    TLS 1.2, groups X25519 and P-256; it answers handshakes until the module ends."""
    folder: Path = tmp_path_factory.mktemp("tls")
    ca = RunCA.open(folder / "ca", "unit")
    key = ec.generate_private_key(ec.SECP256R1())
    csr = (x509.CertificateSigningRequestBuilder()
           .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "h")])).sign(key, hashes.SHA256()))
    (folder / "cert.pem").write_bytes(ca.sign_csr(csr.public_bytes(serialization.Encoding.PEM), ["127.0.0.1"]))
    (folder / "key.pem").write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                       serialization.NoEncryption()))
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(folder / "cert.pem", folder / "key.pem")
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.set_ciphers("ECDHE-ECDSA-AES128-GCM-SHA256")
    context.set_ecdh_curve("prime256v1")
    server = socket.create_server(("127.0.0.1", 0))
    server.settimeout(0.2)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                connection, _ = server.accept()
            except OSError:
                continue
            connection.settimeout(5)
            try:
                with context.wrap_socket(connection, server_side=True) as tls:
                    tls.recv(1)
            except (ssl.SSLError, OSError):
                connection.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield server.getsockname()[1], str(ca.cert_path), folder
    stop.set()
    thread.join(5)
    server.close()


def test_handshake_reports_what_is_negotiated_and_what_is_refused(tls_server):
    port, trust, _ = tls_server
    default = handshake("127.0.0.1", port, trust)
    assert default.accepted and default.version == "TLSv1.3" and default.certificate
    tls12 = handshake("127.0.0.1", port, trust, version="TLSv1.2")
    assert (tls12.version, tls12.cipher) == ("TLSv1.2", "ECDHE-ECDSA-AES128-GCM-SHA256")
    assert not handshake("127.0.0.1", port, trust, version="TLSv1.1").accepted
    assert not handshake("127.0.0.1", port, trust, version="TLSv1.2", cipher="ECDHE-ECDSA-AES128-SHA").accepted
    assert not handshake("127.0.0.1", port, trust, version="TLSv1.2", group="secp384r1").accepted
    assert "ECDHE-ECDSA-AES128-SHA" in offerable_tls12_ciphers()


def test_handshake_verifies_against_the_given_ca_only(tls_server):
    """Another CA's trust fails verification (never CERT_NONE): the probe says so."""
    port, _, folder = tls_server
    other = RunCA.open(folder / "other-ca", "other")
    outcome = handshake("127.0.0.1", port, str(other.cert_path))
    assert not outcome.accepted and outcome.verify_failed


def test_handshake_names_a_port_without_a_server():
    with socket.create_server(("127.0.0.1", 0)) as closed:
        port = closed.getsockname()[1]
    with pytest.raises(AssertionError, match="nothing accepts TCP connections"):
        handshake("127.0.0.1", port, True, timeout=2)
