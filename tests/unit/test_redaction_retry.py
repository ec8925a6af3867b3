"""Redaction and waits."""
import logging

import pytest

from harness.errors import HarnessError
from harness.redaction import RedactingFilter, redact, register_secret
from harness.retry import wait_until


def test_redact_masks_registered_secrets_and_private_keys():
    register_secret("hunter2-password")
    key = "-----BEGIN OPENSSH PRIVATE KEY-----\nabc\n-----END OPENSSH PRIVATE KEY-----"
    text = redact(f"pw=hunter2-password key={key}")
    assert "hunter2-password" not in text and "abc" not in text and "***" in text


def test_redact_masks_a_secret_url_encoded():
    register_secret("pass/word+with:chars")
    assert redact("postgresql://app:pass%2Fword%2Bwith%3Achars@h/db ...") == "postgresql://app:***@h/db ..."


def test_redact_masks_what_a_truncated_repr_leaves_of_a_secret():
    """pytest's saferepr cuts long values in the middle: the secret's start and end beside '...' are masked."""
    from _pytest._io.saferepr import saferepr

    secret = "key-base-0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
    register_secret(secret)
    shown = saferepr({"DATABASE_URL": "postgresql://app@host/db", "SECRET_KEY_BASE": secret}, maxsize=60)
    assert "..." in shown and "XYZ" in shown  # the cut left the secret's end
    masked = redact(shown)
    assert "UVWXYZ" not in masked and masked.endswith("***'}")
    assert redact(f"SECRET_KEY_BASE={secret[:20]}...") == "SECRET_KEY_BASE=***..."
    assert redact("Loading...done") == "Loading...done"


def test_redact_masks_a_secrets_end_and_start_between_two_cuts():
    """Between two '...': the end of one cut secret and the start of the next, overlapping, masked as one."""
    secret = "Zq7-cut-twice-Wx9"
    register_secret(secret)
    assert redact(f"a ...{secret[-6:]}{secret[:5]}... b") == "a ...***... b"
    assert redact(f"a ...{secret[-9:]}... b") == "a ...***... b"  # the end reaches the next cut
    assert redact(f"{secret[:3]}...") == f"{secret[:3]}..."  # fewer than 4 characters say nothing


def test_logging_filter_redacts(caplog):
    register_secret("another-secret-1")
    logger = logging.getLogger("harness.test")
    logger.addFilter(RedactingFilter())
    with caplog.at_level(logging.INFO):
        logger.info("value %s", "another-secret-1")
    assert "another-secret-1" not in caplog.text


def test_every_logger_is_redacted_once_installed(caplog):
    from harness.redaction import install_log_redaction

    install_log_redaction()
    register_secret("third-secret-value")
    with caplog.at_level(logging.INFO):
        logging.getLogger("some.library").info("connecting with %s", "third-secret-value")
    assert "third-secret-value" not in caplog.text and "***" in caplog.text


def test_wait_until_returns_the_probe_value():
    calls = iter([None, 0, "ready"])
    assert wait_until("a value", lambda: next(calls), timeout=5, interval=0.01) == "ready"


def test_wait_until_times_out_with_description_last_error_and_state():
    def probe():
        raise ConnectionRefusedError("port 22 refused")

    with pytest.raises(HarnessError) as info:
        wait_until("SSH on 10.0.0.2:22", probe, timeout=0.2, interval=0.05, explain=lambda: "sshd not started")
    message = str(info.value)
    assert "SSH on 10.0.0.2:22" in message and "port 22 refused" in message and "sshd not started" in message


def test_wait_until_ends_at_once_when_the_probe_raises_a_harness_error():
    import time

    calls = []

    def probe():
        calls.append(1)
        raise HarnessError("the moto server exited (status 1)")

    start = time.monotonic()
    with pytest.raises(HarnessError, match="moto server exited"):
        wait_until("the emulator", probe, timeout=30, interval=0.05)
    assert time.monotonic() - start < 5 and len(calls) == 1
