"""Made-up documents for the report tests: a certified run, a failed run, a DR drill, a bench summary."""
from __future__ import annotations

import copy
from typing import Any

T0 = "2026-11-27T07:00:00"


def _record(name: str, start: float, end: float, kind: str = "stage", outcome: str = "finished") -> dict[str, Any]:
    def at(seconds: float) -> str:
        minutes, rest = divmod(seconds, 60)
        return f"2026-11-27T07:{int(minutes):02d}:{rest:06.3f}Z"

    return {"name": name, "seconds": round(end - start, 2), "started_at": at(start), "ended_at": at(end),
            "kind": kind, "outcome": outcome}


STAGES = [
    _record("aws", 0, 0.5), _record("infra", 0.5, 67.5), _record("instance", 67.5, 69.4),
    _record("host", 69.4, 78.1), _record("checks", 78.2, 109.5, "checks"),
    _record("instance-remove", 110, 113, "teardown"), _record("terraform-destroy", 113, 136, "teardown"),
    _record("moto-stop", 136, 136.2, "teardown"),
]

CERTIFIED: dict[str, Any] = {
    "environment": "sandbox", "run_id": "it0c0ffee0", "commit": "06c0930e2dd6b6d3ce52d9a76d23f520075856b5",
    "dirty": False, "certified": True, "issued_at": "2026-11-27T07:02:17+00:00",
    "checks": [
        {"id": "suites/test_infra.py::test_ssh_rule", "outcome": "passed", "seconds": 0.02, "message": ""},
        {"id": "suites/test_host.py::test_sshd_no_passwords", "outcome": "passed", "seconds": 0.4, "message": ""},
        {"id": "suites/test_web.py::test_health_through_nginx", "outcome": "passed", "seconds": 0.1, "message": ""},
        {"id": "suites/test_db.py::test_pg_hba_has_no_trust", "outcome": "passed", "seconds": 0.3, "message": ""},
        {"id": "suites/test_db.py::test_backup_restores", "outcome": "skipped", "seconds": 0.0,
         "message": "no backups in this environment"},
    ],
    "stages": STAGES, "total_seconds": 78.1, "resources": ["aws_instance.app", "aws_security_group.web",
                                                           "aws_s3_bucket.backups"],
    "policy": "sandbox", "selection": "complete", "run_seconds": 137.0,
    "instance_id": "i-0123456789abcdef0", "ami": "ami-debian-13", "app_version": "0.1.0",
}


def certified() -> dict[str, Any]:
    return copy.deepcopy(CERTIFIED)


def failed(message: str = "AssertionError: port 4000 answers from the internet") -> dict[str, Any]:
    document = certified()
    document["certified"] = False
    document["failure"] = {"exit_status": 1, "reason": "1 of 5 checks failed or errored"}
    document["checks"].append({"id": "suites/test_web.py::test_phoenix_port_closed", "outcome": "failed",
                               "seconds": 1.25, "message": message})
    document["stages"][3] = dict(document["stages"][3], outcome="failed")
    return document


def dr(*, met: bool = True) -> dict[str, Any]:
    """A DR certificate as the drill will write it (keys from issue 10 §6)."""
    return {
        "environment": "sandbox", "commit": "06c0930e2dd6b6d3ce52d9a76d23f520075856b5", "dirty": False,
        "issued_at": "2026-11-27T07:05:00+00:00", "disaster_at": "2026-11-27T07:01:00Z",
        "rto_seconds": 95.0 if met else 200.0, "rpo_seconds": 4.0,
        "objectives": {"rto_seconds": 180, "rpo_seconds": 60}, "met": met,
        "restored": {"backup_id": "20261127T065900", "wal": "0/3000060"},
        "stages": [
            _record("canary-writer", 30, 160),  # runs through the disaster: overlaps the recovery
            _record("infra", 62, 100), _record("instance", 100, 103), _record("host", 103, 115),
            _record("restore", 115, 150), _record("health", 150, 155),
        ],
    }


BENCH: dict[str, Any] = {
    "runs": 3, "issued_at": "2026-11-27T07:30:00+00:00",
    "stages": {"aws": {"min": 0.4, "median": 0.5, "max": 0.7}, "infra": {"min": 64.0, "median": 67.2, "max": 70.3},
               "terraform-destroy": {"min": 21.0, "median": 23.1, "max": 25.0},
               "wall": {"min": 130.0, "median": 135.5, "max": 141.0}},
}


def dr_as_main_writes_it() -> dict[str, Any]:
    """The drill's certificate as harness/drill.py on main writes it (stage records with start/end)."""
    def record(name: str, start: str, end: str, seconds: float) -> dict[str, Any]:
        return {"name": name, "start": f"2026-11-27T07:{start}+00:00", "end": f"2026-11-27T07:{end}+00:00",
                "seconds": seconds}

    return {
        "kind": "disaster-recovery drill", "environment": "sandbox", "run_id": "it0d0d0d0d",
        "scenario": "instance-loss", "commit": "2568521", "dirty": False, "written_at": "2026-11-27T07:06:00+00:00",
        "disaster_at": "2026-11-27T07:02:05.500000+00:00", "rto_seconds": None, "rpo_seconds": 3.2,
        "objectives": {"rto_seconds": 180, "rpo_seconds": 60}, "met": False,
        "problems": ["RTO not reached: /health never answered 200 through Nginx (objective 180 s)"],
        "restored": {"backup_id": "20261127T070000", "wal_lsn": "0/5000100", "newest_archived_wal": "000000010000000000000005"},
        "canary": {"written": 60, "acknowledged_before_disaster": 58, "restored": 58},
        "instances": {"destroyed": "i-0aaa", "replacement": "i-0bbb"},
        "stages": [record("canary writes for 65 s", "01:00.000000", "02:05.000000", 65.0),
                   record("disaster: instance destroyed", "02:05.500000", "02:06.000000", 0.5),
                   record("terraform apply -replace=aws_instance.app", "02:06.000000", "02:40.000000", 34.0),
                   record("instance boots", "02:40.000000", "02:43.000000", 3.0)],
    }
