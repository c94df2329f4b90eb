"""Local stand-ins for upstream indexes, bound to 127.0.0.1 on free ports.

``FakeIndex`` answers each path with what the test put there (a page, a file, a redirect, an error,
a slow or endless body) and records every request. ``SilentServer`` accepts connections and never
answers. Both stop when their ``with`` block ends.
"""

from __future__ import annotations

import gzip
import json
import socket
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType

from shared.upstream.client import ClientConfig

HOST = "127.0.0.1"
# Names under the reserved .test domain, resolved by the tests' own resolver: never real DNS.
TEST_HOSTS = {"mirror.test": [HOST], "cdn.test": [HOST]}
# Short limits so that failures show quickly; loopback allowed, as every test server is there.
FAST_CLIENT = ClientConfig(
    connect_timeout=2,
    read_timeout=1,
    page_timeout=5,
    max_page_bytes=1024 * 1024,
    max_file_bytes=4 * 1024 * 1024,
    max_redirects=3,
    allow_private=True,
)
JSON = "application/vnd.pypi.simple.v1+json"
HTML = "text/html; charset=utf-8"


@dataclass
class Reply:
    status: int = 200
    body: bytes | Iterable[bytes] = b""
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0  # seconds before the status line
    chunk_delay: float = 0.0  # seconds between body chunks (a body given as an iterable)
    gzip: bool = False


@dataclass(frozen=True)
class Request:
    path: str
    headers: dict[str, str]


def resolve_test_hosts(host: str, port: int) -> list[str]:
    if host in TEST_HOSTS:
        return TEST_HOSTS[host]
    raise OSError(f"tests resolve only {sorted(TEST_HOSTS)}, not {host}")


def json_reply(data: object, **kwargs) -> Reply:
    return Reply(body=json.dumps(data).encode(), headers={"Content-Type": JSON}, **kwargs)


def html_reply(text: str, **kwargs) -> Reply:
    return Reply(body=text.encode(), headers={"Content-Type": HTML}, **kwargs)


def ranged(data: bytes, *, chunk: int = 1024 * 1024, chunk_delay: float = 0.0) -> Callable[[Request], Reply]:
    """A route serving ``data`` as a web server does: a single ``Range`` gets a 206 with its
    Content-Range, anything else the whole file. ``chunk_delay`` spreads the body over time."""

    def reply(request: Request) -> Reply:
        start, end = 0, len(data) - 1
        wanted = request.headers.get("range")
        if wanted:
            first, _, last = wanted.removeprefix("bytes=").partition("-")
            if first:
                start, end = int(first), min(int(last), end) if last else end
            else:
                start = len(data) - int(last)
        body = data[start : end + 1]
        return Reply(
            status=206 if wanted else 200,
            body=[body[i : i + chunk] for i in range(0, len(body), chunk)],
            headers={"Content-Length": str(len(body))}
            | ({"Content-Range": f"bytes {start}-{end}/{len(data)}"} if wanted else {}),
            chunk_delay=chunk_delay,
        )

    return reply


def redirect(location: str, status: int = 302) -> Reply:
    return Reply(status=status, headers={"Location": location})


class FakeIndex:
    def __init__(self) -> None:
        self.routes: dict[str, Reply | Callable[[Request], Reply]] = {}
        self.requests: list[Request] = []
        self._lock = threading.Lock()
        index = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                request = Request(self.path, {k.lower(): v for k, v in self.headers.items()})
                with index._lock:
                    index.requests.append(request)
                    route = index.routes.get(self.path.split("?", 1)[0])
                reply = route(request) if callable(route) else route
                if reply is None:
                    reply = Reply(404, b"not found", {"Content-Type": "text/plain"})
                self._send(reply)

            def _send(self, reply: Reply) -> None:
                if reply.delay:
                    time.sleep(reply.delay)
                body = reply.body
                headers = dict(reply.headers)
                if isinstance(body, bytes):
                    if reply.gzip:
                        body = gzip.compress(body)
                        headers["Content-Encoding"] = "gzip"
                    headers.setdefault("Content-Length", str(len(body)))
                    chunks: Iterable[bytes] = [body]
                else:
                    chunks = body
                    headers["Connection"] = "close"
                self.send_response(reply.status)
                for key, value in headers.items():
                    self.send_header(key, value)
                self.end_headers()
                try:
                    for chunk in chunks:
                        self.wfile.write(chunk)
                        self.wfile.flush()
                        if reply.chunk_delay:
                            time.sleep(reply.chunk_delay)
                except (BrokenPipeError, ConnectionResetError):
                    pass
                if not isinstance(reply.body, bytes):
                    self.close_connection = True

            def log_message(self, format: str, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer((HOST, 0), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self.url = f"http://{HOST}:{self.port}"
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True)

    def requests_to(self, path: str) -> list[Request]:
        with self._lock:
            return [r for r in self.requests if r.path.split("?", 1)[0] == path]

    def __enter__(self) -> FakeIndex:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)


class SilentServer:
    """Accepts TCP connections and never sends a byte (a hung upstream)."""

    def __init__(self) -> None:
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._socket.bind((HOST, 0))
        self._socket.listen(16)
        self.port = self._socket.getsockname()[1]
        self.url = f"http://{HOST}:{self.port}"
        self._accepted: list[socket.socket] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._accept, daemon=True)

    def _accept(self) -> None:
        self._socket.settimeout(0.1)
        while not self._stop.is_set():
            try:
                connection, _ = self._socket.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self._accepted.append(connection)

    def __enter__(self) -> SilentServer:
        self._thread.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._stop.set()
        self._thread.join(timeout=10)
        for connection in self._accepted:
            connection.close()
        self._socket.close()
