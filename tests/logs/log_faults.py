"""Fault injection for the log checks: break logging or monitoring one way, see exactly its checks fail, repair.

Each :class:`LogFault` breaks the deployed sandbox the way a real deployment
breaks: the shipper stops, someone shortens the group's retention or deletes an
alarm in the console, the application prints a secret into its log.
"""
from __future__ import annotations

import json
import secrets
import shlex
import time
from typing import Any, Callable

from fault_runner import Fault
from harness.retry import wait_until
from suites import log_checks

CHECKS: dict[str, Callable[[Any], Any]] = {
    "request_delivered": log_checks.check_request_delivered,
    "app_line_delivered": log_checks.check_app_line_delivered,
    "postgresql_line_delivered": log_checks.check_postgresql_line_delivered,
    "retention": log_checks.check_retention,
    "status_check_alarm": log_checks.check_status_check_alarm,
    "cpu_credit_alarm": log_checks.check_cpu_credit_alarm,
    "disk_alarm": log_checks.check_disk_alarm,
    "no_secret_shipped": log_checks.check_no_secret_shipped,
}
# The certification check (as the certificate lists it) each check function above stands for.
CHECK_IDS: dict[str, tuple[str, ...]] = {
    "request_delivered": ("suites/test_logs.py::test_request_reaches_the_log_group",),
    "app_line_delivered": ("suites/test_logs.py::test_application_line_reaches_the_log_group",),
    "postgresql_line_delivered": ("suites/test_logs.py::test_postgresql_line_reaches_the_log_group",),
    "retention": ("suites/test_logs.py::test_log_group_retention",),
    "status_check_alarm": ("suites/test_logs.py::test_status_check_alarm_recovers_the_instance",),
    "cpu_credit_alarm": ("suites/test_logs.py::test_cpu_credit_alarm",),
    "disk_alarm": ("suites/test_logs.py::test_disk_alarm",),
    "no_secret_shipped": ("suites/test_logs.py::test_no_secret_was_shipped",),
}
SHIPPER = "inventory-tracker-log-shipper.service"
# Journal entries cannot be edited: rotate, then drop the archived files (the whole sandbox journal).
FORGET_JOURNAL = "journalctl --rotate && sleep 1.5 && journalctl --vacuum-time=1s >/dev/null 2>&1"


LogFault = Fault


# ------------------------------------------------------------------ the shipper stopped


def _stop_shipper(deployment: Any) -> None:
    # reset-failed: a shipper that exits uncleanly when stopped would show "failed"; stopped is "inactive"
    deployment.ssh.sudo(f"systemctl stop {SHIPPER}; systemctl reset-failed {SHIPPER} 2>/dev/null || true")


def _start_shipper(deployment: Any, _: Any) -> None:
    deployment.ssh.sudo(f"systemctl start {SHIPPER}")


# ------------------------------------------------------------------ retention changed out of band


def _shorten_retention(deployment: Any) -> None:
    deployment.aws.client("logs").put_retention_policy(logGroupName=log_checks.log_group(deployment),
                                                       retentionInDays=1)


def _restore_retention(deployment: Any, _: Any) -> None:
    deployment.aws.client("logs").put_retention_policy(logGroupName=log_checks.log_group(deployment),
                                                       retentionInDays=deployment.spec["logs"]["retention_days"])


# ------------------------------------------------------------------ an alarm deleted

ALARM_FIELDS = ("AlarmName", "AlarmDescription", "ActionsEnabled", "OKActions", "AlarmActions",
                "InsufficientDataActions", "MetricName", "Namespace", "Statistic", "Dimensions", "Period",
                "EvaluationPeriods", "Threshold", "ComparisonOperator", "TreatMissingData")


def _delete_alarm(key: str) -> Callable[[Any], dict[str, Any]]:
    def inject(deployment: Any) -> dict[str, Any]:
        name = deployment.infra.variables["alarm_names"][key]
        cloudwatch = deployment.aws.client("cloudwatch")
        alarm = cloudwatch.describe_alarms(AlarmNames=[name])["MetricAlarms"][0]
        tags = cloudwatch.list_tags_for_resource(ResourceARN=alarm["AlarmArn"]).get("Tags", [])
        cloudwatch.delete_alarms(AlarmNames=[name])
        kept = {field: alarm[field] for field in ALARM_FIELDS if alarm.get(field) not in (None, "")}
        return {**kept, "Tags": tags} if tags else kept  # the tags too: terraform plan must stay clean
    return inject


