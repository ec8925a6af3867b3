"""Certificate rules: only fully green runs are certified; stale certificates go; what a certificate states."""
import json
import subprocess
import sys

import pytest

from harness.certificate import (CheckResult, build_certificate, certifiable, remove_certificate,
                                 write_certificate)
from harness.logblock import StageTime
from harness.redaction import register_secret
from harness.signing import verify_file
from harness.spec import REPO_ROOT


def test_certifiable_needs_a_pass_and_no_failure():
    assert certifiable([CheckResult("a", "passed"), CheckResult("b", "skipped")])
    assert not certifiable([])
    assert not certifiable([CheckResult("a", "skipped")])
    assert not certifiable([CheckResult("a", "passed"), CheckResult("b", "failed")])
    assert not certifiable([CheckResult("a", "passed"), CheckResult("b", "error")])


def test_certificate_fields_and_per_environment_copy(tmp_path):
    document = build_certificate(
        "sandbox", "it00000001", [CheckResult("suites/test_x.py::test_y", "passed")],
        [StageTime("infra", 31.5, "2026-11-27T07:00:00.000Z", "2026-11-27T07:00:31.500Z"),
         StageTime("terraform-destroy", 23.0, "2026-11-27T07:01:00.000Z", "2026-11-27T07:01:23.000Z", "teardown")],
        ["aws_instance.app"],
    )
    path = write_certificate(tmp_path, document)
    written = json.loads(path.read_text())
    assert written["certified"] is True
    assert written["environment"] == "sandbox"
    assert written["checks"] == [{"id": "suites/test_x.py::test_y", "outcome": "passed", "seconds": 0.0, "message": ""}]
    assert written["stages"][0] == {"name": "infra", "seconds": 31.5, "started_at": "2026-11-27T07:00:00.000Z",
                                    "ended_at": "2026-11-27T07:00:31.500Z", "kind": "stage", "outcome": "finished"}
    assert written["stages"][1]["kind"] == "teardown" and written["stages"][1]["name"] == "terraform-destroy"
    assert written["total_seconds"] == 31.5  # set-up stages only
    assert written["resources"] == ["aws_instance.app"]
    assert isinstance(written["dirty"], bool) and written["commit"]
    assert (tmp_path / "certificate-sandbox.json").exists()
    assert remove_certificate(tmp_path) and not path.exists()
    assert not remove_certificate(tmp_path)


def test_certificate_never_contains_a_registered_secret(tmp_path):
    register_secret("s3cr3t-token-value")
    document = build_certificate("sandbox", "it1", [CheckResult("x", "passed")], [], [],
                                 extra={"note": "token s3cr3t-token-value"})
    assert "s3cr3t-token-value" not in write_certificate(tmp_path, document).read_text()


def test_the_checks_span_is_placed_between_set_up_and_teardown():
    from harness.plugin.core import OutcomeRecorder, timeline_records

    recorder = OutcomeRecorder({})
    recorder.window = [1795762900.0, 1795762930.5]  # 07:01:40 to 07:02:10.5 UTC
    stages = [StageTime("infra", 31.5, "2026-11-27T07:00:00.000Z", "2026-11-27T07:00:31.500Z"),
              StageTime("moto-stop", 0.5, "2026-11-27T07:03:00.000Z", "2026-11-27T07:03:00.500Z", "teardown")]
    records = timeline_records(stages, recorder)
    assert [(r.name, r.kind) for r in records] == [("infra", "stage"), ("checks", "checks"), ("moto-stop", "teardown")]
    assert records[1].started_at == "2026-11-27T07:01:40.000Z" and records[1].seconds == 30.5
    assert timeline_records(stages, OutcomeRecorder({})) == stages  # no check ran: no span


