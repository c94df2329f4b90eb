"""The servers ``make bench`` compares, and what their access logs say they served.

Each server runs in a session (so a process group) of its own, with its output in a log file, and is
registered on an ``ExitStack`` as soon as it exists, so that leaving the stack — normally, on an
error or on Ctrl-C — stops its whole group (SIGTERM, then SIGKILL). Where util-linux's setpriv is
installed, a server also gets SIGTERM when the bench process dies without a chance to clean up.
"""

from __future__ import annotations

import base64
import contextlib
import http.client
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote

from tools.azurite import Azurite, accepts, free_ports

ROOT = Path(__file__).resolve().parents[1]
HOST = "127.0.0.1"
VENV_BIN = Path(sys.executable).parent
START_TIMEOUT = 60.0
# What a server's log says when another process took the free port first: start it again elsewhere.
PORT_TAKEN = ("in use", "EADDRINUSE")


class BenchError(RuntimeError):
    """The bench cannot go on (a server did not start, a client failed)."""


@dataclass(frozen=True)
class Served:
    """One request a server's access log records."""

    method: str
    path: str
    status: int


# Feedhouse's access line (functions/http.py): "GET /feed/files/p/f.whl 200 1234B 5ms storage=1 user=…".
_FEEDHOUSE_LINE = re.compile(r"(GET|HEAD|POST|PUT|PATCH|DELETE) (/\S*) (\d{3}) ")
# The common log format of gunicorn and nginx: … "GET /simple/p/ HTTP/1.1" 200 …
_COMMON_LINE = re.compile(r'"(GET|HEAD|POST|PUT|PATCH|DELETE) (/\S*) HTTP/[\d.]+" (\d{3}) ')


def parse_log(text: str) -> list[Served]:
    """The requests in an access log of Feedhouse, gunicorn or nginx; other lines are skipped."""
    served = []
    for line in text.splitlines():
        match = _FEEDHOUSE_LINE.match(line) or _COMMON_LINE.search(line)
        if match:
            path = unquote(match[2].partition("?")[0])
            served.append(Served(match[1], path, int(match[3])))
    return served


def missing(served: Iterable[Served], names: Iterable[str], methods: tuple[str, ...] = ("GET",)) -> list[str]:
    """Those of ``names`` (the last segments of paths: file names, ``….metadata``) that no successful
    request with one of ``methods`` in ``served`` fetched."""
    fetched = {s.path.rsplit("/", 1)[-1] for s in served if 200 <= s.status < 300 and s.method in methods}
    return sorted(set(names) - fetched)


