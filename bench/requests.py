"""Latency of the requests installers make most, through the local host against Azurite.

    .venv/bin/python -m bench.requests [--projects 200] [--files-per-project 5] [--rounds 200]

Measures, on one kept-alive HTTP/1.1 connection as pip and uv use one: the project list, a project page
in HTML and in PEP 691 JSON, a revalidation that answers 304, a .metadata file, a whole wheel, and an
upload. Prints median and 95th percentile per request. Numbers depend on the machine; compare runs of the
same machine before and after a change, never against a fixed budget.
"""

from __future__ import annotations

import argparse
import base64
import http.client
import os
import secrets
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _percentile(samples: list[float], fraction: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def _measure(rounds: int, action: Callable[[], None]) -> tuple[float, float]:
    action()  # warm: first-use costs (clients, imports) are not what this measures
    samples = []
    for _ in range(rounds):
        start = time.perf_counter()
        action()
        samples.append((time.perf_counter() - start) * 1000)
    return statistics.median(samples), _percentile(samples, 0.95)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--projects", type=int, default=200)
    parser.add_argument("--files-per-project", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=200)
    args = parser.parse_args()

    from tools.azurite import start_azurite

    token = "fh_bench_" + secrets.token_urlsafe(16)
    with start_azurite() as azurite:
        os.environ["FEEDHOUSE_STORAGE_CONNECTION_STRING"] = azurite.connection_string
        os.environ["FEEDHOUSE_ADMIN_TOKEN"] = token
        from function_app import app
        from shared import feeds
        from shared.storage import get_storage
        from tests.support.dists import make_wheel
        from tests.support.multipart import encode, upload_fields
        from tools.functions_host import serve

        storage = get_storage()
        feeds.create_feed(storage, feeds.parse_new_feed({"name": "bench"}))
        auth = {"Authorization": "Basic " + base64.b64encode(f"__token__:{token}".encode()).decode()}

        with serve(app, root=ROOT) as host, tempfile.TemporaryDirectory():
            connection = http.client.HTTPConnection("127.0.0.1", host.port)

            def request(
                method: str, path: str, body: bytes | None = None, **headers: str
            ) -> tuple[int, bytes, dict]:
                connection.request(method, path, body=body, headers={**auth, **headers})
                response = connection.getresponse()
                return response.status, response.read(), dict(response.getheaders())

            def upload(name: str, version: str) -> None:
                filename, data = make_wheel(name, version)
                body, content_type = encode(upload_fields(name, version, filename, data))
                status, text, _ = request("POST", "/bench/upload/", body, **{"Content-Type": content_type})
                assert status == 200, text

            started = time.perf_counter()
            for p in range(args.projects):
                for v in range(args.files_per_project):
                    upload(f"bench-{p}", f"1.{v}")
            seeded = args.projects * args.files_per_project
            print(f"seeded {seeded} uploads in {time.perf_counter() - started:.1f} s")

            json_accept = {"Accept": "application/vnd.pypi.simple.v1+json"}
            _, _, headers = request("GET", "/bench/simple/bench-1/", **json_accept)
            etag = headers.get("ETag", "")
            counter = iter(range(10**9))
            cases = {
                "project list (HTML)": lambda: request("GET", "/bench/simple/"),
                "project page (HTML)": lambda: request("GET", "/bench/simple/bench-1/"),
                "project page (JSON)": lambda: request("GET", "/bench/simple/bench-1/", **json_accept),
                "project page 304": lambda: request(
                    "GET", "/bench/simple/bench-1/", **json_accept, **{"If-None-Match": etag}
                ),
                ".metadata file": lambda: request(
                    "GET", "/bench/files/bench-1/bench_1-1.0-py3-none-any.whl.metadata"
                ),
                "wheel download": lambda: request("GET", "/bench/files/bench-1/bench_1-1.0-py3-none-any.whl"),
                "upload (new file)": lambda: upload("bench-up", f"2.{next(counter)}"),
            }
            print(f"{'request':<22} {'median ms':>10} {'p95 ms':>10}")
            for label, action in cases.items():
                median, p95 = _measure(args.rounds, action)
                print(f"{label:<22} {median:>10.2f} {p95:>10.2f}")
            connection.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
