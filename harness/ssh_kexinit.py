"""What an SSH server offers on the wire: its SSH_MSG_KEXINIT name-lists, read from a raw socket.

The server sends its version line and then, unencrypted, its first binary packet:
the KEXINIT (RFC 4253 sections 4.2, 6 and 7.1), listing the key exchange, host key,
cipher, MAC and compression algorithms it accepts. :func:`read_server_kexinit`
sends a version line of its own, reads that packet and disconnects before any key
exchange (the server logs a connection closed before authentication).
"""
from __future__ import annotations

import socket
import struct
from dataclasses import dataclass

from harness.errors import HarnessError

CLIENT_VERSION = b"SSH-2.0-inventory-tracker-certification\r\n"
MSG_KEXINIT = 20
MAX_PACKET = 35000  # RFC 4253 6.1: implementations must accept packets of 35000 bytes
TIMEOUT = 10.0  # seconds to connect and to read the version line and the KEXINIT


@dataclass(frozen=True)
class ServerKexInit:
    """The server's version line and the name-lists of its KEXINIT (server-to-client where there are two)."""

    version: str
    kex_algorithms: tuple[str, ...]
    host_key_algorithms: tuple[str, ...]
    ciphers: tuple[str, ...]  # encryption_algorithms_server_to_client
    macs: tuple[str, ...]  # mac_algorithms_server_to_client
    compression: tuple[str, ...]
    ciphers_client_to_server: tuple[str, ...]
    macs_client_to_server: tuple[str, ...]


def parse_kexinit(payload: bytes, version: str = "") -> ServerKexInit:
    """Parse a KEXINIT payload (message number, 16-byte cookie, ten name-lists, ...); HarnessError if malformed."""
    if not payload or payload[0] != MSG_KEXINIT:
        raise HarnessError(f"the SSH server's first packet is message {payload[:1].hex() or 'none'}, not KEXINIT (20)")
    offset = 1 + 16
    lists: list[tuple[str, ...]] = []
    for _ in range(10):
        if offset + 4 > len(payload):
            raise HarnessError("the SSH server's KEXINIT ends before its ten name-lists")
        (length,) = struct.unpack_from(">I", payload, offset)
        offset += 4
        raw = payload[offset:offset + length]
        if len(raw) != length:
            raise HarnessError("a name-list of the SSH server's KEXINIT is cut short")
        offset += length
        lists.append(tuple(name for name in raw.decode("ascii").split(",") if name))
    kex, host_key, enc_cs, enc_sc, mac_cs, mac_sc, comp_cs, comp_sc = lists[:8]
    return ServerKexInit(version, kex, host_key, enc_sc, mac_sc, comp_sc, enc_cs, mac_cs)


def _read_exact(sock: socket.socket, count: int) -> bytes:
    data = b""
    while len(data) < count:
        chunk = sock.recv(count - len(data))
        if not chunk:
            raise HarnessError(f"the SSH server closed the connection after {len(data)} of {count} bytes")
        data += chunk
    return data


def _read_version(sock: socket.socket) -> str:
    """The server's version line (RFC 4253 4.2: other lines may come first)."""
    line = b""
    for _ in range(MAX_PACKET):
        line += _read_exact(sock, 1)
        if line.endswith(b"\n"):
            if line.startswith(b"SSH-"):
                return line.decode("ascii", "replace").strip()
            line = b""
    raise HarnessError("the SSH server sent no version line")


def read_server_kexinit(address: str, port: int, *, timeout: float = TIMEOUT) -> ServerKexInit:
    """Connect to ``address:port``, exchange version lines and return the server's KEXINIT."""
    try:
        with socket.create_connection((address, port), timeout=timeout) as sock:
            version = _read_version(sock)
            sock.sendall(CLIENT_VERSION)
            packet_length, padding = struct.unpack(">IB", _read_exact(sock, 5))
            if not padding < packet_length <= MAX_PACKET:
                raise HarnessError(f"the SSH server's first packet has an impossible length {packet_length}")
            payload = _read_exact(sock, packet_length - 1)[:packet_length - 1 - padding]
    except OSError as error:
        raise HarnessError(f"could not read what the SSH server on {address}:{port} offers: {error}") from None
    return parse_kexinit(payload, version)
