"""The workloads of ``make bench``, each run against every server interleaved (A B C A B C …), after
one untimed run each, and each checked against the servers' access logs: a figure counts only if the
files really came from the server under test."""

from __future__ import annotations

import http.client
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from bench.clients import PIP_ACCEPT, isolated_env, load, pip_install, timed_run, uv_compile
from bench.closure import REQUIREMENTS
from bench.servers import HOST, BenchError, Feedhouse, Server, basic
from bench.stats import percentile, summary
from tests.support.dists import make_wheel
from tests.support.multipart import encode, upload_fields

# The feed the installer workloads read: private, read by a user with the reader role through a
# read-scoped token, as a CI job reads a company feed (the token, then the grant, are checked).
FEED = "bench"
READER = "ci"
BIG_PROJECT = "bigproject"


@dataclass
class Target:
    """One side of a comparison: a server (None for pip's --find-links floor) and its index URL."""

    name: str
    server: Server | None
    index_url: str | None


@dataclass
class Files:
    """What the servers hold: the closure's wheels (file names, and a directory of just them)."""

    wheels: list[str]
    directory: Path
    pins: dict[str, str]


def pip_phase(targets: list[Target], files: Files, rounds: int, tmp: Path) -> dict:
    """Cold ``pip install --target`` of the closure, ``rounds`` times per target."""
    env = isolated_env()
    samples: dict[str, list[float]] = {target.name: [] for target in targets}
    for round_ in range(rounds + 1):  # round 0 is the untimed warm-up
        for target in targets:
            into = Path(tempfile.mkdtemp(prefix="pip-target-", dir=tmp))
            args = pip_install(into, index_url=target.index_url, find_links=files.directory)
            mark = target.server.access_log.mark() if target.server else 0
            seconds, _ = timed_run(args, env, tmp)
            installed = len(list(into.glob("*.dist-info")))
            shutil.rmtree(into)
            if installed != len(files.wheels):
                raise BenchError(
                    f"pip installed {installed} of {len(files.wheels)} distributions from {target.name}"
                )
            if target.server:
                absent = target.server.access_log.missing_since(mark, files.wheels)
                if absent:
                    raise BenchError(f"{target.name}'s log shows no download of {absent} by pip")
            if round_:
                samples[target.name].append(seconds)
    return {name: summary(values) for name, values in samples.items()}


def uv_phase(targets: list[Target], files: Files, rounds: int, tmp: Path) -> dict:
    """Cold ``uv pip compile`` of the requirements, ``rounds`` times per target. A server that
    advertises PEP 658 metadata must have served each ``.metadata``; one that does not (pypiserver),
    a request for each wheel (uv reads the metadata with range requests then)."""
    env = isolated_env()
    requirements = tmp / "requirements.in"
    requirements.write_text("\n".join(REQUIREMENTS) + "\n")
    samples: dict[str, list[float]] = {target.name: [] for target in targets}
    for round_ in range(rounds + 1):
        for target in targets:
            assert target.server is not None and target.index_url is not None
            mark = target.server.access_log.mark()
            seconds, output = timed_run(uv_compile(requirements, target.index_url), env, tmp)
            resolved = _pins(output)
            if resolved != files.pins:
                raise BenchError(f"uv resolved {resolved} from {target.name}, not the closure {files.pins}")
            if target.server.name == "pypiserver":
                absent = target.server.access_log.missing_since(mark, files.wheels, methods=("GET", "HEAD"))
            else:
                absent = target.server.access_log.missing_since(mark, [f"{w}.metadata" for w in files.wheels])
            if absent:
                raise BenchError(f"{target.name}'s log shows no request for {absent} by uv")
            if round_:
                samples[target.name].append(seconds)
    return {name: summary(values) for name, values in samples.items()}


def _pins(compiled: str) -> dict[str, str]:
    pins = {}
    for line in compiled.splitlines():
        name, separator, version = line.strip().partition("==")
        if separator and not line.startswith(("#", " ")):
            pins[name] = version
    return pins


@dataclass
class PageTarget:
    name: str
    server: Server
    path: str
    headers: dict[str, str]


def page_phase(
    targets: list[PageTarget], files: int, clients: int, seconds: float, at_least: int, rounds: int
) -> dict:
    """``clients`` concurrent clients on one project page of ``files`` files, ``rounds`` periods of
    ``seconds`` (and ``at_least`` requests a client) per server, with pip's Accept header (so PEP 691
    JSON where a server has it). One request to each first checks the page and warms the server."""
    listed_files = {}
    for target in targets:
        connection = http.client.HTTPConnection(HOST, target.server.port, timeout=120)
        connection.request("GET", target.path, headers=target.headers)
        response = connection.getresponse()
        body = response.read()
        connection.close()
        listed = body.count(b"-py3-none-any.whl") // 2  # each file's name is in its URL and its text
        if response.status != 200 or listed < files:
            raise BenchError(
                f"{target.name}'s page {target.path} answered {response.status} with {listed} files"
            )
        listed_files[target.name] = listed
    periods: dict[str, list[dict]] = {target.name: [] for target in targets}
    for _ in range(rounds):
        for target in targets:
            mark = target.server.access_log.mark()
            result = load(target.server.port, target.path, target.headers, clients, seconds, at_least)
            if set(result["statuses"]) != {"200"}:
                raise BenchError(f"{target.name} answered {result['statuses']} under load")
            served = target.server.access_log.count_since(mark, target.path, expected=result["requests"])
            if served != result["requests"]:
                raise BenchError(
                    f"{target.name}'s log shows {served} of the {result['requests']} page requests"
                )
            periods[target.name].append(result)
    return {
        name: {
            "per_second": summary([r["per_second"] for r in results]),
            "p50_ms": summary([r["p50_ms"] for r in results]),
            "p99_ms": summary([r["p99_ms"] for r in results]),
            "client_cpu_percent": statistics.median(r["client_cpu_percent"] for r in results),
            "files_listed": listed_files[name],
            "response_bytes": results[0]["response_bytes"],
            "periods": results,
        }
        for name, results in periods.items()
    }


