"""Keeps secret values out of logs, reports and exception messages."""
from __future__ import annotations

import logging
import re
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
            text = _mask_cut_ends(text, secret)
    return text


def _mask_cut_ends(text: str, secret: str) -> str:
    """``text`` with the longest start of ``secret`` just before each ``...`` and the longest end just after masked.

    (A scan at each ``...``: a regular expression of every start and end costs O(n**2) to build, 0.3 CPU-s for
    the 386 characters of an SSH private key, paid by every process that logs a ``...``.)
    """
    spans = []
    at = text.find(ELLIPSIS)
    while at != -1:
        after = at + len(ELLIPSIS)
        # before: the earliest i whose text[i:at] starts the secret (candidates: where its first character is)
        window_start, window_end = max(0, at - len(secret) + 1), at - MIN_CUT + 1
        i = text.find(secret[0], window_start, window_end) if window_end > window_start else -1
        while i != -1:
            if secret.startswith(text[i:at]):
                spans.append((i, at))
                break
            i = text.find(secret[0], i + 1, window_end)
        # after: the earliest k >= 1 whose secret[k:] the text goes on with (candidates: the text's next character)
        if after < len(text):
            k = secret.find(text[after], 1, len(secret) - MIN_CUT + 1)
            while k != -1:
                if text.startswith(secret[k:], after):
                    spans.append((after, after + len(secret) - k))
                    break
                k = secret.find(text[after], k + 1, len(secret) - MIN_CUT + 1)
        at = text.find(ELLIPSIS, at + 1)
    merged: list[list[int]] = []
    for start, end in sorted(spans):  # an end after one cut may overlap the start before the next
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    for start, end in reversed(merged):
        text = text[:start] + MASK + text[end:]
    return text


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
