"""Log and monitoring checks: the host's logs reach CloudWatch Logs, the group and alarms are as declared.

Each ``check_*`` takes the ``deployment`` object and raises ``AssertionError`` with
what is wrong and where to look (``HarnessError`` when the harness could not find
out). They read the log group and alarms through the run's AWS API (moto in the
sandbox) and cause log lines on the host: a request with a unique id through Nginx,
a ``RAISE LOG`` in PostgreSQL. Waits poll every ``POLL_INTERVAL`` seconds, so a
healthy deployment passes in about the shipper's delivery latency.

The secret check compares what was shipped with the run's secret values in this
process only; a secret value never appears in a message, a log or a filter sent to
the API.
"""
from __future__ import annotations

import json
import secrets
import shlex
import time
from typing import Any, Callable, Optional

from harness.redaction import register_secret

from harness.hostprobes import psql_superuser

POLL_INTERVAL = 0.5  # seconds between two searches of the log group
SCAN_WINDOW_SECONDS = 24 * 3600  # how far back the secret check reads the group
SCAN_MAX_PAGES = 200  # pages of events the secret check reads at most
# The shipper's unit: the stand-in in the sandbox, Vector on NixOS.
SHIPPER_UNITS = ("inventory-tracker-log-shipper.service", "vector.service")
MIN_SECRET_LENGTH = 12  # shorter values (moto's "testing" keys) would match by chance


def log_group(deployment: Any) -> str:
    group = deployment.infra.variables.get("log_group")
    assert group, ("Terraform has no `log_group` output: the stack lacks aws_cloudwatch_log_group.host "
                   "(terraform/main.tf, spec.json logs)")
    return str(group)


def _logs(deployment: Any) -> Any:
    return deployment.aws.client("logs")


def _deadline(deployment: Any) -> float:
    return float(deployment.spec["logs"]["delivery_deadline_seconds"])


def shipper_state(deployment: Any) -> str:
    """``<unit>: <is-active>`` of the shipper's unit on the host (whichever of SHIPPER_UNITS exists)."""
    states = []
    for unit in SHIPPER_UNITS:
        result = deployment.ssh.sudo(f"systemctl is-active {shlex.quote(unit)}", check=False, timeout=20)
        state = result.stdout.strip() or "unknown"
        exists = deployment.ssh.sudo(f"systemctl cat {shlex.quote(unit)} >/dev/null 2>&1", check=False,
                                     timeout=20).exit_status == 0
        if exists:
            return f"{unit} is {state}"
        states.append(f"{unit}: not installed")
    return "; ".join(states)


def find_event(deployment: Any, term: str, since_ms: int, accept: Callable[[dict[str, Any]], bool],
               what: str, stream_suffix: str) -> tuple[dict[str, Any], float]:
    """Poll the group for an event containing ``term`` that ``accept`` takes: (the event, seconds waited).

    AssertionError after the delivery deadline, naming the shipper's unit and its state.
    """
    group, client = log_group(deployment), _logs(deployment)
    start = time.monotonic()
    deadline = start + _deadline(deployment)
    seen: list[str] = []
    while True:
        events = client.filter_log_events(logGroupName=group, startTime=since_ms,
                                          filterPattern=json.dumps(term)).get("events", [])
        for event in events:
            if event["logStreamName"].endswith(stream_suffix) and accept(event):
                return event, time.monotonic() - start
            seen.append(f"{event['logStreamName']}: {event['message'][:200]}")
        if time.monotonic() >= deadline:
            break
        time.sleep(POLL_INTERVAL)
    found = ("; events with the id in other streams or with other content: " + " | ".join(seen[-3:])) if seen else ""
    raise AssertionError(
        f"{what} did not reach log group {group} (stream */{stream_suffix.lstrip('/')}) within "
        f"{_deadline(deployment):.0f} s; the log shipper {shipper_state(deployment)} — on the host: "
        f"`systemctl status {' '.join(SHIPPER_UNITS)}` and its journal{found}")


def _request(deployment: Any, url: str, request_id: str) -> int:
    """GET ``url`` through the deployment's HTTP session with ``X-Request-Id``; the status code."""
    import requests

    try:
        return int(deployment.http.get(url, headers={"X-Request-Id": request_id}, timeout=10,
                                       allow_redirects=False).status_code)
    except requests.RequestException as error:
        raise AssertionError(f"GET {url} got no HTTP answer ({error}): is Nginx up?") from None


def _now_ms() -> int:
    return int(time.time() * 1000)


