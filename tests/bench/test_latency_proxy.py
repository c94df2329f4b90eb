"""The proxy that puts Azure-like latency on storage requests: it must delay without corrupting,
reordering or serializing, and keep HTTP/1.1 connections alive as the storage SDKs use them."""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import socketserver
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

import pytest

ROOT = Path(__file__).resolve().parents[2]
DELAY = 0.05


class _Handler(BaseHTTPRequestHandler):
    """Echoes POST bodies; GET /bytes/<n> answers n bytes. Counts the connections it was given."""

    protocol_version = "HTTP/1.1"
    connections: ClassVar[list[int]] = []

    def setup(self) -> None:
        super().setup()
        self.connections.append(1)

    def do_GET(self) -> None:
        size = int(self.path.rsplit("/", 1)[1])
        body = bytes(i % 251 for i in range(size))
        self.send_response(200)
        self.send_header("Content-Length", str(size))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


class _UntilEof(socketserver.BaseRequestHandler):
    """Reads until the client half-closes, then answers what it read, reversed, and closes."""

    def handle(self) -> None:
        received = b""
        while chunk := self.request.recv(65536):
            received += chunk
        self.request.sendall(received[::-1])


@pytest.fixture
def http_server() -> Iterator[ThreadingHTTPServer]:
    _Handler.connections = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture
def eof_server() -> Iterator[socketserver.ThreadingTCPServer]:
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), _UntilEof)
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture
def proxy(
    http_server: ThreadingHTTPServer, eof_server: socketserver.ThreadingTCPServer
) -> Iterator[list[int]]:
    """``python -m bench.latency_proxy`` in front of both servers: its two ports, in their order."""
    targets = [f"127.0.0.1:{s.server_address[1]}" for s in (http_server, eof_server)]
    process = subprocess.Popen(
        [sys.executable, "-m", "bench.latency_proxy", "--delay-ms", str(DELAY * 1000), *targets],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        start_new_session=True,
    )
    try:
        assert process.stdout is not None
        yield json.loads(process.stdout.readline())["ports"]
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=10)
        process.stdout.close()


def test_requests_on_one_kept_alive_connection_each_pay_the_delay_both_ways(proxy: list[int]) -> None:
    connection = http.client.HTTPConnection("127.0.0.1", proxy[0], timeout=10)
    for size in (0, 10, 100_000):
        started = time.monotonic()
        connection.request("GET", f"/bytes/{size}")
        response = connection.getresponse()
        body = response.read()
        elapsed = time.monotonic() - started
        assert response.status == 200 and body == bytes(i % 251 for i in range(size))
        assert elapsed >= 2 * DELAY  # the request's way and the response's
    connection.close()
    assert len(_Handler.connections) == 1  # one connection carried all three


def test_big_bodies_arrive_whole_and_in_order_both_ways_late_once_not_once_per_chunk(
    proxy: list[int],
) -> None:
    body = os.urandom(4 * 1024 * 1024)  # 64 of the proxy's 64 KiB chunks
    connection = http.client.HTTPConnection("127.0.0.1", proxy[0], timeout=30)
    started = time.monotonic()
    connection.request("POST", "/echo", body=body, headers={"Content-Length": str(len(body))})
    response = connection.getresponse()
    echoed = response.read()
    elapsed = time.monotonic() - started
    connection.close()
    assert echoed == body
    # A delay per chunk would take at least 2 x 64 x 50 ms = 6.4 s.
    assert 2 * DELAY <= elapsed < 3.0


def test_a_half_close_is_passed_on_and_the_answer_still_comes_back(proxy: list[int]) -> None:
    with socket.create_connection(("127.0.0.1", proxy[1]), timeout=10) as client:
        client.sendall(b"storage")
        client.shutdown(socket.SHUT_WR)
        answer = b""
        while chunk := client.recv(65536):
            answer += chunk
    assert answer == b"egarots"