def page_targets(feedhouse: Feedhouse, reader_token: str, pypiserver: Server) -> list[PageTarget]:
    accept = {"Accept": PIP_ACCEPT}
    return [
        PageTarget(
            "feedhouse",
            feedhouse,
            f"/{FEED}/simple/{BIG_PROJECT}/",
            {**accept, "Authorization": basic(reader_token)},
        ),
        PageTarget("pypiserver", pypiserver, f"/simple/{BIG_PROJECT}/", accept),
    ]


def requests_phase(
    feedhouse: Feedhouse, reader_token: str, wheel: str, big_files: int, rounds: int, tag: str
) -> dict:
    """The latency of each kind of request installers make, one after another on one kept-alive
    connection, as pip and uv make them, and of uploads (into a small project, and a few into the
    ``big_files``-file one, whose page they lengthen): median and 95th percentile in milliseconds.
    At an injected storage latency, (median - loopback median) / (2 x latency) estimates the storage
    round trips of a request; a path no route takes shows what the local host costs by itself."""
    connection = http.client.HTTPConnection(HOST, feedhouse.port, timeout=120)
    reader = {"Authorization": basic(reader_token)}
    json_accept = {**reader, "Accept": "application/vnd.pypi.simple.v1+json"}
    project = wheel.split("-", 1)[0].lower()

    def request(method: str, path: str, headers: dict[str, str], body: bytes | None = None) -> int:
        connection.request(method, path, body=body, headers=headers)
        response = connection.getresponse()
        response.read()
        return response.status

    etag_connection = http.client.HTTPConnection(HOST, feedhouse.port, timeout=120)
    etag_connection.request("GET", f"/{FEED}/simple/{project}/", headers=json_accept)
    etag = etag_connection.getresponse().getheader("ETag") or ""
    etag_connection.close()
    uploads = iter(range(10**9))

    def upload(project: str) -> int:
        version = f"9.{tag}.{next(uploads)}"
        filename, data = make_wheel(project, version)
        body, content_type = encode(upload_fields(project, version, filename, data))
        headers = {"Authorization": basic(feedhouse.admin_token), "Content-Type": content_type}
        return request("POST", f"/{FEED}/upload/", headers, body)

    page = f"/{FEED}/simple/{project}/"
    few = max(2, rounds // 5)
    cases: dict[str, tuple[int, int, Callable[[], int]]] = {
        # What the local Functions host stand-in costs by itself (it tries every route, then answers):
        # the part of each figure below that Azure's own host replaces.
        "a path no route takes (the local host alone, 404)": (
            404,
            rounds,
            lambda: request("GET", "/bench-no-such/route/at/all", reader),
        ),
        "project list (HTML)": (200, rounds, lambda: request("GET", f"/{FEED}/simple/", reader)),
        f"page of {project}, 1 file (HTML)": (200, rounds, lambda: request("GET", page, reader)),
        f"page of {project}, 1 file (JSON)": (200, rounds, lambda: request("GET", page, json_accept)),
        f"page of {project}, 304": (
            304,
            rounds,
            lambda: request("GET", page, {**json_accept, "If-None-Match": etag}),
        ),
        ".metadata file": (
            200,
            rounds,
            lambda: request("GET", f"/{FEED}/files/{project}/{wheel}.metadata", reader),
        ),
        "wheel download": (200, rounds, lambda: request("GET", f"/{FEED}/files/{project}/{wheel}", reader)),
        "upload, new file, small project": (200, rounds, lambda: upload("bench-up")),
        f"upload, new file, {big_files}-file project": (200, few, lambda: upload(BIG_PROJECT)),
    }
    figures = {}
    try:
        for label, (expected, count, action) in cases.items():
            samples = []
            for i in range(count + 1):  # the first is a warm-up
                started = time.perf_counter()
                status = action()
                elapsed = (time.perf_counter() - started) * 1000
                if status != expected:
                    raise BenchError(f"{label} answered {status}, not {expected}")
                if i:
                    samples.append(elapsed)
            figures[label] = {"median_ms": statistics.median(samples), "p95_ms": percentile(samples, 0.95)}
    finally:
        connection.close()
    return figures
