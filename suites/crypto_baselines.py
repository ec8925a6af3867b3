"""Security policy as data: the public baselines SSH and TLS are certified against.

Fixed here (not read from spec.json, which holds what the hosts are *configured*
with), so a mistake in the configuration cannot certify itself. Each list names
its source; where the project is stricter than the source (issue 13), the extra
rule is its own constant with the reason beside it.
"""
from __future__ import annotations

# ---------------------------------------------------------------------------------------------- SSH
# Source: dev-sec ssh-baseline 2.8.1 (https://github.com/dev-sec/ssh-baseline, commit 975dff3),
# libraries/ssh_crypto.rb, the branches for OpenSSH >= 8.5 (valid_kexs), >= 6.6 (valid_ciphers,
# valid_macs, valid_algorithms); controls sshd-01/02/03 (Ciphers, KexAlgorithms, MACs), sshd-14 (HostKey).
SSH_BASELINE_SOURCE = "dev-sec ssh-baseline 2.8.1 (libraries/ssh_crypto.rb)"
SSH_BASELINE_CIPHERS = (
    "chacha20-poly1305@openssh.com", "aes256-gcm@openssh.com", "aes128-gcm@openssh.com",
    "aes256-ctr", "aes192-ctr", "aes128-ctr",
)
SSH_BASELINE_KEX = (
    "sntrup761x25519-sha512@openssh.com", "curve25519-sha256@libssh.org", "diffie-hellman-group-exchange-sha256",
)
SSH_BASELINE_MACS = (
    "hmac-sha2-512-etm@openssh.com", "hmac-sha2-256-etm@openssh.com", "umac-128-etm@openssh.com",
    "hmac-sha2-512", "hmac-sha2-256",
)
SSH_BASELINE_HOST_KEY_TYPES = ("rsa", "ecdsa", "ed25519")

# Names the baseline (2024) predates, for the same or a stronger algorithm in Debian 13's OpenSSH 10.0:
# mlkem768x25519-sha256 (ML-KEM hybrid, OpenSSH 9.9, its default since 10.0), sntrup761x25519-sha512
# (the IETF name of sntrup761x25519-sha512@openssh.com, OpenSSH 9.9), curve25519-sha256 (RFC 8731's
# name of curve25519-sha256@libssh.org).
SSH_KEX_NEWER_NAMES = ("mlkem768x25519-sha256", "sntrup761x25519-sha512", "curve25519-sha256")
SSH_ALLOWED_KEX = SSH_KEX_NEWER_NAMES + SSH_BASELINE_KEX
SSH_ALLOWED_CIPHERS = SSH_BASELINE_CIPHERS

# Stricter than the baseline (issue 13): no encrypt-and-MAC modes, so of its MACs only the -etm ones.
SSH_ALLOWED_MACS = tuple(mac for mac in SSH_BASELINE_MACS if mac.endswith("-etm@openssh.com"))
# Stricter than the baseline (issue 13): no ECDSA (NIST-curve) host keys; and no SHA-1 signatures, so of
# the RSA host key algorithms only rsa-sha2-* (ssh-rsa signs with SHA-1).
SSH_ALLOWED_HOST_KEY_TYPES = tuple(t for t in SSH_BASELINE_HOST_KEY_TYPES if t != "ecdsa")
SSH_ALLOWED_HOST_KEY_ALGORITHMS = ("ssh-ed25519", "rsa-sha2-512", "rsa-sha2-256")
# Post-quantum hybrid key exchange first (issue 13): the first key exchange offered is one of these.
SSH_PQ_HYBRID_KEX = ("mlkem768x25519-sha256", "sntrup761x25519-sha512", "sntrup761x25519-sha512@openssh.com")
# Names in a KEXINIT's key exchange list that are protocol markers, not algorithms (RFC 8308, OpenSSH
# PROTOCOL "strict KEX"); they are neither allowed nor forbidden.
SSH_KEX_MARKERS = ("ext-info-s", "ext-info-c", "kex-strict-s-v00@openssh.com", "kex-strict-c-v00@openssh.com")
# Smallest RSA host key the baseline accepts (control sshd-50), in bits.
SSH_MIN_RSA_HOST_KEY_BITS = 4096

# ---------------------------------------------------------------------------------------------- TLS
# Source: Mozilla Server Side TLS guidelines 6.0, configuration "intermediate"
# (https://ssl-config.mozilla.org/guidelines/6.0.json, mozilla/ssl-config-generator).
TLS_BASELINE_SOURCE = "Mozilla Server Side TLS 6.0, intermediate"
TLS_VERSIONS = ("TLSv1.2", "TLSv1.3")
# TLS 1.2 cipher suites by OpenSSL name ("ciphers"."openssl").
TLS12_CIPHERS = (
    "ECDHE-ECDSA-AES128-GCM-SHA256", "ECDHE-RSA-AES128-GCM-SHA256",
    "ECDHE-ECDSA-AES256-GCM-SHA384", "ECDHE-RSA-AES256-GCM-SHA384",
    "ECDHE-ECDSA-CHACHA20-POLY1305", "ECDHE-RSA-CHACHA20-POLY1305",
)
TLS13_CIPHERSUITES = ("TLS_AES_128_GCM_SHA256", "TLS_AES_256_GCM_SHA384", "TLS_CHACHA20_POLY1305_SHA256")
# Key exchange groups ("tls_curves"), by OpenSSL name.
TLS_CURVES = ("X25519MLKEM768", "X25519", "prime256v1", "secp384r1")
TLS_CERTIFICATE_TYPES = ("ecdsa", "rsa")
TLS_CERTIFICATE_CURVES = ("prime256v1", "secp384r1")  # for ECDSA certificates
TLS_CERTIFICATE_SIGNATURES = ("sha256WithRSAEncryption", "ecdsa-with-SHA256", "ecdsa-with-SHA384",
                              "ecdsa-with-SHA512")
TLS_RSA_KEY_BITS = 2048  # smallest RSA certificate key
TLS_MAX_CERTIFICATE_DAYS = 366  # "maximum_certificate_lifespan"