def _recreate_alarm(deployment: Any, alarm: dict[str, Any]) -> None:
    deployment.aws.client("cloudwatch").put_metric_alarm(**alarm)  # what `terraform apply` would do


# ------------------------------------------------------------------ a secret printed by the application


def _app_prints_password(deployment: Any) -> str:
    """The application logs its DATABASE_URL (password included); returns a marker logged right after it."""
    marker = f"secret-fault-{secrets.token_hex(6)}"
    env = shlex.quote(deployment.spec["app"]["env_file"])
    # The password is read on the host and reaches logger on stdin: never on a command line.
    deployment.ssh.sudo(
        f"url=$(sed -n 's/^DATABASE_URL=//p' {env}) && "
        "printf 'MESSAGE=connecting to %s\\nSYSLOG_IDENTIFIER=inventory-tracker\\n' \"$url\" | logger --journald && "
        f"printf 'MESSAGE=%s\\nSYSLOG_IDENTIFIER=inventory-tracker\\n' {marker} | logger --journald")
    since = int(time.time() * 1000) - 10_000
    log_checks.find_event(deployment, marker, since, lambda e: True, f"the fault's marker {marker}", "/app")
    return marker


def streams_with_secrets(deployment: Any) -> set[str]:
    """The group's streams holding any of the run's secrets (values never leave this process)."""
    values = log_checks.run_secrets(deployment).values()
    events = log_checks.shipped_events(deployment, int(time.time() * 1000) - log_checks.SCAN_WINDOW_SECONDS * 1000)
    return {e["logStreamName"] for e in events if any(value in e["message"] for value in values)}


def forget_shipped_secrets(deployment: Any, _: Any = None) -> None:
    """Delete the streams a secret was shipped to (the shipper creates them again) and forget the journal."""
    client, group = deployment.aws.client("logs"), log_checks.log_group(deployment)
    for stream in streams_with_secrets(deployment):
        client.delete_log_stream(logGroupName=group, logStreamName=stream)
    deployment.ssh.sudo(FORGET_JOURNAL, check=False)
    # The shipper must have created its stream again before a delivery check runs.
    wait_until("the log shipper to deliver again after its stream was deleted",
               lambda: _delivers(deployment), timeout=30, interval=0.5)


def _delivers(deployment: Any) -> bool:
    marker = f"redelivery-{secrets.token_hex(6)}"
    deployment.ssh.sudo(f"printf 'MESSAGE=%s\\nSYSLOG_IDENTIFIER=inventory-tracker\\n' {marker} | logger --journald")
    time.sleep(1.5)
    found = deployment.aws.client("logs").filter_log_events(
        logGroupName=log_checks.log_group(deployment), startTime=int(time.time() * 1000) - 10_000,
        filterPattern=json.dumps(marker)).get("events", [])
    return bool(found)


FAULTS = [
    LogFault("the log shipper stopped", _stop_shipper,
             frozenset({"request_delivered", "app_line_delivered", "postgresql_line_delivered"}),
             hint=f"{SHIPPER} is inactive", repair=_start_shipper),
    LogFault("the log group's retention changed out of band", _shorten_retention, frozenset({"retention"}),
             hint="keeps events for 1 days", repair=_restore_retention),
    LogFault("the status check alarm deleted", _delete_alarm("status_check_failed"),
             frozenset({"status_check_alarm"}), hint="does not exist", repair=_recreate_alarm),
    LogFault("the CPU credit alarm deleted", _delete_alarm("cpu_credit_balance_low"),
             frozenset({"cpu_credit_alarm"}), hint="does not exist", repair=_recreate_alarm),
    LogFault("the disk alarm deleted", _delete_alarm("disk_used_percent_high"),
             frozenset({"disk_alarm"}), hint="does not exist", repair=_recreate_alarm),
    LogFault("the application printed the database password", _app_prints_password,
             frozenset({"no_secret_shipped"}), hint="the database password in stream",
             repair=forget_shipped_secrets),
]
