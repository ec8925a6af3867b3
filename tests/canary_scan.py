"""The secret canary's values and its scan: where any canary shows in what a run wrote.

A canary is a distinctive random value given to one secret of the harness for one
test run (through ``HARNESS_SECRET_CANARIES``, harness/secrets.py). The scan looks
for every canary byte for byte, URL-encoded, hex-encoded and base64-encoded (both
alphabets, at each of the three byte alignments, also across line breaks as in a
PEM file), and any 10 characters of its random part (what a truncated repr, cut in
the middle of a secret, leaves), and reports the file and line of each hit, never
the value.
"""
from __future__ import annotations

import base64
import bisect
import json
import os
import re
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Iterator
from urllib.parse import quote, quote_plus

from harness.secrets import AWS_SECRET_ACCESS_KEY, DATABASE_PASSWORD, SECRET_KEY_BASE, SSH_PRIVATE_KEY


def new_canaries() -> dict[str, str]:
    """Distinctive random values (one tag per test run) for every secret the harness makes.

    Each is valid where it is used: the SSH one is exactly 32 bytes (an ed25519
    private key's), the database password is ASCII and long enough. Some carry
    ``/`` and ``+`` so that URL encoding differs from the raw value.
    """
    tag = secrets.token_hex(4)
    values = {
        DATABASE_PASSWORD: f"canary/db+{tag}-{secrets.token_hex(12)}",
        SECRET_KEY_BASE: f"canary-skb-{tag}-{secrets.token_urlsafe(48)}",
        AWS_SECRET_ACCESS_KEY: f"canary/aws+{tag}/{secrets.token_hex(12)}",
        SSH_PRIVATE_KEY: f"canary-ssh-{tag}-{secrets.token_hex(6)}",
    }
    assert len(values[SSH_PRIVATE_KEY].encode()) == 32
    return values


def write_canaries(values: dict[str, str], path: Path) -> Path:
    """The canary file (JSON, mode 0600) that ``HARNESS_SECRET_CANARIES`` names."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        json.dump(values, handle)
    return path


@dataclass(frozen=True)
class Needle:
    """One encoding of one canary: what to look for, and how to name it without showing it."""

    name: str  # the secret's name (harness.secrets.CANARY_NAMES)
    encoding: str  # raw, url, url-plus, hex, base64, base64url, fragment
    data: bytes
    wraps: bool = False  # may be split by line breaks (base64 in PEM files)


def base64_fragments(value: bytes, encode: Callable[[bytes], bytes]) -> set[bytes]:
    """What ``value`` looks like inside any base64 text, at each of the three byte alignments."""
    fragments = set()
    for shift in range(3):
        text = encode(b"\0" * shift + value).rstrip(b"=")
        if (8 * (shift + len(value))) % 6:
            text = text[:-1]  # the last character mixes in padding bits
        fragments.add(text[(8 * shift + 5) // 6:])  # the first characters mix in the prefix's bits
    return fragments


FRAGMENT = 10  # characters of a canary's random part that count as a leak
# The readable start of a canary (new_canaries) and the run's tag that all its canaries share: not
# random, and a fragment spanning the shared tag would match another canary (1 time in 16).
LABEL = re.compile(r"canary[-/+][a-z]+[-/+][0-9a-f]{8}[-/+]")


def fragments(value: str) -> set[bytes]:
    """Every run of FRAGMENT characters of ``value``'s random part (after its label)."""
    label = LABEL.match(value)
    random_part = value[label.end():] if label else value
    return {random_part[start:start + FRAGMENT].encode() for start in range(len(random_part) - FRAGMENT + 1)}


def needles(canaries: dict[str, str]) -> list[Needle]:
    """Every encoding of every canary that the scan looks for."""
    found: list[Needle] = []
    for name, value in canaries.items():
        raw = value.encode()
        texts = {"raw": raw, "url": quote(value, safe="").encode(), "url-plus": quote_plus(value).encode(),
                 "hex": raw.hex().encode()}
        seen = set()
        for encoding, data in texts.items():
            if data not in seen:
                seen.add(data)
                found.append(Needle(name, encoding, data))
        for encoding, encode in (("base64", base64.b64encode), ("base64url", base64.urlsafe_b64encode)):
            for fragment in sorted(base64_fragments(raw, encode) - seen):
                seen.add(fragment)
                found.append(Needle(name, encoding, fragment, wraps=True))
        found += [Needle(name, "fragment", fragment) for fragment in sorted(fragments(value) - seen)]
    return found


@dataclass(frozen=True)
class Hit:
    """A canary found: where, and which secret in which encoding (never the value)."""

    where: str
    line: int
    name: str
    encoding: str

    def __str__(self) -> str:
        return f"{self.where}:{self.line}: the {self.name} canary ({self.encoding})"


def scan_bytes(where: str, data: bytes, looked_for: list[Needle]) -> list[Hit]:
    """Every place in ``data`` holding a needle (line numbers from 1); base64 also across line breaks."""
    hits: set[Hit] = set()
    for needle in looked_for:
        for match in re.finditer(re.escape(needle.data), data):
            hits.add(Hit(where, data.count(b"\n", 0, match.start()) + 1, needle.name, needle.encoding))
    breaks = [match.start() for match in re.finditer(rb"\r?\n", data)]
    if breaks:
        joined = re.sub(rb"\r?\n", b"", data)
        widths = [len(match.group()) for match in re.finditer(rb"\r?\n", data)]
        starts, removed = [], 0  # where each line break would be in ``joined``
        for position, width in zip(breaks, widths):
            starts.append(position - removed)
            removed += width
        for needle in looked_for:
            if needle.wraps:
                for match in re.finditer(re.escape(needle.data), joined):
                    line = bisect.bisect_right(starts, match.start()) + 1
                    hits.add(Hit(where, line, needle.name, needle.encoding))
    whole = {(hit.line, hit.name) for hit in hits if hit.encoding != "fragment"}
    kept = [hit for hit in hits if hit.encoding != "fragment" or (hit.line, hit.name) not in whole]
    return sorted(kept, key=lambda hit: (hit.where, hit.line, hit.name, hit.encoding))


def files_under(root: Path, skip: Callable[[Path], bool] = lambda path: False) -> Iterator[Path]:
    """Regular files under ``root`` (symbolic links not followed), minus those ``skip`` says."""
    for folder, _, names in os.walk(root):
        for name in sorted(names):
            path = Path(folder) / name
            if path.is_file() and not path.is_symlink() and not skip(path):
                yield path


def scan_files(paths: Iterable[Path], looked_for: list[Needle], relative_to: Path) -> list[Hit]:
    """Every hit in ``paths`` (named relative to ``relative_to``)."""
    hits: list[Hit] = []
    for path in paths:
        hits += scan_bytes(str(path.relative_to(relative_to)), path.read_bytes(), looked_for)
    return hits