class AccessLog:
    """A server's access log, read from an offset: what was served since a moment."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def mark(self) -> int:
        try:
            return self.path.stat().st_size
        except FileNotFoundError:
            return 0

    def since(self, mark: int) -> list[Served]:
        try:
            with self.path.open("rb") as file:
                file.seek(mark)
                return parse_log(file.read().decode("utf-8", "replace"))
        except FileNotFoundError:
            return []

    def missing_since(
        self, mark: int, names: Iterable[str], methods: tuple[str, ...] = ("GET",), wait: float = 5.0
    ) -> list[str]:
        """``missing`` for what was served since ``mark``. A server writes its line after the response,
        so a client can be done before the line is: wait up to ``wait`` seconds for it."""
        names = list(names)
        deadline = time.monotonic() + wait
        while True:
            absent = missing(self.since(mark), names, methods)
            if not absent or time.monotonic() > deadline:
                return absent
            time.sleep(0.05)

    def count_since(
        self, mark: int, path: str, status: int = 200, wait: float = 5.0, expected: int = 0
    ) -> int:
        """How many times ``path`` was answered with ``status`` since ``mark`` (waiting, up to ``wait``
        seconds, for ``expected`` of them)."""
        deadline = time.monotonic() + wait
        while True:
            count = sum(1 for s in self.since(mark) if s.path == path and s.status == status)
            if count >= expected or time.monotonic() > deadline:
                return count
            time.sleep(0.05)


class Process:
    """A server process in a session of its own, its output appended to ``log``."""

    def __init__(
        self,
        name: str,
        args: list[str],
        *,
        log: Path,
        env: dict[str, str] | None = None,
        cwd: Path | None = None,
    ) -> None:
        self.name = name
        self.log = log
        setpriv = shutil.which("setpriv")
        prefix = [setpriv, "--pdeathsig", "TERM"] if setpriv else []
        with log.open("ab") as output:
            self.process = subprocess.Popen(
                [*prefix, *args],
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT,
                env=env,
                cwd=cwd,
                start_new_session=True,
            )

    @property
    def pid(self) -> int:
        return self.process.pid

    def exited(self) -> bool:
        return self.process.poll() is not None

    def output(self, last: int = 4000) -> str:
        try:
            return self.log.read_text(errors="replace")[-last:]
        except FileNotFoundError:
            return ""

    def stop(self, timeout: float = 15.0) -> None:
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        # Workers (gunicorn's, nginx's) are in the group too; end any the leader left behind.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.process.pid, signal.SIGKILL)


def _launch(
    stack: contextlib.ExitStack,
    name: str,
    command: Callable[[int], tuple[list[str], dict[str, str] | None]],
    ready: Callable[[int], bool],
    *,
    log: Path,
    cwd: Path | None = None,
) -> tuple[Process, int]:
    """Start ``command(port)`` on a free port until ``ready(port)``; retried when the port was taken."""
    for attempt in range(3):
        port = free_ports(1)[0]
        args, env = command(port)
        process = Process(name, args, log=log, env=env, cwd=cwd)
        stack.callback(process.stop)
        deadline = time.monotonic() + START_TIMEOUT
        while not process.exited() and time.monotonic() < deadline:
            if ready(port):
                return process, port
            time.sleep(0.1)
        process.stop()
        output = process.output()
        if attempt == 2 or not any(text in output for text in PORT_TAKEN):
            raise BenchError(f"{name} did not start within {START_TIMEOUT:.0f} s. Its output:\n{output}")
    raise AssertionError("unreachable")


def basic(token: str) -> str:
    return "Basic " + base64.b64encode(f"__token__:{token}".encode()).decode()


def _get_status(port: int, path: str) -> int | None:
    connection = http.client.HTTPConnection(HOST, port, timeout=5)
    try:
        connection.request("GET", path)
        return connection.getresponse().status
    except OSError:
        return None
    finally:
        connection.close()


@dataclass(eq=False)
class Server:
    """A running server under test: where it listens and its access log."""

    name: str
    process: Process
    port: int
    access_log: AccessLog

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    @property
    def pid(self) -> int:
        return self.process.pid


@dataclass(eq=False)
class Feedhouse(Server):
    """The app under ``python -m tools.run`` (the local Functions host, as ``make run``)."""

    admin_token: str

    def request(
        self, method: str, path: str, body: bytes | None = None, token: str | None = None, **headers: str
    ) -> tuple[int, bytes]:
        connection = http.client.HTTPConnection(HOST, self.port, timeout=600)
        try:
            auth = {"Authorization": basic(token or self.admin_token)}
            connection.request(method, path, body=body, headers={**auth, **headers})
            response = connection.getresponse()
            return response.status, response.read()
        finally:
            connection.close()

    def json(self, method: str, path: str, body: dict) -> dict:
        status, text = self.request(
            method, path, json.dumps(body).encode(), **{"Content-Type": "application/json"}
        )
        if status not in (200, 201):
            raise BenchError(f"{method} {path} answered {status}: {text[:500]!r}")
        return json.loads(text)


def start_feedhouse(
    stack: contextlib.ExitStack,
    tmp: Path,
    connection_string: str,
    admin_token: str,
    settings: dict[str, str] | None = None,
) -> Feedhouse:
    """The app on a free port, with the storage of ``connection_string``. It runs in a directory of
    its own (``make run`` keeps its data and a lock in ``.feedhouse/`` of where it runs), with none of
    the caller's FEEDHOUSE_ or FUNCTIONS_ settings, only ``settings``."""
    workdir = Path(tempfile.mkdtemp(prefix="feedhouse-", dir=tmp))
    base = {k: v for k, v in os.environ.items() if not k.startswith(("FEEDHOUSE_", "FUNCTIONS_"))}

    def command(port: int) -> tuple[list[str], dict[str, str]]:
        env = {
            **base,
            **(settings or {}),
            "PORT": str(port),
            "PYTHONPATH": str(ROOT),
            "FEEDHOUSE_STORAGE_CONNECTION_STRING": connection_string,
            "FEEDHOUSE_ADMIN_TOKEN": admin_token,
        }
        return [sys.executable, "-m", "tools.run"], env

    log = workdir / "output.log"
    process, port = _launch(
        stack,
        "Feedhouse",
        command,
        lambda port: _get_status(port, "/api/health") == 200,
        log=log,
        cwd=workdir,
    )
    return Feedhouse("Feedhouse", process, port, AccessLog(log), admin_token)


# One worker per core, each with enough threads for the 16 concurrent clients of the page workload;
# gthread workers keep connections alive, as pip and uv use them (the sync worker closes each one).
PYPISERVER_WORKERS = os.cpu_count() or 1
PYPISERVER_THREADS = 8


