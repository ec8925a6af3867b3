"""The secret canary's scan (tests/canary_scan.py): finds every encoding, names file and line, never the value."""
from __future__ import annotations

import base64
import re
from urllib.parse import quote

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from canary_scan import files_under, needles, new_canaries, scan_bytes, scan_files, write_canaries
from harness.secrets import CANARY_NAMES, DATABASE_PASSWORD, SECRET_KEY_BASE, SSH_PRIVATE_KEY


@pytest.fixture(scope="module")
def canaries() -> dict[str, str]:
    return new_canaries()


def test_canaries_cover_every_secret_and_differ_per_run(canaries):
    """One value per secret the harness makes; a new set each time; the SSH one is an ed25519 key's 32 bytes."""
    assert set(canaries) == set(CANARY_NAMES)
    assert set(new_canaries().values()).isdisjoint(canaries.values())
    ed25519.Ed25519PrivateKey.from_private_bytes(canaries[SSH_PRIVATE_KEY].encode())
    assert quote(canaries[DATABASE_PASSWORD], safe="") != canaries[DATABASE_PASSWORD]


@pytest.mark.parametrize("prefix", ["", "x", "xy", "xyz"])
@pytest.mark.parametrize("encode", [base64.b64encode, base64.urlsafe_b64encode])
def test_base64_is_found_at_every_alignment(canaries, prefix, encode):
    value = canaries[DATABASE_PASSWORD]
    data = b"line one\nsomething=" + encode(prefix.encode() + value.encode() + b" and more") + b"\n"
    hits = scan_bytes("report.xml", data, needles(canaries))
    assert [(hit.line, hit.name) for hit in hits if hit.encoding.startswith("base64")] == [(2, DATABASE_PASSWORD)]


@pytest.mark.parametrize("shown, encoding", [
    (lambda v: v, "raw"),
    (lambda v: quote(v, safe=""), "url"),
    (lambda v: v.encode().hex(), "hex"),
])
def test_raw_url_and_hex_are_found(canaries, shown, encoding):
    value = canaries[DATABASE_PASSWORD]
    data = f"a\nb\nDATABASE_URL=postgresql://app:{shown(value)}@127.0.0.1/db\n".encode()
    hits = scan_bytes("live.log", data, needles(canaries))
    assert (3, DATABASE_PASSWORD, encoding) in {(hit.line, hit.name, hit.encoding) for hit in hits}


def test_a_fragment_left_by_a_truncated_repr_is_found(canaries):
    """pytest cuts long reprs in the middle ('abc...xyz'): the secret's last characters are still a leak."""
    value = canaries[SECRET_KEY_BASE]
    hits = scan_bytes("output.txt", f"x\nassert {{'DATABASE_UR...{value[-12:]}'}} == {{}}\n".encode(),
                      needles(canaries))
    assert [(hit.line, hit.name, hit.encoding) for hit in hits] == [(2, SECRET_KEY_BASE, "fragment")]


def test_a_whole_value_is_one_hit_not_also_its_fragments(canaries):
    hits = scan_bytes("live.log", canaries[SECRET_KEY_BASE].encode() + b"\n", needles(canaries))
    assert [(hit.line, hit.encoding) for hit in hits] == [(1, "raw")]


def test_a_private_key_file_made_from_the_canary_is_found(canaries):
    """An OpenSSH private key file (base64 wrapped at 70 columns) holds the key's private bytes."""
    key = ed25519.Ed25519PrivateKey.from_private_bytes(canaries[SSH_PRIVATE_KEY].encode())
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH,
                            serialization.NoEncryption())
    hits = scan_bytes("keys/id_ed25519", b"log before\n" + pem, needles(canaries))
    assert {hit.name for hit in hits} == {SSH_PRIVATE_KEY}
    assert all(hit.line >= 3 for hit in hits), "hits are numbered by the line they start on"


def test_clean_text_has_no_hit(canaries):
    data = b"\n".join([b"DATABASE_URL=postgresql://app:***@127.0.0.1/db", base64.b64encode(b"canary/db+")] * 50)
    assert scan_bytes("clean.log", data, needles(canaries)) == []


def test_a_hit_names_file_and_line_never_the_value(canaries, tmp_path):
    (tmp_path / "reports").mkdir()
    (tmp_path / "reports" / "junit.xml").write_text("<testsuite>\n<failure>" + canaries[DATABASE_PASSWORD]
                                                    + "</failure>\n</testsuite>\n")
    (tmp_path / "reports" / "clean.html").write_text("<p>nothing here</p>\n")
    (tmp_path / "link").symlink_to(tmp_path / "reports" / "junit.xml")
    hits = scan_files(files_under(tmp_path), needles(canaries), tmp_path)
    assert [str(hit) for hit in hits] == [f"reports/junit.xml:2: the {DATABASE_PASSWORD} canary (raw)"]
    for value in canaries.values():
        assert not re.search(re.escape(value), str(hits[0]))


def test_files_under_skips_what_it_is_told(tmp_path):
    (tmp_path / "terraform").mkdir()
    for name in ("terraform/terraform.tfstate", "terraform/main.tf", "moto.log"):
        (tmp_path / name).write_text("x")
    found = files_under(tmp_path, skip=lambda path: path.name.endswith(".tfstate"))
    assert sorted(str(path.relative_to(tmp_path)) for path in found) == ["moto.log", "terraform/main.tf"]


def test_canary_file_is_private(canaries, tmp_path):
    path = write_canaries(canaries, tmp_path / "canaries.json")
    assert path.stat().st_mode & 0o777 == 0o600