def test_check_message_is_the_assertion_line_redacted_and_short():
    from types import SimpleNamespace

    from harness.plugin.core import MESSAGE_LIMIT, check_message

    register_secret("hunter2-secret")
    failed = SimpleNamespace(longrepr=SimpleNamespace(reprcrash=SimpleNamespace(
        message="AssertionError: port 4000 open (password hunter2-secret)")))
    assert check_message(failed) == "AssertionError: port 4000 open (password ***)"
    skipped = SimpleNamespace(longrepr=("suites/test_x.py", 3, "Skipped: no backups here"))
    assert check_message(skipped) == "Skipped: no backups here"
    long = SimpleNamespace(longrepr="x" * (MESSAGE_LIMIT + 50))
    assert len(check_message(long)) == MESSAGE_LIMIT + 2


# --- what a certificate states: the deployed content's digest, what was read back, the signature ---

def _git(repo, *args):
    subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True)


def test_content_digest_is_paths_and_contents_in_sorted_order(tmp_path):
    from harness.content_digest import deployed_content_digest

    repo = tmp_path / "repo"
    (repo / "terraform").mkdir(parents=True)
    (repo / "nixos" / "modules").mkdir(parents=True)
    (repo / "nixos" / "modules" / "web.nix").write_text("{ }\n")
    (repo / "terraform" / "main.tf").write_text("# main\n")
    (repo / "spec.json").write_text("{}\n")
    (repo / "README.md").write_text("not deployed\n")
    first = deployed_content_digest(repo)  # not a git checkout: every file counts
    _git(repo, "init", "-q")
    (repo / ".gitignore").write_text(".terraform/\n")
    _git(repo, "add", ".")
    assert deployed_content_digest(repo) == first  # same files, same digest, with or without git
    (repo / "terraform" / ".terraform").mkdir()
    (repo / "terraform" / ".terraform" / "provider").write_text("build artefact\n")
    (repo / "README.md").write_text("changed, not deployed\n")
    assert deployed_content_digest(repo) == first  # ignored and undeployed files do not count
    (repo / "terraform" / "main.tf").write_text("# main, changed\n")
    assert deployed_content_digest(repo) != first  # an uncommitted change counts
    (repo / "terraform" / "main.tf").write_text("# main\n")
    (repo / "flake.lock").write_text("{}\n")
    assert deployed_content_digest(repo) != first  # the flake lock counts when present
    (repo / "flake.lock").unlink()
    (repo / "terraform" / "main.tf").rename(repo / "terraform" / "other.tf")
    assert deployed_content_digest(repo) != first  # the paths count, not only the contents


def test_certificate_states_its_content_digest_and_what_was_read_back(tmp_path):
    from harness.content_digest import deployed_content_digest

    deployed = {"instance_id": "i-0abc", "ami": "ami-0bb7d855677353076", "app_version": "inventory_tracker 0.1.0",
                "host_system": {"kind": "nixos toplevel", "id": "/nix/store/x-nixos-system"},
                "security_group_rules": [{"group_id": "sg-1", "protocol": "tcp", "from_port": 443, "to_port": 443,
                                          "source": "0.0.0.0/0"}]}
    document = build_certificate("staging", "it1", [CheckResult("x", "passed")], [], [],
                                 extra={"policy": "staging", "selection": "complete", **deployed})
    assert document["content_digest"] == deployed_content_digest()
    assert {key: document[key] for key in deployed} == deployed
    from harness.report.model import certification_page

    shown = {fact.label for fact in certification_page(document).deployed}
    assert {"instance", "AMI", "security group rules (read back)", "host system", "application version",
            "digest of terraform/, nixos/, spec.json, flake lock"} <= shown


