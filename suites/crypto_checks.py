"""Cryptography checks: sshd against dev-sec's ssh-baseline, Nginx's TLS against Mozilla's "intermediate".

Both look at what a scanner would grade, from two sides where there are two: the
SSH check reads the effective configuration (``sshd -T`` on the host) *and* what
the server offers on the wire (its KEXINIT); the TLS check offers each protocol
version, TLS 1.2 cipher suite and key exchange group on its own and records what
the server accepts, always verifying the chain against the deployment's CA. The
allowed lists are in suites/crypto_baselines.py. Each ``check_*`` takes the
``deployment`` and raises ``AssertionError`` naming every offending algorithm.
"""
from __future__ import annotations

import datetime
import logging
from typing import Any, Iterable, Optional

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from harness.ssh_kexinit import read_server_kexinit
from harness.tls_probe import Handshake, handshake, offerable_tls12_ciphers
from suites import crypto_baselines as B
from suites.host_checks import parse_sshd_t

log = logging.getLogger("harness.checks.crypto")

SSH_FIX = ("set Ciphers, MACs, KexAlgorithms, HostKeyAlgorithms and HostKey from spec.json crypto.ssh: "
           "sandbox /etc/ssh/sshd_config.d/00-crypto-baseline.conf (the provisioner), NixOS nixos/modules/access.nix")
TLS_FIX = ("set ssl_protocols, ssl_ciphers and ssl_ecdh_curve from spec.json crypto.tls: sandbox Nginx site "
           "(fixtures/sandbox/templates/nginx-site.conf), NixOS nixos/modules/nginx.nix")
# Groups offered one at a time to see which the server accepts (what this machine's OpenSSL can offer).
TLS_PROBE_GROUPS = ("X25519", "X448", "prime256v1", "secp384r1", "secp521r1")
EC_CURVE_NAMES = {"secp256r1": "prime256v1", "secp384r1": "secp384r1"}  # cryptography's name -> OpenSSL's


# ------------------------------------------------------------------------------------------------ SSH

def _mac_reason(mac: str) -> str:
    if "sha1" in mac or "md5" in mac:
        return "a SHA-1/MD5 MAC"
    if mac in B.SSH_BASELINE_MACS:
        return "an encrypt-and-MAC mode: only -etm MACs"
    return f"not in {B.SSH_BASELINE_SOURCE}'s MACs"


def _kex_reason(kex: str) -> str:
    if "nistp" in kex:
        return "a NIST-curve key exchange"
    if "sha1" in kex:
        return "a SHA-1 key exchange"
    return f"not in {B.SSH_BASELINE_SOURCE}'s key exchanges"


def _host_key_reason(algorithm: str) -> str:
    if "ecdsa" in algorithm:
        return "an ECDSA host key"
    if algorithm in ("ssh-rsa", "ssh-dss") or algorithm.startswith("ssh-rsa-cert"):
        return "a SHA-1 host key signature"
    return "not an allowed host key algorithm"


def ssh_crypto_violations(kex: Iterable[str], ciphers: Iterable[str], macs: Iterable[str],
                          host_key_algorithms: Iterable[str]) -> list[str]:
    """What breaks the SSH baseline in these algorithm lists (each named with the reason); empty when none."""
    kex = [k for k in kex if k not in B.SSH_KEX_MARKERS]
    problems = [f"cipher {c} (not in {B.SSH_BASELINE_SOURCE}'s ciphers)"
                for c in dict.fromkeys(ciphers) if c not in B.SSH_ALLOWED_CIPHERS]
    problems += [f"MAC {m} ({_mac_reason(m)})" for m in dict.fromkeys(macs) if m not in B.SSH_ALLOWED_MACS]
    problems += [f"key exchange {k} ({_kex_reason(k)})" for k in kex if k not in B.SSH_ALLOWED_KEX]
    if kex and kex[0] not in B.SSH_PQ_HYBRID_KEX:
        problems.append(f"first key exchange {kex[0]} (a post-quantum hybrid must come first: "
                        f"{' or '.join(B.SSH_PQ_HYBRID_KEX[:2])})")
    if not kex:
        problems.append("no key exchange algorithm")
    problems += [f"host key algorithm {a} ({_host_key_reason(a)})"
                 for a in host_key_algorithms if a not in B.SSH_ALLOWED_HOST_KEY_ALGORITHMS]
    return problems


