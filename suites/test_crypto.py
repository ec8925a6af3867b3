"""Certification: SSH and TLS cryptography as the public baselines define them (suites/crypto_baselines.py)."""
from __future__ import annotations

import pytest

from suites import crypto_checks


@pytest.mark.sandbox
@pytest.mark.staging
@pytest.mark.production
def test_sshd_crypto_meets_ssh_baseline(deployment):
    """sshd's ciphers, MACs, key exchanges and host keys meet dev-sec's ssh-baseline (no SHA-1 or
    encrypt-and-MAC MACs, no NIST-curve key exchange, no ECDSA host keys, a post-quantum hybrid key exchange
    first), both in `sshd -T` and in what the server offers on the wire (its KEXINIT)."""
    crypto_checks.check_sshd_crypto(deployment)


@pytest.mark.sandbox
@pytest.mark.staging
@pytest.mark.production
def test_tls_meets_mozilla_intermediate(deployment):
    """Nginx on 443 accepts only TLS 1.2 and 1.3, only Mozilla intermediate's TLS 1.2 cipher suites and
    groups, and presents a certificate that fits the profile and verifies against the deployment's CA."""
    crypto_checks.check_tls_meets_mozilla_intermediate(deployment)
