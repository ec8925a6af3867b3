"""The stand-in log shipper's logic without a host: which entries go where, batching, retries, the cursor."""
from __future__ import annotations

import json
from typing import Any

import pytest

from fixtures.sandbox import log_shipper
from fixtures.sandbox.log_shipping import LogTarget, log_env, shipper_settings
from harness.spec import load_spec

SOURCES = load_spec()["logs"]["sources"]


@pytest.mark.parametrize("entry, source", [
    ({"_SYSTEMD_UNIT": "inventory-tracker.service"}, "app"),
    ({"SYSLOG_IDENTIFIER": "inventory-tracker", "_SYSTEMD_UNIT": "session-3.scope"}, "app"),
    ({"_SYSTEMD_UNIT": "nginx.service", "SYSLOG_IDENTIFIER": "nginx"}, "nginx"),
    ({"_SYSTEMD_UNIT": "postgresql@17-main.service", "SYSLOG_IDENTIFIER": "postgres"}, "postgresql"),
    ({"_SYSTEMD_UNIT": "sshd.service", "SYSLOG_IDENTIFIER": "sshd"}, None),
    ({"_SYSTEMD_UNIT": "inventory-tracker-log-shipper.service"}, None),  # never its own log
])
def test_source_of(entry, source):
    assert log_shipper.source_of(entry, SOURCES) == source


def test_message_text_decodes_byte_arrays():
    assert log_shipper.message_text({"MESSAGE": [104, 105, 255]}) == "hi\ufffd"
    assert log_shipper.message_text({"MESSAGE": "plain"}) == "plain"


class Missing(Exception):
    pass


class Exists(Exception):
    pass


class FakeLogs:
    """Records put_log_events; fails the first ``fail`` calls with ``error``."""

    class exceptions:  # noqa: N801 - boto3's shape
        ResourceNotFoundException = Missing
        ResourceAlreadyExistsException = Exists

    def __init__(self, fail: int = 0, error: type[Exception] = Missing):
        self.fail, self.error = fail, error
        self.created: list[str] = []
        self.put: list[tuple[str, list[dict[str, Any]]]] = []

    def create_log_stream(self, logGroupName: str, logStreamName: str) -> None:  # noqa: N803
        self.created.append(logStreamName)

    def put_log_events(self, logGroupName: str, logStreamName: str, logEvents: list) -> None:  # noqa: N803
        if self.fail:
            self.fail -= 1
            raise self.error()
        self.put.append((logStreamName, list(logEvents)))


def shipper(tmp_path, logs: FakeLogs) -> log_shipper.Shipper:
    s = log_shipper.Shipper.__new__(log_shipper.Shipper)
    s.settings = {"log_group": "/g", "sources": SOURCES}
    s.cursor_path = str(tmp_path / "cursor")
    s.logs, s.instance = logs, "i-1"
    s.entries = log_shipper.queue.Queue()
    s.buffer, s.pending_cursor, s.streams = {}, None, set()
    return s


def feed(s: log_shipper.Shipper, *entries: dict[str, Any]) -> None:
    for n, entry in enumerate(entries):
        s.entries.put({"__CURSOR": f"c{n}", "__REALTIME_TIMESTAMP": str((10 - n) * 1_000_000), **entry})
    s.collect()


def test_events_go_to_their_stream_in_time_order_and_the_cursor_is_saved(tmp_path):
    logs = FakeLogs()
    s = shipper(tmp_path, logs)
    feed(s, {"_SYSTEMD_UNIT": "nginx.service", "MESSAGE": "b"}, {"_SYSTEMD_UNIT": "nginx.service", "MESSAGE": "a"},
         {"_SYSTEMD_UNIT": "sshd.service", "MESSAGE": "not shipped"})
    s.flush()
    assert logs.created == ["i-1/nginx"]
    assert logs.put == [("i-1/nginx", [{"timestamp": 9000, "message": "a"}, {"timestamp": 10000, "message": "b"}])]
    assert (tmp_path / "cursor").read_text() == "c2"


def test_a_deleted_stream_is_created_again_and_nothing_is_lost(tmp_path):
    logs = FakeLogs(fail=1, error=Missing)
    s = shipper(tmp_path, logs)
    feed(s, {"SYSLOG_IDENTIFIER": "inventory-tracker", "MESSAGE": "x"})
    s.flush()
    assert not logs.put and not (tmp_path / "cursor").exists()  # cursor kept back until delivered
    s.flush()
    assert logs.created == ["i-1/app", "i-1/app"]
    assert [m["message"] for _, events in logs.put for m in events] == ["x"]
    assert (tmp_path / "cursor").read_text() == "c0"


def test_settings_carry_no_secret_and_name_the_group():
    spec = load_spec()
    settings = json.loads(shipper_settings(spec, LogTarget("/inventory-tracker/sandbox/r1", "us-east-1",
                                                           "http://10.0.0.1:9000")))
    assert settings["log_group"] == "/inventory-tracker/sandbox/r1"
    assert settings["endpoint_url"] == "http://10.0.0.1:9000" and settings["sources"] == spec["logs"]["sources"]
    assert not any(k.lower().endswith(("key", "secret", "token", "password")) for k in settings)
    assert "LOG_GROUP=/inventory-tracker/sandbox/r1\n" in log_env(LogTarget("/inventory-tracker/sandbox/r1", "eu-west-1"))
