"""The clients ``make bench`` drives: pip and uv as subprocesses, isolated from the user's settings,
and small HTTP clients of its own (a load generator, a downloader) on kept-alive connections."""

from __future__ import annotations

import http.client
import os
import resource
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Mapping
from pathlib import Path

from bench.closure import REQUIREMENTS
from bench.servers import HOST, VENV_BIN, BenchError
from bench.stats import percentile

# What pip sends for a project page (pip/_internal/index/collector.py): PEP 691 JSON first.
PIP_ACCEPT = (
    "application/vnd.pypi.simple.v1+json, application/vnd.pypi.simple.v1+html; q=0.1, text/html; q=0.01"
)
_PROXY_VARIABLES = {"http_proxy", "https_proxy", "all_proxy", "no_proxy"}


def isolated_env(environ: Mapping[str, str] = os.environ) -> dict[str, str]:
    """``environ`` without what would point pip or uv anywhere else: no PIP_* or UV_* setting (such as
    PIP_FIND_LINKS, which would let pip take files from a directory instead of the server under test),
    no proxy (every server is on loopback); and PIP_CONFIG_FILE=os.devnull, which makes pip read no
    configuration file at all (pip's documented switch). uv is given --no-config for its files."""
    env = {
        name: value
        for name, value in environ.items()
        if not name.startswith(("PIP_", "UV_")) and name.lower() not in _PROXY_VARIABLES
    }
    env["PIP_CONFIG_FILE"] = os.devnull
    return env


def pip_install(target: Path, *, index_url: str | None = None, find_links: Path | None = None) -> list[str]:
    """A cold ``pip install --target`` of the requirements: no cache, and either an index or, for the
    floor, only a directory (``--no-index --find-links``)."""
    source = ["--index-url", index_url] if index_url else ["--no-index", "--find-links", str(find_links)]
    return [
        sys.executable,
        *("-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--no-input"),
        *("--no-cache-dir", "--target", str(target), *source, *REQUIREMENTS),
    ]


def uv_compile(requirements: Path, index_url: str) -> list[str]:
    """A cold ``uv pip compile`` (no cache, no configuration file) for this interpreter."""
    return [
        str(VENV_BIN / "uv"),
        *("pip", "compile", "--quiet", "--no-cache", "--no-config", "--no-header"),
        *("--python", sys.executable, "--index-url", index_url, str(requirements)),
    ]


def timed_run(args: list[str], env: dict[str, str], cwd: Path) -> tuple[float, str]:
    """Seconds ``args`` took, and its output; a failure stops the bench with the client's output."""
    started = time.perf_counter()
    result = subprocess.run(args, env=env, cwd=cwd, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if result.returncode != 0:
        output = result.stdout[-2000:] + result.stderr[-4000:]
        raise BenchError(f"{' '.join(args[:4])} … failed ({result.returncode}):\n{output}")
    return seconds, result.stdout


def load(port: int, path: str, headers: dict[str, str], clients: int, seconds: float, at_least: int) -> dict:
    """``clients`` threads, each on one kept-alive connection, GET ``path`` back to back for
    ``seconds`` and at least ``at_least`` times each (a slow server would otherwise be measured on
    one request per client): throughput, latency percentiles, statuses, and how busy this client
    process was (it shares the machine's cores with the server, so a busy client holds it back)."""
    latencies: list[list[float]] = [[] for _ in range(clients)]
    statuses: list[Counter[int]] = [Counter() for _ in range(clients)]
    sizes: list[int] = [0] * clients
    start = threading.Barrier(clients + 1)
    errors: list[BaseException] = []
    deadline = 0.0

    def client(i: int) -> None:
        connection = http.client.HTTPConnection(HOST, port, timeout=120)
        try:
            start.wait()
            while time.perf_counter() < deadline or len(latencies[i]) < at_least:
                sent = time.perf_counter()
                connection.request("GET", path, headers=headers)
                response = connection.getresponse()
                body = response.read()
                latencies[i].append(time.perf_counter() - sent)
                statuses[i][response.status] += 1
                sizes[i] = len(body)
        except BaseException as error:  # reported below: a failed client must not look like a slow one
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=client, args=(i,), daemon=True) for i in range(clients)]
    for thread in threads:
        thread.start()
    cpu = resource.getrusage(resource.RUSAGE_SELF)
    began = time.perf_counter()
    deadline = began + seconds
    start.wait()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - began
    used = resource.getrusage(resource.RUSAGE_SELF)
    if errors:
        raise BenchError(f"a load client failed: {errors[0]!r}")
    every = [latency for samples in latencies for latency in samples]
    total: Counter[int] = sum(statuses, Counter())
    return {
        "requests": len(every),
        "seconds": elapsed,
        "per_second": len(every) / elapsed,
        "p50_ms": percentile(every, 0.50) * 1000,
        "p99_ms": percentile(every, 0.99) * 1000,
        "statuses": {str(status): count for status, count in sorted(total.items())},
        "response_bytes": max(sizes),
        "client_cpu_percent": 100 * (used.ru_utime + used.ru_stime - cpu.ru_utime - cpu.ru_stime) / elapsed,
    }


def download(port: int, path: str, headers: dict[str, str]) -> tuple[int, int, float]:
    """GET ``path`` on a new connection, reading the body in 1 MiB pieces and keeping none of it:
    (status, bytes, seconds)."""
    connection = http.client.HTTPConnection(HOST, port, timeout=600)
    try:
        started = time.perf_counter()
        connection.request("GET", path, headers=headers)
        response = connection.getresponse()
        received = 0
        while chunk := response.read(1024 * 1024):
            received += len(chunk)
        return response.status, received, time.perf_counter() - started
    finally:
        connection.close()
