"""What large uploads cost the server in memory: the app under ``make run`` (the local host) against
Azurite, in a process of its own whose resident memory this script reads from /proc.

    .venv/bin/python -m bench.upload_memory [--size-mb 90] [--rounds 5] [--concurrent 6]
        [--concurrent-size-mb 95] [--json figures.json]

It uploads a wheel of ``--size-mb`` (one stored member of random bytes, so nothing compresses)
``--rounds`` times one after the other, then ``--concurrent`` wheels of ``--concurrent-size-mb`` at
once, and prints for each step the server's peak resident memory over its baseline (VmHWM, reset
before each step through /proc/<pid>/clear_refs) and its resident memory once the step is over
(VmRSS). The baseline is taken after one small upload, so first-use costs (imports, SDK clients) are
in it. Linux only. Figures depend on the machine and allocator; tests never assert them.
"""

from __future__ import annotations

import argparse
import base64
import http.client
import json
import os
import secrets
import signal
import subprocess
import sys
import tempfile
import threading
import time
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
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


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def big_wheel(name: str, version: str, size: int) -> tuple[str, bytes]:
    from tests.support.dists import make_wheel

    member = zipfile.ZipInfo(f"{name.replace('-', '_')}/blob.bin")  # ZIP_STORED by default
    return make_wheel(name, version, extra=[(member, os.urandom(size))])


def upload_body(name: str, version: str, size: int) -> tuple[bytes, str, int]:
    from tests.support.multipart import encode, upload_fields

    filename, data = big_wheel(name, version, size)
    body, content_type = encode(upload_fields(name, version, filename, data))
    return body, content_type, len(data)


class Server:
    """``python -m tools.run`` in a session of its own, on a free port."""

    def __init__(self, connection_string: str, token: str, log: Path) -> None:
        self.port = _free_port()
        env = {
            **os.environ,
            "PORT": str(self.port),
            "FEEDHOUSE_STORAGE_CONNECTION_STRING": connection_string,
            "FEEDHOUSE_ADMIN_TOKEN": token,
        }
        self._log = log.open("wb")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tools.run"],
            cwd=ROOT,
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.auth = "Basic " + base64.b64encode(f"__token__:{token}".encode()).decode()
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the server exited: {log.read_text()}")
            try:
                if self.request("GET", "/api/health")[0] == 200:
                    return
            except OSError:
                time.sleep(0.2)
        raise RuntimeError("the server did not answer within 60 s")

    @property
    def pid(self) -> int:
        return self.process.pid

    def request(self, method: str, path: str, body: bytes | None = None, **headers: str) -> tuple[int, bytes]:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=600)
        try:
            connection.request(method, path, body=body, headers={"Authorization": self.auth, **headers})
            response = connection.getresponse()
            return response.status, response.read()
        finally:
            connection.close()

    def upload(self, body: bytes, content_type: str) -> tuple[int, bytes]:
        return self.request("POST", "/bench/upload/", body, **{"Content-Type": content_type})

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        self._log.close()


def measure(server: Server, baseline: float, bodies: list[tuple[bytes, str, int]]) -> dict:
    """Send ``bodies`` at once (one: a plain upload); the server's memory over ``baseline``."""
    statuses = [0] * len(bodies)

    def send(i: int) -> None:
        statuses[i] = server.upload(*bodies[i][:2])[0]

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
    file_mib = bodies[0][2] / MIB
    return {
        "uploads": len(bodies),
        "file_mib": round(file_mib, 1),
        "statuses": statuses,
        "seconds": round(seconds, 1),
        "peak_over_baseline_mib": round(peak, 1),
        "peak_per_file": round(peak / file_mib, 2),
        "rss_after_over_baseline_mib": round(rss_mib(server.pid) - baseline, 1),
    }


def _row(label: str, step: dict) -> str:
    return (
        f"{label:<14} {step['file_mib']:>9.1f} {step['peak_over_baseline_mib']:>+15.0f} "
        f"{step['peak_per_file']:>7.2f} {step['rss_after_over_baseline_mib']:>+10.0f}   "
        f"{step['statuses']} in {step['seconds']} s"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mb", type=float, default=90)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--concurrent", type=int, default=6)
    parser.add_argument("--concurrent-size-mb", type=float, default=95)
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    from tools.azurite import start_azurite

    figures: dict = {}
    with tempfile.TemporaryDirectory() as tmp:
        # Blobs on disk: Azurite's memory is not what this measures, and in memory it would hold them all.
        azurite = start_azurite(location=Path(tmp) / "azurite")
        server = None
        try:
            token = "fh_bench_" + secrets.token_urlsafe(16)
            server = Server(azurite.connection_string, token, Path(tmp) / "log")
            feed = json.dumps({"name": "bench"}).encode()
            status, text = server.request("POST", "/api/feeds", feed, **{"Content-Type": "application/json"})
            assert status == 201, text
            status, text = server.upload(*upload_body("warm-up", "1.0", 1024)[:2])
            assert status == 200, text
            time.sleep(SETTLE_SECONDS)
            baseline = rss_mib(server.pid)
            figures["baseline_mib"] = round(baseline, 1)
            print(f"server pid {server.pid}, baseline RSS {baseline:.0f} MiB")
            header = f"{'step':<14} {'file MiB':>9} {'peak over base':>15} {'x file':>7} {'RSS after':>10}"
            print(header + "   statuses")
            figures["rounds"] = []
            for round_ in range(args.rounds):
                body = upload_body("big-one", f"1.{round_}", int(args.size_mb * MIB))
                figures["rounds"].append(measure(server, baseline, [body]))
                print(_row(f"upload {round_ + 1}", figures["rounds"][-1]))
            if args.concurrent:
                size = int(args.concurrent_size_mb * MIB)
                bodies = [upload_body("big-many", f"2.{i}", size) for i in range(args.concurrent)]
                figures["concurrent"] = measure(server, baseline, bodies)
                print(_row(f"{args.concurrent} at once", figures["concurrent"]))
        finally:
            if server is not None:
                server.stop()
            azurite.stop()
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
