"""Certificate rules: only fully green runs are certified; stale certificates go."""
import json

from harness.certificate import (CheckResult, build_certificate, certifiable, remove_certificate,
                                 write_certificate)
from harness.logblock import StageTime
from harness.redaction import register_secret


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
