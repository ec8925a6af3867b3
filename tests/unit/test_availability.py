"""The /health poller measures the longest stretch without a 200 (a real HTTP server on loopback)."""
from __future__ import annotations

import http.server
import threading
import time

import requests

from harness.availability import HealthPoller


class _Health(http.server.BaseHTTPRequestHandler):
    down = threading.Event()

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        self.send_response(503 if self.down.is_set() else 200)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


def test_the_longest_outage_is_the_window_without_a_200():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Health)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        with requests.Session() as session, HealthPoller(f"http://127.0.0.1:{server.server_port}/health", session,
                                                         interval=0.05) as poller:
            time.sleep(0.3)
            _Health.down.set()
            time.sleep(0.6)
            _Health.down.clear()
            time.sleep(0.3)
        assert 0.45 <= poller.longest_outage <= 1.2, poller.summary()
        assert poller.failures >= 5 and poller.polls > poller.failures
    finally:
        server.shutdown()


def test_a_service_that_never_answers_is_down_the_whole_time():
    with requests.Session() as session, HealthPoller("http://127.0.0.1:9/health", session, interval=0.05,
                                                     timeout=0.2) as poller:
        time.sleep(0.4)
    assert poller.failures == poller.polls > 0
    assert poller.longest_outage >= 0.3