def start_pypiserver(stack: contextlib.ExitStack, tmp: Path, directory: Path) -> Server:
    """pypiserver serving ``directory`` under gunicorn, as pypiserver's README deploys it, with its
    defaults (backend ``auto``: the plain directory listing unless watchdog is installed) and no
    fallback to pypi.org."""
    workdir = Path(tempfile.mkdtemp(prefix="pypiserver-", dir=tmp))
    access = workdir / "access.log"
    app = f"pypiserver:app(roots=[{str(directory)!r}], disable_fallback=True)"

    def command(port: int) -> tuple[list[str], None]:
        return [
            str(VENV_BIN / "gunicorn"),
            *("--bind", f"{HOST}:{port}"),
            *("--workers", str(PYPISERVER_WORKERS), "--worker-class", "gthread"),
            *("--threads", str(PYPISERVER_THREADS)),
            *("--access-logfile", str(access)),
            # Not a control socket in the home directory, which a second gunicorn would contend for.
            "--no-control-socket",
            app,
        ], None

    process, port = _launch(
        stack,
        "pypiserver",
        command,
        lambda port: _get_status(port, "/health") == 200,
        log=workdir / "output.log",
    )
    return Server("pypiserver", process, port, AccessLog(access))


def nginx_binary() -> str | None:
    return shutil.which("nginx") or shutil.which("nginx", path="/usr/sbin:/usr/local/sbin")


_NGINX_CONF = """\
worker_processes {workers};
daemon off;
pid {dir}/nginx.pid;
error_log {dir}/error.log;
events {{ worker_connections 1024; }}
http {{
    default_type application/octet-stream;
    types {{ text/html html; }}
    access_log {dir}/access.log;
    client_body_temp_path {dir}/body;
    proxy_temp_path {dir}/proxy;
    fastcgi_temp_path {dir}/fastcgi;
    uwsgi_temp_path {dir}/uwsgi;
    scgi_temp_path {dir}/scgi;
    sendfile on;
    tcp_nodelay on;
    keepalive_timeout 65;
    keepalive_requests 100000;
    server {{
        listen {host}:{port};
        root {root};
        index index.html;
    }}
}}
"""


def start_nginx(stack: contextlib.ExitStack, tmp: Path, root: Path) -> Server | None:
    """nginx serving the static tree at ``root``; None where nginx is not installed. Its workers may
    run as another user (nobody, when started as root), so ``root`` must be world-readable."""
    binary = nginx_binary()
    if binary is None:
        return None
    workdir = Path(tempfile.mkdtemp(prefix="nginx-", dir=tmp))
    conf = workdir / "nginx.conf"

    def command(port: int) -> tuple[list[str], None]:
        conf.write_text(
            _NGINX_CONF.format(
                workers=os.cpu_count() or 1, dir=workdir, host=HOST, port=port, root=root.resolve()
            )
        )
        # -e: the error log before the configuration is read (not /var/log/nginx, which may be unwritable).
        return [binary, "-p", str(workdir), "-c", str(conf), "-e", str(workdir / "error.log")], None

    def ready(port: int) -> bool:
        return accepts(port)

    process, port = _launch(stack, "nginx", command, ready, log=workdir / "output.log")
    return Server("nginx", process, port, AccessLog(workdir / "access.log"))


def start_latency_proxy(stack: contextlib.ExitStack, tmp: Path, azurite: Azurite, delay_ms: float) -> str:
    """A connection string to ``azurite`` through ``bench.latency_proxy``, ``delay_ms`` each way."""
    log = Path(tempfile.mkdtemp(prefix="latency-proxy-", dir=tmp)) / "output.log"
    targets = [f"{HOST}:{port}" for port in azurite.ports]
    process = Process(
        "latency proxy",
        [sys.executable, "-m", "bench.latency_proxy", "--delay-ms", str(delay_ms), *targets],
        log=log,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    stack.callback(process.stop)
    deadline = time.monotonic() + START_TIMEOUT
    while not process.exited() and time.monotonic() < deadline:
        for line in process.output().splitlines():
            if line.startswith("{"):
                ports = json.loads(line)["ports"]
                connection_string = azurite.connection_string
                for old, new in zip(azurite.ports, ports, strict=True):
                    connection_string = connection_string.replace(f"{HOST}:{old}/", f"{HOST}:{new}/")
                return connection_string
        time.sleep(0.05)
    raise BenchError(f"the latency proxy did not start. Its output:\n{process.output()}")
