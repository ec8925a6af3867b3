"""Keeps secret values out of logs, reports and exception messages."""
from __future__ import annotations

import logging
import re
from functools import lru_cache
from urllib.parse import quote

_SECRETS: set[str] = set()
MASK = "***"

_PRIVATE_KEY = re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----.*?-----END [A-Z ]*PRIVATE KEY-----", re.S)


def register_secret(value: str) -> None:
    """Remember a secret so that :func:`redact` masks it wherever it appears (also URL-encoded, as in a URL)."""
    if value and len(value) >= 4:
        _SECRETS.add(value)
        _SECRETS.add(quote(value, safe=""))


ELLIPSIS = "..."  # where a truncated repr (pytest's saferepr, reprlib) was cut
MIN_CUT = 4  # characters of a secret's start or end beside a cut that are masked


def redact(text: str) -> str:
    """Return ``text`` with every registered secret and any private key masked.

    A secret cut by a truncated repr (``'SECRET_KEY_BASE=abc...xyz'``) is masked too:
    the secret's start right before ``...`` and its end right after it.
    """
    text = _PRIVATE_KEY.sub(MASK, text)
    for secret in sorted(_SECRETS, key=len, reverse=True):
        text = text.replace(secret, MASK)
    if ELLIPSIS in text:
        for secret in _SECRETS:
            text = _cut_ends(secret).sub(MASK, text)
    return text


@lru_cache(maxsize=None)
def _cut_ends(secret: str) -> re.Pattern[str]:
    """Matches the longest start of ``secret`` just before ``...`` or end of it just after."""
    lengths = range(len(secret) - 1, MIN_CUT - 1, -1)
    starts = "|".join(re.escape(secret[:n]) for n in lengths)
    ends = "|".join(re.escape(secret[-n:]) for n in lengths)
    return re.compile(rf"(?:{starts})(?={re.escape(ELLIPSIS)})|(?<={re.escape(ELLIPSIS)})(?:{ends})")


class RedactingFilter(logging.Filter):
    """A logging filter that redacts every record's rendered message."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = redact(record.getMessage())
        record.args = None
        return True


_factory_installed = False


def install_log_redaction() -> None:
    """Redact every log record at creation, whichever logger or handler it reaches."""
    global _factory_installed
    if _factory_installed:
        return
    previous = logging.getLogRecordFactory()

    def factory(*args: object, **kwargs: object) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        if _SECRETS or "PRIVATE KEY" in str(record.msg):
            try:
                record.msg = redact(record.getMessage())
                record.args = None
            except Exception:  # noqa: BLE001 - a malformed record is logged as it is
                pass
        return record

    logging.setLogRecordFactory(factory)
    _factory_installed = True