def test_the_application_states_its_version_from_its_units_exec_start(tmp_path):
    from harness.deployed import version_command

    nixos = "{ path=/nix/store/abc-inventory_tracker-0.1.0/bin/inventory_tracker ; " \
            "argv[]=/nix/store/abc-inventory_tracker-0.1.0/bin/inventory_tracker start ; ignore_errors=no ; }"
    assert version_command(nixos) == ["/nix/store/abc-inventory_tracker-0.1.0/bin/inventory_tracker", "version"]
    sandbox = "{ path=/usr/bin/python3 ; argv[]=/usr/bin/python3 /opt/inventory-tracker/inventory_app.py serve ; }"
    assert version_command(sandbox) == ["/usr/bin/python3", "/opt/inventory-tracker/inventory_app.py", "version"]
    (tmp_path / "psycopg.py").write_text("class Error(Exception):\n    pass\n")  # `version` needs no database
    app = subprocess.run([sys.executable, str(REPO_ROOT / "fixtures/sandbox/app/inventory_app.py"), "version"],
                         capture_output=True, text=True, check=True, env={"PYTHONPATH": str(tmp_path)})
    assert app.stdout.startswith("inventory_tracker ") and "standin" in app.stdout


def test_a_sandbox_certificate_is_signed_with_the_sandbox_key_and_stored(tmp_path, allowed_signers):
    from harness.certificate_publish import sign_and_store
    from harness.verify import default_allowed_signers

    document = build_certificate("sandbox", "it2", [CheckResult("x", "passed")], [], [])
    path = write_certificate(tmp_path, document)
    copy = tmp_path / "certificate-sandbox.json"
    stored = sign_and_store(_options(tmp_path, "sandbox"), copy, [path], "abc123")
    assert stored == [f"{copy}.sig", str(tmp_path / "certificates/sandbox/abc123.json")]
    for signed in (path, copy, tmp_path / "certificates/sandbox/abc123.json"):
        assert verify_file(signed, None, default_allowed_signers(signed)).valid
    assert not verify_file(copy, None, [allowed_signers]).valid  # the sandbox key is not a team signer


def test_a_failed_staging_run_revokes_the_certificate_of_its_commit(tmp_path, operator_key, allowed_signers):
    from harness.certificate_publish import revoke_staging, sign_and_store
    from harness.certificate_store import DirectoryStore, fetch

    options = _options(tmp_path, "staging", signing_key=operator_key.path)
    path = write_certificate(tmp_path, build_certificate("staging", "it3", [CheckResult("x", "passed")], [], []))
    sign_and_store(options, tmp_path / "certificate-staging.json", [path], "abc123")
    assert not fetch(DirectoryStore(tmp_path), "staging", "abc123").revoked
    assert revoke_staging(options, "abc123", "it4", "1 of 9 checks failed") == [
        str(tmp_path / "certificates/staging/abc123.revoked.json")]
    assert fetch(DirectoryStore(tmp_path), "staging", "abc123").revoked
    assert revoke_staging(_options(tmp_path, "sandbox"), "abc123", "it5", "failed") == []  # only staging revokes


def _options(tmp_path, environment, signing_key=None):
    from harness.options import RunOptions

    return RunOptions(environment=environment, policy=environment, keep=False, reuse=None, aws_endpoint=None,
                      terraform_dir=tmp_path / "terraform", tfvars=tmp_path / f"{environment}.tfvars",
                      runs_dir=tmp_path / "runs", reports_dir=tmp_path, allow_production_apply=False,
                      signing_key=signing_key)


@pytest.mark.parametrize("args, keyword, deselect, markexpr, selection", [
    ([], "", None, "", "complete"),
    ([str(REPO_ROOT / "suites")], "", None, "staging", "complete"),
    ([str(REPO_ROOT / "suites/test_web.py")], "", None, "staging", "partial"),
    ([], "health", None, "staging", "partial"),
    ([], "", ["suites/test_web.py::test_health_answers_through_nginx"], "staging", "partial"),
    ([], "", None, "staging and not backups", "partial"),
], ids=["default", "suites-folder", "one-file", "-k", "--deselect", "-m-narrowed"])
def test_the_certificate_records_whether_every_check_was_selected(args, keyword, deselect, markexpr, selection):
    from types import SimpleNamespace

    from harness.plugin.core import selection_of

    config = SimpleNamespace(args=args, option=SimpleNamespace(keyword=keyword, deselect=deselect, markexpr=markexpr))
    assert selection_of(config) == selection
