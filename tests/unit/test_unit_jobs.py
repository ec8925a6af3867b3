"""run_unit_job: a start systemd refused ("resources") is tried again; a job that ran and failed is not."""
from dataclasses import dataclass

import pytest

from harness import unit_jobs
from harness.errors import HarnessError


@dataclass
class Result:
    exit_status: int
    stdout: str = ""
    stderr: str = ""


class FakeHost:
    """systemctl start answers in turn from ``starts`` (exit status, Result); every start is recorded."""

    def __init__(self, starts):
        self.starts = list(starts)
        self.result = ""
        self.commands = []

    def sudo(self, command, **_):
        self.commands.append(command)
        if command.startswith("systemctl start"):
            status, self.result = self.starts.pop(0)
            return Result(status, stderr="" if status == 0 else "Job for x.service failed")
        if command.startswith("systemctl show"):
            return Result(0, stdout=self.result + "\n")
        return Result(0, stdout="Nov 28 14:00:00 systemd[1]: x.service: Failed to set up mount namespacing\n")


@pytest.fixture(autouse=True)
def no_pause(monkeypatch):
    monkeypatch.setattr(unit_jobs, "RESOURCE_RETRY_SECONDS", 0.0)


def starts(host):
    return [c for c in host.commands if c.startswith("systemctl start")]


def test_a_start_refused_for_resources_is_tried_again():
    host = FakeHost([(1, "resources"), (0, "success")])
    unit_jobs.run_unit_job(host, "x.service", "base backup")
    assert len(starts(host)) == 2


def test_a_job_that_failed_is_not_tried_again_and_its_journal_is_shown():
    host = FakeHost([(1, "exit-code")])
    with pytest.raises(HarnessError, match=r"(?s)base backup \(x.service\) failed .*result exit-code.*mount namespacing"):
        unit_jobs.run_unit_job(host, "x.service", "base backup")
    assert len(starts(host)) == 1


def test_refused_every_time_ends_after_the_last_attempt():
    host = FakeHost([(1, "resources")] * unit_jobs.RESOURCE_ATTEMPTS)
    with pytest.raises(HarnessError, match=f"result resources, after {unit_jobs.RESOURCE_ATTEMPTS} starts"):
        unit_jobs.run_unit_job(host, "x.service", "base backup")
    assert len(starts(host)) == unit_jobs.RESOURCE_ATTEMPTS