def host_key_type(path: str) -> str:
    """``/etc/ssh/ssh_host_ed25519_key`` -> ``ed25519`` (the file name's convention)."""
    name = path.rsplit("/", 1)[-1]
    return name.removeprefix("ssh_host_").removesuffix("_key")


def _host_key_violations(host: Any, paths: list[str]) -> list[str]:
    problems = []
    for path in paths:
        kind = host_key_type(path)
        if kind not in B.SSH_ALLOWED_HOST_KEY_TYPES:
            problems.append(f"host key {path} ({'an ECDSA host key' if kind == 'ecdsa' else 'not an allowed type'})")
        elif kind == "rsa":
            with host.sudo():
                fields = host.run("ssh-keygen -l -f %s", path).stdout.split()
            bits = int(fields[0]) if fields and fields[0].isdigit() else 0
            if bits < B.SSH_MIN_RSA_HOST_KEY_BITS:
                problems.append(f"host key {path} (RSA of {bits} bits, fewer than {B.SSH_MIN_RSA_HOST_KEY_BITS})")
    return problems


def _list(effective: dict[str, str], key: str) -> list[str]:
    return [name for name in effective.get(key, "").split(",") if name]


def check_sshd_crypto(deployment: Any) -> None:
    """sshd's ciphers, MACs, key exchanges and host keys meet the SSH baseline in ``sshd -T`` and on the wire."""
    host = deployment.host
    with host.sudo():
        text = host.check_output("sshd -T")
    effective = parse_sshd_t(text)
    host_keys = [line.split(None, 1)[1] for line in text.splitlines() if line.lower().startswith("hostkey ")]
    configured = ssh_crypto_violations(_list(effective, "kexalgorithms"), _list(effective, "ciphers"),
                                       _list(effective, "macs"), _list(effective, "hostkeyalgorithms"))
    configured += _host_key_violations(host, host_keys)
    port = deployment.spec["ports"]["ssh"]
    offered = read_server_kexinit(deployment.address, port)
    log.info("sshd on %s:%s offers kex %s; host keys %s; ciphers %s; MACs %s", deployment.address, port,
             ",".join(offered.kex_algorithms), ",".join(offered.host_key_algorithms), ",".join(offered.ciphers),
             ",".join(offered.macs))
    on_wire = ssh_crypto_violations(offered.kex_algorithms, offered.ciphers + offered.ciphers_client_to_server,
                                    offered.macs + offered.macs_client_to_server, offered.host_key_algorithms)
    lines = [f"sshd -T: {p}" for p in configured] + [f"offered on {deployment.address}:{port}: {p}" for p in on_wire]
    assert not lines, (
        f"sshd's cryptography does not meet {B.SSH_BASELINE_SOURCE} with issue 13's stricter rules:\n  "
        + "\n  ".join(lines) + f"\n{SSH_FIX}"
    )


# ------------------------------------------------------------------------------------------------ TLS

