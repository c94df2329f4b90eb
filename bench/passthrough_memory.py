"""What anonymous pass-through downloads cost the server in memory: the app under ``make run`` (the
local host) against Azurite, with an upstream index on loopback serving one large wheel.

    .venv/bin/python -m bench.passthrough_memory [--size-mb 60] [--concurrent 3] [--upstream-seconds 3]
        [--json figures.json]

A public feed has the index as its upstream, so anonymous callers get the wheel passed through (held
in memory, up to FEEDHOUSE_STREAM_MAX_BYTES, 64 MiB by default), never saved. The script sends
``--concurrent`` anonymous downloads of a wheel of ``--size-mb`` at once (the upstream sends each over
``--upstream-seconds``, so that they overlap as slow upstreams make them) and prints the server's
peak resident memory over its baseline (VmHWM, reset first) and its resident memory afterwards; then
a 1-byte ``Range`` request, with the ranges the upstream was asked for. The upstream honours ranges,
as PyPI's file host does. Linux only; figures depend on the machine and allocator, and tests never
assert them.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import secrets
import sys
import tempfile
import threading
import time
from pathlib import Path

from bench.upload_memory import MIB, SETTLE_SECONDS, Server, big_wheel, peak_mib, reset_peak, rss_mib

ROOT = Path(__file__).resolve().parents[1]


def anonymous_get(server: Server, path: str, **headers: str) -> tuple[int, int]:
    """(status, body length) of a GET without credentials."""
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=600)
    try:
        connection.request("GET", path, headers=headers)
        response = connection.getresponse()
        return response.status, len(response.read())
    finally:
        connection.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mb", type=float, default=60)
    parser.add_argument("--concurrent", type=int, default=3)
    parser.add_argument("--upstream-seconds", type=float, default=3)
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    from tests.support.dists import make_wheel
    from tests.support.upstream_server import FakeIndex, ranged
    from tests.support.upstreams import ScriptedIndex
    from tools.azurite import start_azurite

    os.environ["FEEDHOUSE_UPSTREAM_ALLOW_PRIVATE"] = "true"  # the upstream is on loopback
    figures: dict = {}
    with tempfile.TemporaryDirectory() as tmp, FakeIndex() as fake:
        upstream = ScriptedIndex(fake)
        small, small_data = make_wheel("warm-up", "1.0")
        upstream.project("warm-up", [upstream.entry(small, small_data, size=len(small_data))])
        big, big_data = big_wheel("big-one", "1.0", int(args.size_mb * MIB))
        upstream.project("big-one", [upstream.entry(big, big_data, size=len(big_data))])
        chunks = max(1, len(big_data) // MIB)
        fake.routes[upstream.file_path(big)] = ranged(big_data, chunk_delay=args.upstream_seconds / chunks)
        azurite = start_azurite(location=Path(tmp) / "azurite")
        server = None
        try:
            token = "fh_bench_" + secrets.token_urlsafe(16)
            server = Server(azurite.connection_string, token, Path(tmp) / "log")
            upstreams = [{"type": "index", "url": upstream.url}]
            feed = json.dumps({"name": "bench", "visibility": "public", "upstreams": upstreams}).encode()
            status, text = server.request("POST", "/api/feeds", feed, **{"Content-Type": "application/json"})
            assert status == 201, text
            assert anonymous_get(server, f"/bench/files/warm-up/{small}") == (200, len(small_data))
            time.sleep(SETTLE_SECONDS)
            baseline = rss_mib(server.pid)
            figures["baseline_mib"] = round(baseline, 1)

            statuses = [0] * args.concurrent

            def download(i: int) -> None:
                statuses[i], length = anonymous_get(server, f"/bench/files/big-one/{big}")
                assert length == len(big_data) or statuses[i] != 200

            threads = [threading.Thread(target=download, args=(i,)) for i in range(args.concurrent)]
            reset_peak(server.pid)
            started = time.perf_counter()
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            seconds = time.perf_counter() - started
            peak = peak_mib(server.pid) - baseline
            time.sleep(SETTLE_SECONDS)
            file_mib = len(big_data) / MIB
            figures["concurrent"] = {
                "downloads": args.concurrent,
                "file_mib": round(file_mib, 1),
                "statuses": statuses,
                "seconds": round(seconds, 1),
                "peak_over_baseline_mib": round(peak, 1),
                "peak_per_download_and_file": round(peak / file_mib / args.concurrent, 2),
                "rss_after_over_baseline_mib": round(rss_mib(server.pid) - baseline, 1),
            }
            asked = len(fake.requests_to(upstream.file_path(big)))
            reset_peak(server.pid)
            ranged = anonymous_get(server, f"/bench/files/big-one/{big}", Range="bytes=-1")
            requests = fake.requests_to(upstream.file_path(big))[asked:]
            figures["one_byte_range"] = {
                "status": ranged[0],
                "bytes": ranged[1],
                "upstream_ranges": [r.headers.get("range") for r in requests],
                "peak_over_baseline_mib": round(peak_mib(server.pid) - baseline, 1),
            }
        finally:
            if server is not None:
                server.stop()
            azurite.stop()
    print(json.dumps(figures, indent=2))
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
