"""Faults for the cryptography checks: a weak algorithm re-enabled in sshd or Nginx on the running host.

Each is a host fault (tests/host/host_faults.py): injected over SSH, every host check
runs, and the provisioner repairs it by writing its drop-in and site again.
"""
from __future__ import annotations

import shlex

from host_faults import edit_nginx_site, one_check_fault

SSHD_CRYPTO = "/etc/ssh/sshd_config.d/00-crypto-baseline.conf"  # fixtures/sandbox/render.py Layout.sshd_crypto
CBC_CIPHER = "ECDHE-ECDSA-AES128-SHA"  # TLS 1.2 CBC with a SHA-1 MAC: not in Mozilla intermediate

# The certification checks (node ids as the certificate lists them) behind the names in host_faults.CHECKS.
CRYPTO_CHECK_IDS = {
    "sshd_crypto": ("suites/test_crypto.py::test_sshd_crypto_meets_ssh_baseline",),
    "tls_intermediate": ("suites/test_crypto.py::test_tls_meets_mozilla_intermediate",),
}


def _offered_by_sshd(name: str) -> str:
    """Shell: exit 0 once sshd on the host offers ``name`` in its KEXINIT (the running daemon, not the file).

    `cat` writes what it reads at once; a buffered reader (head) would lose it when `timeout` ends it.
    """
    probe = "exec 3<>/dev/tcp/127.0.0.1/22; printf 'SSH-2.0-fault-probe\\r\\n' >&3; cat <&3"
    return f"timeout 1 bash -c {shlex.quote(probe)} | grep -aqF {shlex.quote(name)}"


def _nginx_accepts(options: str) -> str:
    """Shell: exit 0 once Nginx on the host completes a handshake with these ``openssl s_client`` options."""
    return f"echo | timeout 5 openssl s_client -connect 127.0.0.1:443 {options} >/dev/null 2>&1"


CRYPTO_FAULTS = [
    one_check_fault(
        "hmac-sha1 re-enabled in sshd",
        lambda d: f"sed -i 's/^MACs .*/&,hmac-sha1/' {SSHD_CRYPTO} && sshd -t && systemctl reload ssh.service",
        "sshd_crypto", "hmac-sha1",
        settled=lambda d: _offered_by_sshd("hmac-sha1"),
    ),
    one_check_fault(
        f"a CBC cipher ({CBC_CIPHER}) re-enabled in Nginx",
        lambda d: edit_nginx_site(rf"s/^(\s*ssl_ciphers\s+)([^;]*);/\1\2:{CBC_CIPHER};/"),
        "tls_intermediate", CBC_CIPHER,
        settled=lambda d: _nginx_accepts(f"-tls1_2 -cipher {CBC_CIPHER}"),
    ),
    one_check_fault(
        "TLS 1.0 and 1.1 re-enabled in Nginx",
        lambda d: edit_nginx_site(r"s/^(\s*ssl_protocols\s+)[^;]*;/\1TLSv1 TLSv1.1 TLSv1.2 TLSv1.3;/; "
                                  rf"s/^(\s*ssl_ciphers\s+)([^;]*);/\1\2:{CBC_CIPHER}:@SECLEVEL=0;/"),
        "tls_intermediate", "accepts TLSv1.1",
        settled=lambda d: _nginx_accepts(f"-tls1_1 -cipher {shlex.quote(CBC_CIPHER + ':@SECLEVEL=0')}"),
    ),
]