def check_request_delivered(deployment: Any) -> float:
    """A request with a unique X-Request-Id through Nginx is in the group (JSON: id, status, path) within 30 s.

    Returns the delivery latency (request sent -> event found) in seconds.
    """
    request_id = f"logcheck-{secrets.token_hex(8)}"
    path = f"{deployment.spec['app']['health_path']}?log-check={request_id}"
    since = _now_ms() - 5000
    sent = time.monotonic()
    status = _request(deployment, deployment.base_url + path, request_id)

    def accept(event: dict[str, Any]) -> bool:
        try:
            line = json.loads(event["message"])
        except ValueError:
            return False
        return isinstance(line, dict) and line.get("request_id") == request_id

    event, _ = find_event(deployment, request_id, since, accept, f"Nginx's access log line of request {request_id}",
                          "/nginx")
    latency = time.monotonic() - sent
    line = json.loads(event["message"])
    assert str(line.get("status")) == str(status) and line.get("path") == path, (
        f"Nginx's access log line of request {request_id} in {event['logStreamName']} says status "
        f"{line.get('status')!r} and path {line.get('path')!r}, the client saw {status} for {path!r}: "
        "check log_format inventory_tracker_json in the Nginx site")
    return latency


def check_app_line_delivered(deployment: Any) -> float:
    """The application's own log line of a request (its path with a unique marker) is in the group within 30 s."""
    marker = f"applogcheck-{secrets.token_hex(8)}"
    since = _now_ms() - 5000
    sent = time.monotonic()
    _request(deployment, deployment.base_url + f"{deployment.spec['app']['health_path']}?log-check={marker}", marker)
    find_event(deployment, marker, since, lambda e: not e["message"].lstrip().startswith("{"),
               f"the application's log line of request {marker} (unit {deployment.app_unit})", "/app")
    return time.monotonic() - sent


def check_postgresql_line_delivered(deployment: Any) -> float:
    """A ``RAISE LOG`` with a unique marker in PostgreSQL is in the group within 30 s."""
    marker = f"pglogcheck-{secrets.token_hex(8)}"
    since = _now_ms() - 5000
    sent = time.monotonic()
    psql_superuser(deployment.ssh, "postgres", f"DO $$ BEGIN RAISE LOG 'log check %', '{marker}'; END $$;")
    find_event(deployment, marker, since, lambda e: True, f"PostgreSQL's log line {marker}", "/postgresql")
    return time.monotonic() - sent


def check_retention(deployment: Any) -> None:
    """The log group exists with the declared retention (spec.json logs.retention_days)."""
    group = log_group(deployment)
    found = [g for g in _logs(deployment).describe_log_groups(logGroupNamePrefix=group).get("logGroups", [])
             if g["logGroupName"] == group]
    assert found, f"log group {group} does not exist: apply terraform/ (aws_cloudwatch_log_group.host)"
    want = deployment.spec["logs"]["retention_days"]
    actual = found[0].get("retentionInDays")
    assert actual == want, (
        f"log group {group} keeps events for {actual if actual else 'ever (no retention)'} days, declared "
        f"{want} (spec.json logs.retention_days): changed outside Terraform? `terraform apply` restores it")


def _alarm(deployment: Any, key: str) -> dict[str, Any]:
    names = deployment.infra.variables.get("alarm_names") or {}
    name = names.get(key)
    assert name, f"Terraform has no alarm {key!r} in its `alarm_names` output (terraform/main.tf)"
    alarms = deployment.aws.client("cloudwatch").describe_alarms(AlarmNames=[name]).get("MetricAlarms", [])
    assert alarms, f"alarm {name} ({key}) does not exist in CloudWatch: deleted outside Terraform? `terraform apply`"
    return alarms[0]


def _expect(alarm: dict[str, Any], **expected: Any) -> None:
    wrong = [f"{field} is {alarm.get(field)!r}, expected {value!r}" for field, value in expected.items()
             if alarm.get(field) != value]
    assert not wrong, f"alarm {alarm['AlarmName']}: " + "; ".join(wrong) + " (terraform/main.tf, spec.json logs.alarms)"


def _dimensions(alarm: dict[str, Any]) -> dict[str, str]:
    return {d["Name"]: d["Value"] for d in alarm.get("Dimensions", [])}


def check_status_check_alarm(deployment: Any) -> None:
    """The EC2 system status check alarm on this instance exists and recovers the instance."""
    spec = deployment.spec["logs"]["alarms"]["status_check_failed"]
    alarm = _alarm(deployment, "status_check_failed")
    _expect(alarm, Namespace="AWS/EC2", MetricName="StatusCheckFailed_System", Threshold=1.0,
            Period=spec["period_seconds"], EvaluationPeriods=spec["evaluation_periods"],
            ComparisonOperator="GreaterThanOrEqualToThreshold")
    assert _dimensions(alarm).get("InstanceId") == deployment.infra.instance_id, (
        f"alarm {alarm['AlarmName']} watches {_dimensions(alarm)}, not the instance {deployment.infra.instance_id}")
    recover = f"arn:aws:automate:{deployment.aws.region}:ec2:recover"
    assert recover in alarm.get("AlarmActions", []), (
        f"alarm {alarm['AlarmName']} has actions {alarm.get('AlarmActions')}, not the recover action {recover}")


