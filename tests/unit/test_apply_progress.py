"""The background apply's progress: resources as `terraform apply -json` reports them, waits, failures."""
import json
import threading

import pytest

from harness.apply_progress import ApplyFailed, ApplyProgress, created_resource, diagnostics_text
from harness.errors import HarnessError


def _event(**fields):
    return json.dumps(fields)


def test_created_resources_are_read_from_apply_complete_events():
    line = _event(type="apply_complete", hook={"resource": {"addr": "aws_instance.app"}, "action": "create",
                                                 "id_key": "id", "id_value": "i-123"})
    assert created_resource(line) == ("aws_instance.app", "i-123")
    assert created_resource(_event(type="apply_start", hook={"resource": {"addr": "x"}})) is None
    assert created_resource("not json") is None


def test_errors_read_as_terraform_prints_them_with_the_file():
    line = _event(**{"@level": "error", "@message": "Error: Missing item separator",
                     "diagnostic": {"summary": "Missing item separator", "detail": "Expected a comma.",
                                    "range": {"filename": "broken.tfvars", "start": {"line": 1}}}})
    text = diagnostics_text([line, _event(**{"@level": "info", "@message": "Apply complete"})])
    assert text == "Error: Missing item separator\n\n  on broken.tfvars line 1:\nExpected a comma."


def test_a_wait_ends_when_its_resources_exist_and_the_whole_apply_waits_for_the_end():
    progress, release = ApplyProgress(), threading.Event()

    def apply(p):
        p.record("aws_instance.app", "i-1")
        release.wait(5)

    progress.start(apply)
    assert progress.wait(("aws_instance.app",), timeout=5) == {"aws_instance.app": "i-1"}
    with pytest.raises(HarnessError, match="timed out after 0 s waiting for terraform apply to finish"):
        progress.wait(timeout=0.2)
    release.set()
    assert progress.wait(timeout=5) == {"aws_instance.app": "i-1"}
    # a resource the configuration never creates: the wait ends with the apply, without it
    assert progress.wait(("aws_s3_bucket.other",), timeout=1) == {}


def test_a_failed_apply_ends_every_wait_at_once_as_the_infra_stage():
    progress = ApplyProgress()

    def apply(p):
        raise HarnessError("terraform apply failed in /run: Error: boom")

    progress.start(apply)
    with pytest.raises(ApplyFailed, match="Error: boom") as raised:
        progress.wait(("aws_instance.app",), timeout=5)
    assert raised.value.stage == "infra"


def test_a_read_only_runs_outputs_end_the_waits_before_its_plan_does():
    progress, planned = ApplyProgress(), threading.Event()

    def plan(p):
        p.publish_outputs({"instance_id": "i-1"})
        planned.wait(5)

    progress.start(plan)
    assert progress.wait_outputs(timeout=5) == {"instance_id": "i-1"}
    assert progress.wait(("aws_instance.app",), timeout=5) == {}  # nothing will be created: no wait for it
    with pytest.raises(HarnessError, match="waiting for terraform apply to finish"):
        progress.wait(timeout=0.2)  # the plan goes on
    planned.set()
    progress.wait(timeout=5)


def test_an_apply_publishes_no_outputs_and_its_failure_ends_the_wait_for_them():
    finished, failed = ApplyProgress(), ApplyProgress()
    finished.start(lambda p: None)
    assert finished.wait_outputs(timeout=5) is None  # read from the state once it ended

    def apply(p):
        raise HarnessError("terraform init failed: Error: no backend")

    failed.start(apply)
    with pytest.raises(ApplyFailed, match="no backend"):
        failed.wait_outputs(timeout=5)
