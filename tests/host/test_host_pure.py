"""Unit tests of the pure parts of the host stage: rendering, parsers, SCRAM, secret hiding."""
from __future__ import annotations

import base64
import hashlib
import hmac

import pytest

from fixtures.sandbox import render
from harness.secrets import parse_env_file, password_from_database_url
from fixtures.sandbox.provisioner import ProvisionReport
from fixtures.sandbox.scram import scram_sha256_verifier
from fixtures.stage_host import HostConfiguration
from harness.secrets import Secret
from fixtures.deployment import DatabaseAccess
from harness.errors import HarnessError
from harness.spec import load_spec
from suites.db_checks import parse_hba_rules, trust_rules
from harness.hostinfra import is_loopback, listeners

SPEC = load_spec()


def test_nginx_site_proxies_both_ports_to_the_app_with_headers():
    site = render.nginx_site(SPEC)
    upstream = f"proxy_pass http://{SPEC['app']['bind']}:{SPEC['app']['port']};"
    assert site.count(upstream) == 2
    assert f"listen {SPEC['ports']['http']} default_server;" in site
    assert f"listen {SPEC['ports']['https']} ssl default_server;" in site
    for name, value in render.SECURITY_HEADERS.items():
        assert site.count(f'add_header {name} "{value}" always;') == 2
    assert site.count("Strict-Transport-Security") == 1
    https_part = site.split(f"listen {SPEC['ports']['https']} ssl")[1]
    assert "Strict-Transport-Security" in https_part
    assert not __import__("re").search(r"@[a-z0-9_]+@", site)  # no placeholder left
    assert "[::]" not in render.nginx_site(SPEC, ipv6=False)


def test_nginx_location_has_no_add_header():
    # add_header inside a location would drop the server-level security headers.
    site = render.nginx_site(SPEC)
    for location in site.split("location / {")[1:]:
        assert "add_header" not in location.split("}")[0]


def test_unit_runs_migrate_then_serve_as_app_user():
    unit = render.app_unit(SPEC)
    assert f"User={SPEC['app']['user']}" in unit
    assert f"EnvironmentFile={SPEC['app']['env_file']}" in unit
    assert f"BIND={SPEC['app']['bind']}" in unit and f"PORT={SPEC['app']['port']}" in unit
    assert "ExecStartPre=/usr/bin/python3 /opt/inventory-tracker/inventory_app.py migrate" in unit
    assert "ExecStart=/usr/bin/python3 /opt/inventory-tracker/inventory_app.py serve" in unit
    assert "NoNewPrivileges=yes" in unit and "ProtectSystem=strict" in unit


def test_pg_hba_has_no_trust_and_only_loopback_hosts():
    lines = [line.split() for line in render.pg_hba(SPEC).splitlines() if line and not line.startswith("#")]
    assert ["local", "all", "postgres", "peer"] in lines
    assert all("trust" not in line for line in lines)
    hosts = [line for line in lines if line[0] == "host"]
    assert {line[3] for line in hosts} == {"127.0.0.1/32", "::1/128"}
    assert all(line[4] == "scram-sha-256" for line in hosts)
    assert all(line[1] == SPEC["database"]["name"] and line[2] == SPEC["database"]["role"] for line in hosts)


def test_postgresql_dropin_settings():
    text = render.postgresql_dropin(SPEC)
    assert "listen_addresses = 'localhost'" in text
    assert "password_encryption = 'scram-sha-256'" in text
    assert f"port = {SPEC['database']['port']}" in text


def test_env_file_round_trips_the_password():
    password = "Ab_cd-EF0123456789xyz"
    values = parse_env_file(render.env_file(SPEC, password, "the-secret-key-base"))
    assert password_from_database_url(values["DATABASE_URL"]) == password
    assert values["SECRET_KEY_BASE"] == "the-secret-key-base"
    assert values["DATABASE_URL"].endswith(f"@127.0.0.1:{SPEC['database']['port']}/{SPEC['database']['name']}")


def test_missing_template_value_is_a_harness_error():
    with pytest.raises(HarnessError, match="needs values for"):
        render.render_template("postgresql.conf", {"listen": "x"})


def test_parse_env_file_handles_comments_quotes_export():
    text = "# c\n\nexport A=1\nB='two words'\nC=\"q\"\nbad line\n"
    assert parse_env_file(text) == {"A": "1", "B": "two words", "C": "q"}
    assert password_from_database_url("postgresql://u@h/db") is None


def test_hba_parsing_and_trust_detection():
    output = (
        "1|local|all|postgres||peer|\n"
        "2|host|inventory_tracker|inventory_tracker|127.0.0.1|scram-sha-256|\n"
        "3|host|all|all|0.0.0.0|trust|\n"
        "4|local|all|all||trust|\n"
        "5|hostssl|all|all|::|trust|\n"
    )
    rules = parse_hba_rules(output)
    assert [r.line_number for r in rules] == ["1", "2", "3", "4", "5"]
    assert [r.line_number for r in trust_rules(rules)] == ["3", "5"]
    assert trust_rules(parse_hba_rules(output.split("3|")[0])) == []


def test_listeners_from_testinfra_sockets_and_loopback():
    """testinfra's socket notation (scoped and IPv4-mapped addresses included) becomes addresses per port."""
    listed = ["tcp://127.0.0.1:4000", "tcp://::1:5432", "tcp://0.0.0.0:4000", "tcp://:::4000",
              "tcp://127.0.0.53%lo:53", "tcp://::ffff:127.0.0.1:4000", "udp://0.0.0.0:4000"]
    host = type("Host", (), {"socket": type("Socket", (), {"get_listening_sockets": staticmethod(lambda: listed)})})
    addresses = listeners(host, 4000)
    assert addresses == ["127.0.0.1", "0.0.0.0", "::", "::ffff:127.0.0.1"]
    assert [is_loopback(a) for a in addresses] == [True, False, False, True]
    assert listeners(host, 53) == ["127.0.0.53"] and is_loopback("127.0.0.53") and not is_loopback("*")


def test_scram_verifier_matches_rfc7677_derivation():
    salt = bytes(range(16))
    verifier = scram_sha256_verifier("pencil", salt=salt, iterations=4096)
    head, keys = verifier.split("$", 1)[0], verifier.split("$", 1)[1]
    iterations_salt, stored_server = keys.split("$")
    assert head == "SCRAM-SHA-256" and iterations_salt == "4096:" + base64.b64encode(salt).decode()
    salted = hashlib.pbkdf2_hmac("sha256", b"pencil", salt, 4096)
    stored, server = (base64.b64decode(x) for x in stored_server.split(":"))
    assert stored == hashlib.sha256(hmac.new(salted, b"Client Key", hashlib.sha256).digest()).digest()
    assert server == hmac.new(salted, b"Server Key", hashlib.sha256).digest()
    assert scram_sha256_verifier("pencil") != scram_sha256_verifier("pencil")  # random salt


def test_secret_never_in_repr():
    value = "correct-horse-battery-staple"
    secret = Secret(value)
    config = HostConfiguration("sandbox", "sandbox provisioner", report=ProvisionReport(), db_password=secret)
    access = DatabaseAccess("db", "role", secret)
    for text in (repr(secret), str(secret), repr(config), repr(access), f"{secret}"):
        assert value not in text
    assert secret.reveal() == value


def test_report_summary():
    assert ProvisionReport().summary() == "0 changes"
    assert ProvisionReport(["a", "b"]).summary() == "2 changes: a; b"
