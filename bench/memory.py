"""What large files cost the server in memory, read from /proc (Linux only).

Uploads: a wheel of ``size`` bytes (one stored member of random bytes, so nothing compresses) is
uploaded ``rounds`` times, one after the other (then, optionally, ``concurrent`` more at once); for
each, the server's peak resident memory over its baseline (VmHWM, reset before each step through
/proc/<pid>/clear_refs) and its resident memory once the step is over (VmRSS). The baseline is taken
after one small upload, so first-use costs (imports, SDK clients) are in it.

Downloads (stream mode): the first of those wheels, fetched whole, interleaved with nginx serving the
same file from disk: the time of each and the server's peak over its baseline.
"""

from __future__ import annotations

import os
import threading
import time
import zipfile
from pathlib import Path

from bench.clients import download
from bench.servers import BenchError, Feedhouse, Server, basic
from bench.stats import summary
from tests.support.dists import make_wheel
from tests.support.multipart import encode, upload_fields

MIB = 1024 * 1024
# Long enough for the allocator to hand back what it will, short enough to keep the run brief.
SETTLE_SECONDS = 1.0


def _status_kib(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise KeyError(field)


def rss_mib(pid: int) -> float:
    return _status_kib(pid, "VmRSS") / 1024


def peak_mib(pid: int) -> float:
    return _status_kib(pid, "VmHWM") / 1024


def reset_peak(pid: int) -> None:
    # "5" resets the peak resident set size (VmHWM) to the current one (proc(5), Linux 4.0).
    Path(f"/proc/{pid}/clear_refs").write_text("5")


def big_wheel(name: str, version: str, size: int) -> tuple[str, bytes]:
    member = zipfile.ZipInfo(f"{name.replace('-', '_')}/blob.bin")  # ZIP_STORED by default
    return make_wheel(name, version, extra=[(member, os.urandom(size))])


def upload_body(name: str, version: str, size: int) -> tuple[bytes, str, str, bytes]:
    """(body, content type, file name, file) of a twine-style upload of a wheel of about ``size``."""
    filename, data = big_wheel(name, version, size)
    body, content_type = encode(upload_fields(name, version, filename, data))
    return body, content_type, filename, data


def _measure(
    server: Feedhouse, feed: str, baseline: float, bodies: list[tuple[bytes, str]], file_size: int
) -> dict:
    """Send ``bodies`` at once (one: a plain upload); the server's memory over ``baseline``."""
    statuses = [0] * len(bodies)

    def send(i: int) -> None:
        body, content_type = bodies[i]
        statuses[i] = server.request("POST", f"/{feed}/upload/", body, **{"Content-Type": content_type})[0]

    threads = [threading.Thread(target=send, args=(i,)) for i in range(len(bodies))]
    reset_peak(server.pid)
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    seconds = time.perf_counter() - started
    peak = peak_mib(server.pid) - baseline
    time.sleep(SETTLE_SECONDS)
    if any(status != 200 for status in statuses):
        raise BenchError(f"uploads of {file_size / MIB:.0f} MiB answered {statuses}")
    return {
        "uploads": len(bodies),
        "seconds": seconds,
        "peak_over_baseline_mib": peak,
        "peak_per_file": peak / (file_size / MIB),
        "rss_after_over_baseline_mib": rss_mib(server.pid) - baseline,
    }


def run(
    server: Feedhouse,
    feed: str,
    *,
    size: int,
    rounds: int,
    concurrent: int,
    downloads: int,
    nginx: Server | None,
    nginx_root: Path,
) -> dict:
    """Upload and download figures of ``server`` (a fresh instance, so its baseline is its own)
    into ``feed``; the first wheel is also written to ``nginx_root/files/`` for nginx to serve."""
    filename, data = make_wheel("warm-up", "1.0")
    body, content_type = encode(upload_fields("warm-up", "1.0", filename, data))
    status, text = server.request("POST", f"/{feed}/upload/", body, **{"Content-Type": content_type})
    if status != 200:
        raise BenchError(f"the warm-up upload answered {status}: {text[:300]!r}")
    time.sleep(SETTLE_SECONDS)
    baseline = rss_mib(server.pid)
    figures: dict = {"baseline_mib": baseline, "uploads": []}
    big_name, big_size, file_size = "", 0, 0
    for round_ in range(rounds):
        body, content_type, name, data = upload_body("big-one", f"1.{round_}", size)
        file_size = len(data)
        if round_ == 0:  # the one both servers are asked for
            big_name, big_size = name, file_size
            (nginx_root / "files" / name).write_bytes(data)
        del data
        figures["uploads"].append(_measure(server, feed, baseline, [(body, content_type)], file_size))
        del body
    figures["file_mib"] = file_size / MIB
    figures["rss_growth_mib"] = (
        figures["uploads"][-1]["rss_after_over_baseline_mib"]
        - figures["uploads"][0]["rss_after_over_baseline_mib"]
    )
    if concurrent:
        bodies = [upload_body("big-many", f"2.{i}", size)[:2] for i in range(concurrent)]
        figures["concurrent"] = _measure(server, feed, baseline, bodies, file_size)
        del bodies

    # Downloads: A B A B, nginx first; the server's peak is reset before each of its own.
    path = f"/{feed}/files/big-one/{big_name}"
    times: dict[str, list[float]] = {"feedhouse": [], "nginx": []}
    peaks = []
    marks = {who: who.access_log.mark() for who in (server, nginx) if who is not None}
    for _ in range(downloads):
        if nginx is not None:
            status, received, seconds = download(nginx.port, f"/files/{big_name}", {})
            _expect(status, received, big_size, "nginx")
            times["nginx"].append(seconds)
        reset_peak(server.pid)
        status, received, seconds = download(server.port, path, {"Authorization": basic(server.admin_token)})
        _expect(status, received, big_size, "Feedhouse (stream mode)")
        times["feedhouse"].append(seconds)
        peaks.append(peak_mib(server.pid) - baseline)
    for who, mark in marks.items():
        served_path = path if who is server else f"/files/{big_name}"
        served = who.access_log.count_since(mark, served_path, expected=downloads)
        if served < downloads:
            raise BenchError(f"{who.name}'s log shows {served} of the {downloads} downloads of {served_path}")
    figures["download"] = {
        "seconds": {name: summary(samples) for name, samples in times.items() if samples},
        "peak_over_baseline_mib": summary(peaks),
        "rss_after_over_baseline_mib": rss_mib(server.pid) - baseline,
    }
    return figures


def _expect(status: int, received: int, size: int, who: str) -> None:
    if status != 200 or received != size:
        raise BenchError(
            f"{who} answered {status} with {received} of {size} bytes (a 302 means the file went to a"
            " redirect: FEEDHOUSE_STREAM_MAX_BYTES is below its size)"
        )
