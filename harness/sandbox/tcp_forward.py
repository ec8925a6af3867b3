"""A TCP forwarder: the sandbox instance's S3 endpoint on its own link, like a VPC endpoint.

The instance has no route beyond its link, and the run's AWS API (moto) listens
on loopback only. The forwarder listens on the host's end of the instance link
and passes every connection, byte for byte, to the API; request signing and the
Host header are untouched.
"""
from __future__ import annotations

import asyncio
import contextlib
import logging

log = logging.getLogger("harness.sandbox.tcp_forward")


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except (ConnectionError, asyncio.CancelledError):
        pass
    finally:
        with contextlib.suppress(Exception):
            writer.close()


async def serve_forwarder(listen: tuple[str, int], upstream: tuple[str, int]) -> asyncio.AbstractServer:
    """Listen on ``listen`` and forward each connection to ``upstream``; returns the started server."""

    async def handle(client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection(*upstream)
        except OSError as exc:
            log.error("forwarder: upstream %s:%s unreachable: %s", *upstream, exc)
            client_writer.close()
            return
        await asyncio.gather(_pipe(client_reader, up_writer), _pipe(up_reader, client_writer))

    return await asyncio.start_server(handle, *listen)
