"""A TCP proxy that delays every chunk it forwards by a fixed time, in each direction.

    .venv/bin/python -m bench.latency_proxy --delay-ms 5 127.0.0.1:10000 127.0.0.1:10002

Put between the app and Azurite, it gives every storage request the round trip of a storage account
in Azure (several milliseconds) instead of loopback's tens of microseconds. It listens on one free
127.0.0.1 port for each target and prints them as one JSON line, ``{"ports": [...]}``, in the order
of the targets. Each chunk is sent on ``delay`` after it was read, whatever came before it, so the
delay is added once per direction and not once per chunk (a long body is late by ``delay``, not by
``delay`` times its chunks), bytes keep their order, and kept-alive HTTP/1.1 connections carry any
number of requests. Opening a connection is not delayed (in Azure its TCP and TLS handshakes cost one
to three more round trips), so a client that opens many connections looks better here than there.
Hand-written because no maintained library adds latency to a TCP stream without
root (tc netem needs CAP_NET_ADMIN and touches the whole interface).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import sys

CHUNK = 64 * 1024
# Chunks read but not yet sent, per direction: bounds the proxy's memory when a side reads slowly.
QUEUED_CHUNKS = 256


async def _forward(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, delay: float) -> None:
    """Copy ``reader`` to ``writer``, each chunk ``delay`` seconds after it arrived; pass EOF on."""
    loop = asyncio.get_running_loop()
    # None after the chunks: the connection was reset, so the other side must not see a clean end.
    queue: asyncio.Queue[tuple[float, bytes | None]] = asyncio.Queue(QUEUED_CHUNKS)

    async def receive() -> None:
        try:
            while True:
                chunk = await reader.read(CHUNK)
                await queue.put((loop.time() + delay, chunk))
                if not chunk:
                    return
        except OSError:  # ConnectionResetError among them
            await queue.put((loop.time(), None))

    async def send() -> None:
        while True:
            due, chunk = await queue.get()
            wait = due - loop.time()
            if wait > 0:
                await asyncio.sleep(wait)
            if chunk is None:
                raise ConnectionResetError("the other side reset the connection")
            if not chunk:
                # Half-close: the other side may still answer what it was sent.
                if writer.can_write_eof():
                    writer.write_eof()
                return
            writer.write(chunk)
            await writer.drain()

    receiving = asyncio.ensure_future(receive())
    try:
        await send()
    finally:
        receiving.cancel()


async def _connect(
    client_reader: asyncio.StreamReader,
    client_writer: asyncio.StreamWriter,
    host: str,
    port: int,
    delay: float,
) -> None:
    try:
        server_reader, server_writer = await asyncio.open_connection(host, port)
    except OSError:
        client_writer.close()
        return
    directions = [
        asyncio.ensure_future(_forward(client_reader, server_writer, delay)),
        asyncio.ensure_future(_forward(server_reader, client_writer, delay)),
    ]
    try:
        # A reset or a failed write in either direction ends both; a clean EOF ends only its own.
        for finished in asyncio.as_completed(directions):
            try:
                await finished
            except OSError:
                break
    finally:
        for direction in directions:
            direction.cancel()
        for writer in (client_writer, server_writer):
            writer.close()


async def start(targets: list[tuple[str, int]], delay: float) -> list[asyncio.Server]:
    """Listen on a free 127.0.0.1 port for each target; the servers are returned in their order."""
    servers = []
    for host, port in targets:

        async def handle(
            reader: asyncio.StreamReader, writer: asyncio.StreamWriter, host: str = host, port: int = port
        ) -> None:
            await _connect(reader, writer, host, port, delay)

        servers.append(await asyncio.start_server(handle, "127.0.0.1", 0))
    return servers


def _target(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    return host, int(port)


async def _main(targets: list[tuple[str, int]], delay: float) -> None:
    servers = await start(targets, delay)
    ports = [server.sockets[0].getsockname()[1] for server in servers]
    print(json.dumps({"ports": ports}), flush=True)
    await asyncio.gather(*(server.serve_forever() for server in servers))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.latency_proxy", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--delay-ms", type=float, required=True, help="added to each direction")
    parser.add_argument("targets", nargs="+", type=_target, metavar="HOST:PORT")
    args = parser.parse_args(argv)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_main(args.targets, args.delay_ms / 1000))
    return 0


if __name__ == "__main__":
    sys.exit(main())
