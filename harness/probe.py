"""TCP reachability probes "from the internet".

In the sandbox the probe connects from the run's separate "internet" network
namespace, so it crosses the host's forwarding path and the security-group
firewall exactly as outside traffic would. Elsewhere it connects from this machine.
"""
from __future__ import annotations

import ctypes
import os
import socket
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

CLONE_NEWNET = 0x40000000


def _setns(fd: int) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.setns(fd, CLONE_NEWNET) != 0:
        error = ctypes.get_errno()
        raise OSError(error, os.strerror(error))


def tcp_open(address: str, port: int, timeout: float = 2.0, netns: str | None = None,
             source: str | None = None) -> bool:
    """True when a TCP connection to ``address:port`` is accepted (optionally from network namespace ``netns``,
    from its address ``source``).

    A namespace change affects only the calling thread, so the connection is made
    from a short-lived thread that enters the namespace and then ends.
    """
    if netns is None:
        return _connect(address, port, timeout, source)
    outcome: list[bool | BaseException] = []

    def worker() -> None:
        try:
            fd = os.open(f"/run/netns/{netns}", os.O_RDONLY)
            try:
                _setns(fd)
            finally:
                os.close(fd)
            outcome.append(_connect(address, port, timeout, source))
        except BaseException as exc:  # noqa: BLE001 - reported to the caller below
            outcome.append(exc)

    thread = threading.Thread(target=worker, name=f"probe-{netns}", daemon=True)
    thread.start()
    thread.join(timeout + 5)
    if not outcome:
        return False
    if isinstance(outcome[0], BaseException):
        raise outcome[0]
    return bool(outcome[0])


def _connect(address: str, port: int, timeout: float, source: str | None = None) -> bool:
    try:
        with socket.create_connection((address, port), timeout=timeout,
                                      source_address=(source, 0) if source else None):
            return True
    except OSError:
        return False


@dataclass(frozen=True)
class InternetProber:
    """Probes the instance's address from "the internet" (a namespace in the sandbox, this machine elsewhere).

    The same class probes from the operators' range (the sandbox cloud's operator address): ``name`` says
    which, for messages.
    """

    address: str  # the instance's public address as seen from the prober
    netns: str | None = None  # the sandbox "internet" namespace; None = this machine's own network
    source: str | None = None  # the prober's own address when known; from a sandbox namespace probes leave from it
    name: str = "the internet"

    def is_open(self, port: int, timeout: float = 2.0) -> bool:
        """True when a TCP connection to ``port`` of the instance is accepted from the prober."""
        return tcp_open(self.address, port, timeout, self.netns, self.source if self.netns else None)

    def open_ports(self, ports: list[int], timeout: float = 2.0) -> list[int]:
        """The subset of ``ports`` that accept a connection, in order (probed in parallel)."""
        unique = sorted(set(ports))
        if not unique:
            return []
        with ThreadPoolExecutor(max_workers=min(16, len(unique))) as pool:
            answers = list(pool.map(lambda port: self.is_open(port, timeout), unique))
        return [port for port, answered in zip(unique, answers) if answered]
