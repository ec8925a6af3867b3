"""The instance link's S3 endpoint forwarder passes bytes both ways, unchanged."""
from __future__ import annotations

import asyncio

from harness.sandbox.tcp_forward import serve_forwarder


def test_forwarder_passes_bytes_both_ways():
    async def scenario() -> bytes:
        async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            data = await reader.read(65536)
            writer.write(b"echo:" + data)
            await writer.drain()
            writer.close()

        upstream = await asyncio.start_server(echo, "127.0.0.1", 0)
        port = upstream.sockets[0].getsockname()[1]
        forwarder = await serve_forwarder(("127.0.0.1", 0), ("127.0.0.1", port))
        forward_port = forwarder.sockets[0].getsockname()[1]
        reader, writer = await asyncio.open_connection("127.0.0.1", forward_port)
        writer.write(b"PUT /bucket/key HTTP/1.1\r\nHost: 10.213.0.9:9000\r\n\r\n")
        await writer.drain()
        answer = await asyncio.wait_for(reader.read(65536), timeout=5)
        writer.close()
        forwarder.close()
        upstream.close()
        return answer

    assert asyncio.run(scenario()) == b"echo:PUT /bucket/key HTTP/1.1\r\nHost: 10.213.0.9:9000\r\n\r\n"


def test_unreachable_upstream_closes_the_client():
    async def scenario() -> bytes:
        forwarder = await serve_forwarder(("127.0.0.1", 0), ("127.0.0.1", 1))
        port = forwarder.sockets[0].getsockname()[1]
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        answer = await asyncio.wait_for(reader.read(100), timeout=5)
        writer.close()
        forwarder.close()
        return answer

    assert asyncio.run(scenario()) == b""