def check_cpu_credit_alarm(deployment: Any) -> None:
    """A t2 instance has the CPU credit balance alarm with the declared threshold (other types: not applicable)."""
    instance_type = deployment.infra.variables.get("instance_type", deployment.spec["instance"]["type"])
    if not str(instance_type).startswith("t2."):
        return
    spec = deployment.spec["logs"]["alarms"]["cpu_credit_balance_low"]
    alarm = _alarm(deployment, "cpu_credit_balance_low")
    _expect(alarm, Namespace="AWS/EC2", MetricName="CPUCreditBalance", Threshold=float(spec["threshold"]),
            Period=spec["period_seconds"], EvaluationPeriods=spec["evaluation_periods"],
            ComparisonOperator="LessThanThreshold")
    assert _dimensions(alarm).get("InstanceId") == deployment.infra.instance_id, (
        f"alarm {alarm['AlarmName']} watches {_dimensions(alarm)}, not the instance {deployment.infra.instance_id}")


def check_disk_alarm(deployment: Any) -> None:
    """The root volume alarm watches the shipper's disk metric of this instance with the declared threshold."""
    logs = deployment.spec["logs"]
    spec = logs["alarms"]["disk_used_percent_high"]
    alarm = _alarm(deployment, "disk_used_percent_high")
    _expect(alarm, Namespace=logs["metric_namespace"], MetricName=logs["disk_metric"],
            Threshold=float(spec["threshold"]), Period=spec["period_seconds"],
            EvaluationPeriods=spec["evaluation_periods"], ComparisonOperator="GreaterThanThreshold")
    assert _dimensions(alarm) == {"InstanceId": deployment.infra.instance_id, "MountPath": "/"}, (
        f"alarm {alarm['AlarmName']} watches {_dimensions(alarm)}, not / of {deployment.infra.instance_id}")


# ------------------------------------------------------------------ secrets


def _instance_credentials(deployment: Any) -> list[str]:
    """The instance role's current credentials, read from the metadata service on the host."""
    script = (
        "T=$(curl -sf -m 5 -X PUT -H 'X-aws-ec2-metadata-token-ttl-seconds: 60' "
        "http://169.254.169.254/latest/api/token) && "
        "R=$(curl -sf -m 5 -H \"X-aws-ec2-metadata-token: $T\" "
        "http://169.254.169.254/latest/meta-data/iam/security-credentials/) && "
        "curl -sf -m 5 -H \"X-aws-ec2-metadata-token: $T\" "
        "\"http://169.254.169.254/latest/meta-data/iam/security-credentials/$R\""
    )
    result = deployment.ssh.run(script, check=False, timeout=30)
    try:
        document = json.loads(result.stdout)
    except ValueError:
        return []
    return [str(document.get(k, "")) for k in ("SecretAccessKey", "Token")]


def run_secrets(deployment: Any) -> dict[str, str]:
    """What must never be shipped: name -> value (every value registered for redaction)."""
    from harness.secrets import read_env_file

    found: dict[str, str] = {}
    if deployment.db.password is not None:
        found["the database password"] = deployment.db.password.reveal()
    env = read_env_file(deployment.ssh, deployment.spec["app"]["env_file"]) or {}
    if env.get("SECRET_KEY_BASE"):
        found["SECRET_KEY_BASE"] = env["SECRET_KEY_BASE"]
    for index, value in enumerate(_instance_credentials(deployment)):
        found[("the instance role's secret access key", "the instance role's session token")[index]] = value
    harness_credentials = deployment.aws.session.get_credentials()
    if harness_credentials is not None:
        found["the harness's AWS secret access key"] = harness_credentials.secret_key or ""
    kept = {name: value for name, value in found.items() if value and len(value) >= MIN_SECRET_LENGTH}
    for value in kept.values():
        register_secret(value)
    return kept


def shipped_events(deployment: Any, since_ms: int) -> list[dict[str, Any]]:
    """The group's events since ``since_ms`` (at most SCAN_MAX_PAGES pages)."""
    client, group = _logs(deployment), log_group(deployment)
    events: list[dict[str, Any]] = []
    arguments: dict[str, Any] = {"logGroupName": group, "startTime": since_ms}
    for _ in range(SCAN_MAX_PAGES):
        page = client.filter_log_events(**arguments)
        events.extend(page.get("events", []))
        token = page.get("nextToken")
        if not token or not page.get("events"):
            break
        arguments["nextToken"] = token
    return events


def check_no_secret_shipped(deployment: Any) -> int:
    """No secret of the run appears in what was shipped in the last day; returns how many events were read."""
    values = run_secrets(deployment)
    events = shipped_events(deployment, _now_ms() - SCAN_WINDOW_SECONDS * 1000)
    leaks: dict[str, set[str]] = {}
    for event in events:
        for name, value in values.items():
            if value in event["message"]:
                leaks.setdefault(name, set()).add(event["logStreamName"])
    assert not leaks, (
        f"secrets were shipped to log group {log_group(deployment)} (values not shown): "
        + "; ".join(f"{name} in stream(s) {', '.join(sorted(streams))}" for name, streams in sorted(leaks.items()))
        + ". Find what printed them (the stream names the source), stop it, rotate the secret, and delete the "
          "affected streams")
    return len(events)
