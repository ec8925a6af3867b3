"""The values nixos/ defines, evaluated without nixpkgs (stub lib, tests/nix/stub/).

nixpkgs cannot be fetched here, so the NixOS VM test cannot run; these tests
evaluate our own modules with a stub of the few lib functions they use and check
that every value comes out of spec.json as declared. They do not check that the
options exist in nixpkgs: the VM test (`nix flake check`) does that.
"""
from __future__ import annotations

import ast
import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from harness.spec import load_spec

pytestmark = pytest.mark.skipif(shutil.which("nix-instantiate") is None,
                                reason="nix-instantiate is not installed: `make setup` installs Debian's nix-bin")

STUB = Path(__file__).resolve().parent / "stub"


def evaluate(expression: str) -> Any:
    """nix-instantiate --eval --strict --json of ``expression`` (evaluated in tests/nix/stub)."""
    result = subprocess.run(["nix-instantiate", "--eval", "--strict", "--json", "-E", expression],
                            cwd=STUB, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, f"evaluation failed:\n{result.stderr}"
    return json.loads(result.stdout)


@pytest.fixture(scope="module")
def modules() -> dict[str, Any]:
    return evaluate("import ./eval-modules.nix { }")


@pytest.fixture(scope="module")
def spec() -> dict[str, Any]:
    return load_spec()


def test_configuration_imports_one_module_per_concern(modules):
    """configuration.nix imports the service, PostgreSQL, Nginx, access, firewall, journald, backup and logs modules."""
    names = [Path(path).name for path in modules["modules"]]
    assert names == ["inventory-tracker.nix", "postgresql.nix", "nginx.nix", "access.nix", "firewall.nix",
                     "journald.nix", "backup.nix", "logs.nix"], names


def test_assertions_hold_for_the_default_configuration(modules):
    """Every assertion the modules declare holds with spec.json's values."""
    failing = [a["message"] for a in modules["defined"]["assertions"] if not a["assertion"]]
    assert len(modules["defined"]["assertions"]) >= 3 and not failing, failing


def test_acme_without_a_domain_is_refused():
    """The ACME assertion can fail: ACME enabled without a domain is an assertion error."""
    evaluated = evaluate("import ./eval-modules.nix { overrides = "
                         "{ services.inventory-tracker.nginx.acme.enable = true; }; }")
    failing = [a["message"] for a in evaluated["defined"]["assertions"] if not a["assertion"]]
    assert any("acme" in message for message in failing), failing


def test_service_unit(modules, spec):
    """The app: own user, secrets file outside the store, loopback bind, migrations before start."""
    unit = modules["defined"]["systemd"]["services"][spec["app"]["name"]]
    service = unit["serviceConfig"]
    assert service["User"] == spec["app"]["user"] and service["Group"] == spec["app"]["user"]
    assert service["EnvironmentFile"] == spec["app"]["env_file"]
    assert not service["EnvironmentFile"].startswith("/nix/store")
    assert unit["environment"]["BIND"] == spec["app"]["bind"]
    assert unit["environment"]["PORT"] == str(spec["app"]["port"])
    assert service["ExecStartPre"].endswith("eval InventoryTracker.Release.migrate"), service["ExecStartPre"]
    assert service["ExecStart"].endswith("/bin/inventory_tracker start"), service["ExecStart"]
    assert "postgresql.service" in unit["requires"] and "postgresql.service" in unit["after"]
    users = modules["defined"]["users"]["users"]
    assert users[spec["app"]["user"]]["isSystemUser"] is True


def test_postgresql_local_scram_role_and_database(modules, spec):
    """PostgreSQL: localhost only, SCRAM, no trust; the app's role owns its database."""
    db = spec["database"]
    postgresql = modules["defined"]["services"]["postgresql"]
    assert postgresql["settings"]["listen_addresses"] == db["listen"]
    assert postgresql["settings"]["port"] == db["port"]
    assert postgresql["settings"]["password_encryption"] == "scram-sha-256"
    assert postgresql["enableTCPIP"] is False
    rules = [line.split() for line in postgresql["authentication"].splitlines() if line and not line.startswith("#")]
    assert all(rule[-1] != "trust" for rule in rules), rules
    assert ["host", db["name"], db["role"], "127.0.0.1/32", "scram-sha-256"] in rules, rules
    assert postgresql["ensureDatabases"] == [db["name"]]
    assert postgresql["ensureUsers"] == [{"name": db["role"], "ensureDBOwnership": True}]
    password = modules["defined"]["systemd"]["services"][f"{spec['app']['name']}-db-password"]
    assert password["serviceConfig"]["EnvironmentFile"] == spec["app"]["env_file"]
    assert "\\getenv verifier DATABASE_PASSWORD_SCRAM" in password["script"]


def test_nginx_proxies_to_the_app_with_security_headers(modules, spec):
    """Nginx: default vhost on 80 and 443 (self-signed) -> 127.0.0.1:4000, security headers, HSTS on HTTPS."""
    nginx = modules["defined"]["services"]["nginx"]
    host = nginx["virtualHosts"][spec["app"]["name"]]
    assert host["locations"]["/"]["proxyPass"] == f"http://{spec['app']['bind']}:{spec['app']['port']}"
    assert host["addSSL"] is True and host["enableACME"] is False
    assert host["sslCertificate"].startswith("/var/lib/")
    for header in ('X-Content-Type-Options "nosniff"', 'X-Frame-Options "DENY"', "Referrer-Policy",
                   "Content-Security-Policy", "Strict-Transport-Security $inventory_tracker_hsts"):
        assert f"add_header {header}" in host["extraConfig"], header
    assert 'https   "max-age=' in nginx["appendHttpConfig"] and 'default "";' in nginx["appendHttpConfig"]
    assert nginx["recommendedProxySettings"] and nginx["recommendedTlsSettings"]


def test_ssh_deploy_user_and_firewall(modules, spec):
    """sshd hardened, deploy user in wheel with passwordless sudo, firewall 22/80/443 only."""
    ssh = modules["defined"]["services"]["openssh"]["settings"]
    assert ssh["PermitRootLogin"] == "no"
    assert ssh["PasswordAuthentication"] is False and ssh["KbdInteractiveAuthentication"] is False
    deploy = modules["defined"]["users"]["users"][spec["deploy_user"]]
    assert deploy["isNormalUser"] is True and "wheel" in deploy["extraGroups"]
    ports = spec["ports"]
    firewall = modules["defined"]["networking"]["firewall"]
    assert firewall["enable"] is True
    assert sorted(firewall["allowedTCPPorts"]) == sorted([ports["ssh"], ports["http"], ports["https"]])
    assert ports["app"] not in firewall["allowedTCPPorts"] and ports["postgres"] not in firewall["allowedTCPPorts"]


def test_backup_services_and_timers(modules, spec):
    """Base backup and pg_dump units run the shared tools as postgres on the spec's schedules."""
    app, backup = spec["app"]["name"], spec["backup"]
    services, timers = modules["defined"]["systemd"]["services"], modules["defined"]["systemd"]["timers"]
    base, dump = services[f"{app}-base-backup"], services[f"{app}-pg-dump"]
    assert base["serviceConfig"]["ExecStart"].endswith("inventory-tracker-backup/bin/inventory-tracker-backup base-backup")
    assert dump["serviceConfig"]["ExecStart"].endswith("pg-dump-to-s3/bin/pg-dump-to-s3")
    for service in (base, dump):
        assert service["serviceConfig"]["User"] == "postgres"
        assert service["environment"]["INVENTORY_TRACKER_BACKUP_ENV"] == backup["env_file"]
    assert timers[f"{app}-base-backup"]["timerConfig"]["OnCalendar"] == backup["base_backup_calendar"]
    assert timers[f"{app}-pg-dump"]["timerConfig"]["OnCalendar"] == backup["dump_calendar"]
    assert all("timers.target" in t["wantedBy"] for t in (timers[f"{app}-base-backup"], timers[f"{app}-pg-dump"]))


def test_postgresql_archives_wal_with_the_shared_tool(modules, spec):
    """archive_mode on, archive_command the shared tool, archive_timeout from the spec (at most 60 s)."""
    settings = modules["defined"]["services"]["postgresql"]["settings"]
    assert settings["archive_mode"] == "on" and settings["wal_level"] == "replica"
    assert settings["archive_command"].endswith("/bin/inventory-tracker-backup wal-archive %p")
    assert settings["archive_timeout"] == spec["backup"]["archive_timeout_seconds"] <= 60


def test_vector_ships_the_sources_to_the_log_group(modules, spec):
    """Vector: journald -> instance id -> the spec's sources -> CloudWatch Logs, group and region from the env file."""
    logs = spec["logs"]
    vector = modules["defined"]["services"]["vector"]
    assert vector["enable"] is True and vector["journaldAccess"] is True
    settings = vector["settings"]
    assert settings["sources"]["journal"]["type"] == "journald"
    routed = settings["transforms"]["routed"]["source"]
    for name, match in logs["sources"].items():
        assert f'{{ "{name}" }}' in routed
        for value in match["units"] + match["identifiers"]:
            assert json.dumps(value) in routed, value
    sink = settings["sinks"]["cloudwatch"]
    assert sink["type"] == "aws_cloudwatch_logs" and sink["inputs"] == ["shipped"]
    assert sink["group_name"] == "${LOG_GROUP}" and sink["region"] == "${AWS_REGION}"
    assert sink["stream_name"] == "{{ instance_id }}/{{ source }}" and sink["encoding"]["codec"] == "text"
    assert sink["create_missing_group"] is False
    services = modules["defined"]["systemd"]["services"]
    assert services["vector"]["serviceConfig"]["EnvironmentFile"] == logs["env_file"]


def test_disk_metric_timer(modules, spec):
    """The disk metric the root volume alarm watches is published every metric_interval_seconds."""
    logs = spec["logs"]
    systemd = modules["defined"]["systemd"]
    service = systemd["services"]["inventory-tracker-disk-metric"]
    assert service["serviceConfig"]["ExecStart"].endswith("/bin/inventory-tracker-disk-metric")
    assert logs["disk_metric"] in service["description"]
    timer = systemd["timers"]["inventory-tracker-disk-metric"]
    assert timer["timerConfig"]["OnUnitActiveSec"] == f"{logs['metric_interval_seconds']}s"


def test_nginx_logs_json_with_the_request_id(modules):
    """Nginx logs JSON lines with the request id into the journal, and passes the id on."""
    nginx = modules["defined"]["services"]["nginx"]
    assert "log_format inventory_tracker_json escape=json" in nginx["appendHttpConfig"]
    assert "access_log syslog:server=unix:/dev/log,tag=nginx,nohostname inventory_tracker_json;" in \
        nginx["appendHttpConfig"]
    host = next(iter(nginx["virtualHosts"].values()))
    assert "proxy_set_header X-Request-Id $inventory_tracker_request_id;" in host["locations"]["/"]["extraConfig"]


def test_ec2_module_uses_the_amazon_image_and_authorises_the_key_pair(modules, spec):
    """ec2.nix imports nixpkgs' amazon image module and gives the EC2 key pair to the deploy user."""
    assert modules["ec2Imports"] == ["/stub/modules/virtualisation/amazon-image.nix"]
    unit = modules["ec2"]["systemd"]["services"]["deploy-user-ec2-key"]
    assert f"/home/{spec['deploy_user']}/.ssh/authorized_keys" in unit["script"]


@pytest.fixture(scope="module")
def vm() -> dict[str, Any]:
    return evaluate("import ./eval-vm.nix { }")


def test_vm_test_script_is_python_and_asserts_the_contract(vm, spec):
    """The VM test's script compiles and checks Nginx -> 4000, health, PostgreSQL and the backup unit."""
    ast.parse(vm["testScript"])
    script = vm["testScript"]
    for needle in (f"wait_for_open_port({spec['app']['port']}", f"http://127.0.0.1{spec['app']['health_path']}",
                   "psql -h 127.0.0.1", f"{spec['app']['name']}-{{job}}.service",
                   f"{spec['app']['name']}-{{job}}.timer", "SHOW archive_mode", "permitrootlogin no"):
        assert needle in script, needle
    assert vm["machineImports"][0].endswith("nixos/configuration.nix")
    assert vm["machine"]["services"]["inventory-tracker"]["package"]["_callPackage"].endswith("standin-app.nix")


def test_vm_secrets_file_matches_the_scram_verifier(vm, spec):
    """The VM test's DATABASE_PASSWORD_SCRAM is the verifier of the password in its DATABASE_URL."""
    import re

    from fixtures.sandbox.scram import scram_sha256_verifier

    env_key = spec["app"]["env_file"].removeprefix("/etc/")
    text = vm["machine"]["environment"]["etc"][env_key]["text"]
    url = re.search(r"DATABASE_URL='postgresql://([^:]+):([^@]+)@127\.0\.0\.1:(\d+)/([^']+)'", text)
    assert url, text
    role, password, port, name = url.groups()
    assert (role, int(port), name) == (spec["database"]["role"], spec["database"]["port"], spec["database"]["name"])
    verifier = re.search(r"DATABASE_PASSWORD_SCRAM='([^']+)'", text).group(1)
    salt = __import__("base64").b64decode(verifier.split("$")[1].split(":")[1])
    assert scram_sha256_verifier(password, salt=salt) == verifier


@pytest.mark.parametrize("argv, expected, status", [
    (["start"], "serve", 0),
    (["version"], "version", 0),
    (["eval", "InventoryTracker.Release.migrate"], "migrate", 0),
    (["eval", "IO.puts(1)"], None, 64),
    ([], None, 64),
])
def test_standin_package_speaks_the_release_cli(tmp_path, argv, expected, status):
    """The stand-in's bin/inventory_tracker maps the release's CLI onto the app's commands."""
    python = tmp_path / "python"
    (python / "bin").mkdir(parents=True)
    fake = python / "bin" / "python3"
    fake.write_text('#!/bin/sh\necho "python3 $*"\n')
    fake.chmod(0o755)
    standin = evaluate(f'(import ./eval-vm.nix {{ python = "{python}"; }}).standin')
    assert standin["name"] == "inventory_tracker"
    result = subprocess.run(["bash", "-c", standin["text"], "inventory_tracker", *argv],
                            capture_output=True, text=True, timeout=30)
    assert result.returncode == status, result.stderr
    if expected is not None:
        args = result.stdout.split()
        assert args[0] == "python3" and args[1].endswith("inventory_app.py") and args[2] == expected, result.stdout


def test_sshd_and_nginx_crypto_come_from_the_spec(modules, spec):
    """sshd's algorithms and host keys and Nginx's TLS protocols, ciphers and curves are spec.json crypto's."""
    ssh, tls = spec["crypto"]["ssh"], spec["crypto"]["tls"]
    openssh = modules["defined"]["services"]["openssh"]
    settings = openssh["settings"]
    assert settings["KexAlgorithms"] == ssh["kex_algorithms"] and settings["Ciphers"] == ssh["ciphers"]
    assert settings["Macs"] == ssh["macs"]
    assert settings["HostKeyAlgorithms"] == ",".join(ssh["host_key_algorithms"])
    assert [key["type"] for key in openssh["hostKeys"]] == ssh["host_key_types"]
    nginx = modules["defined"]["services"]["nginx"]
    assert nginx["sslProtocols"] == " ".join(tls["protocols"]) and nginx["sslCiphers"] == ":".join(tls["ciphers"])
    host = nginx["virtualHosts"][spec["app"]["name"]]
    assert f"ssl_ecdh_curve {':'.join(tls['curves'])};" in host["extraConfig"]