def certificate_problems(der: bytes, *, now: Optional[datetime.datetime] = None) -> list[str]:
    """What in the server's certificate breaks the TLS baseline (key type and size, signature, lifespan)."""
    certificate = x509.load_der_x509_certificate(der)
    problems = []
    key = certificate.public_key()
    if isinstance(key, ec.EllipticCurvePublicKey):
        curve = EC_CURVE_NAMES.get(key.curve.name, key.curve.name)
        if curve not in B.TLS_CERTIFICATE_CURVES:
            problems.append(f"certificate key on curve {curve} (allowed: {', '.join(B.TLS_CERTIFICATE_CURVES)})")
    elif isinstance(key, rsa.RSAPublicKey):
        if key.key_size < B.TLS_RSA_KEY_BITS:
            problems.append(f"certificate RSA key of {key.key_size} bits (at least {B.TLS_RSA_KEY_BITS})")
    else:
        problems.append(f"certificate key type {type(key).__name__} (allowed: {', '.join(B.TLS_CERTIFICATE_TYPES)})")
    signature = getattr(certificate.signature_algorithm_oid, "_name", certificate.signature_algorithm_oid.dotted_string)
    if signature not in B.TLS_CERTIFICATE_SIGNATURES:
        problems.append(f"certificate signature {signature} (allowed: {', '.join(B.TLS_CERTIFICATE_SIGNATURES)})")
    days = (certificate.not_valid_after_utc - certificate.not_valid_before_utc).days
    if days > B.TLS_MAX_CERTIFICATE_DAYS:
        problems.append(f"certificate valid for {days} days (at most {B.TLS_MAX_CERTIFICATE_DAYS})")
    return problems


def tls_violations(versions: dict[str, Handshake], tls12: dict[str, Handshake], groups: dict[str, Handshake]
                   ) -> list[str]:
    """What the handshake outcomes show against the TLS baseline: accepted versions, ciphers, groups it forbids,
    refused versions it requires."""
    problems = []
    for version, outcome in versions.items():
        if outcome.accepted and version not in B.TLS_VERSIONS:
            problems.append(f"accepts {version} (negotiated {outcome.cipher})")
        elif not outcome.accepted and version in B.TLS_VERSIONS:
            problems.append(f"refuses {version} ({outcome.error})")
        elif version == "TLSv1.3" and outcome.accepted and outcome.cipher not in B.TLS13_CIPHERSUITES:
            problems.append(f"negotiated TLS 1.3 suite {outcome.cipher}")
    accepted12 = [cipher for cipher, outcome in tls12.items() if outcome.accepted]
    problems += [f"accepts TLS 1.2 cipher {cipher}" for cipher in accepted12 if cipher not in B.TLS12_CIPHERS]
    problems += [f"accepts group {group}" for group, outcome in groups.items()
                 if outcome.accepted and group not in B.TLS_CURVES]
    if groups and not any(outcome.accepted for outcome in groups.values()):
        problems.append(f"accepts none of the groups {', '.join(groups)}")
    return problems


def check_tls_meets_mozilla_intermediate(deployment: Any) -> dict[str, Any]:
    """Nginx on 443: protocols, TLS 1.2 ciphers, groups and certificate as Mozilla's "intermediate" defines them,
    the chain verified against the deployment's CA. Returns what was negotiated."""
    address, port, trust = deployment.address, deployment.spec["ports"]["https"], deployment.tls_trust

    def attempt(**offer: str) -> Handshake:
        return handshake(address, port, trust, **offer)

    default = attempt()
    assert not default.verify_failed, (
        f"the certificate chain of {address}:{port} does not verify against the CA the deployment is meant to have "
        f"({default.error}); in the sandbox the run's own CA signs it, elsewhere a public CA")
    assert default.accepted, f"no TLS handshake with {address}:{port} ({default.error})"
    versions = {version: attempt(version=version) for version in ("TLSv1", "TLSv1.1", "TLSv1.2", "TLSv1.3")}
    tls12 = {cipher: attempt(version="TLSv1.2", cipher=cipher) for cipher in offerable_tls12_ciphers()}
    groups = {group: attempt(group=group) for group in TLS_PROBE_GROUPS}
    record = {
        "default": f"{default.version} {default.cipher}",
        "versions": {v: (h.cipher if h.accepted else None) for v, h in versions.items()},
        "tls12_ciphers": sorted(c for c, h in tls12.items() if h.accepted),
        "groups": sorted(g for g, h in groups.items() if h.accepted),
    }
    log.info("TLS on %s:%s negotiated %s", address, port, record)
    problems = certificate_problems(default.certificate or b"") + tls_violations(versions, tls12, groups)
    assert not problems, (
        f"TLS on {address}:{port} does not meet {B.TLS_BASELINE_SOURCE}:\n  " + "\n  ".join(problems)
        + f"\n{TLS_FIX}"
    )
    return record
