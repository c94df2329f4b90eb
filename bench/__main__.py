"""``make bench``: Feedhouse side by side with pypiserver, nginx and pip's --find-links floor.

    .venv/bin/python -m bench [--storage-latency-ms 0 5] [--quick]
        [--only pip uv page memory requests coldstart]
        [--concurrent-uploads N] [--output results.json]

Everything runs on loopback: Azurite (in a temporary directory), Feedhouse under the local host
(``make run``'s), pypiserver under gunicorn, nginx (where installed) serving a static PEP 503 tree
with ``.metadata`` files. Each value of ``--storage-latency-ms`` is one run of every workload, with
Feedhouse reaching Azurite through a proxy that delays every chunk by that much each way (0:
directly). Figures are medians with min and max, printed as ratios and written, samples included,
to bench/results/.
Numbers depend on the machine and its load: compare runs of one machine, never a fixed budget.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import contextlib
import datetime
import json
import os
import platform
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from packaging.utils import canonicalize_name, parse_wheel_filename

from bench import closure, coldstart, memory, phases
from bench.clients import isolated_env
from bench.phases import BIG_PROJECT, FEED, READER, Files, Target
from bench.report import format_mode, ratios
from bench.servers import (
    ROOT,
    VENV_BIN,
    BenchError,
    Feedhouse,
    nginx_binary,
    start_feedhouse,
    start_latency_proxy,
    start_nginx,
    start_pypiserver,
)
from tests.support.dists import make_wheel
from tests.support.multipart import encode, upload_fields
from tools.azurite import Azurite, start_azurite

RESULTS = Path(__file__).resolve().parent / "results"
PHASES = ("pip", "uv", "page", "memory", "requests", "coldstart")
FULL = {
    "pip_rounds": 11,
    "uv_rounds": 15,
    "page_files": 2000,
    "clients": 16,
    "page_seconds": 5.0,
    "page_rounds": 3,
    "page_requests": 2,
    "memory_mib": 90,
    "memory_rounds": 5,
    "downloads": 3,
    "requests_rounds": 30,
    "coldstart_rounds": 9,
}
QUICK = {
    **FULL,
    "pip_rounds": 1,
    "uv_rounds": 2,
    "page_files": 200,
    "page_seconds": 1.0,
    "page_rounds": 1,
    "page_requests": 1,
    "memory_mib": 8,
    "memory_rounds": 2,
    "downloads": 1,
    "requests_rounds": 5,
    "coldstart_rounds": 2,
}
SEED_THREADS_PER_INSTANCE = 2


def _upload(feedhouse: Feedhouse, filename: str, data: bytes) -> None:
    name, version, _, _ = parse_wheel_filename(filename)
    body, content_type = encode(upload_fields(str(name), str(version), filename, data))
    status, text = feedhouse.request("POST", f"/{FEED}/upload/", body, **{"Content-Type": content_type})
    if status != 200:
        raise BenchError(f"uploading {filename} answered {status}: {text[:300]!r}")


def seed(instances: list[Feedhouse], files: dict[str, bytes]) -> str:
    """The private feed with ``files``, a reader and the reader's read token (returned). Uploads go
    through the app, spread over ``instances`` (one per core: an upload is CPU work in one process,
    and each upload into a project reads the project's whole file list, so 2,000 take minutes)."""
    feedhouse = instances[0]
    feedhouse.json("POST", "/api/feeds", {"name": FEED, "visibility": "private"})
    feedhouse.json("PUT", f"/api/feeds/{FEED}/permissions/{READER}", {"role": "reader"})
    created = feedhouse.json(
        "POST", "/api/tokens", {"name": "bench", "user": READER, "scope": "read", "feeds": [FEED]}
    )
    with concurrent.futures.ThreadPoolExecutor(SEED_THREADS_PER_INSTANCE * len(instances)) as pool:
        uploads = [
            pool.submit(_upload, instances[i % len(instances)], name, data)
            for i, (name, data) in enumerate(files.items())
        ]
        for upload in uploads:
            upload.result()
    return created["token"]


def _version(args: list[str]) -> str:
    try:
        result = subprocess.run(args, capture_output=True, text=True, timeout=30)
    except OSError:
        return "not installed"
    return (
        (result.stdout or result.stderr).strip().splitlines()[0] if (result.stdout or result.stderr) else "?"
    )


def _environment() -> dict:
    git = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True
    ).stdout.strip()
    dirty = bool(
        subprocess.run(["git", "status", "--porcelain"], cwd=ROOT, capture_output=True, text=True).stdout
    )
    nginx = nginx_binary()
    return {
        "commit": git + ("-dirty" if dirty else ""),
        "python": platform.python_version(),
        "machine": platform.platform(),
        "cpus": os.cpu_count(),
        "load_average": os.getloadavg(),
        "pip": _version([sys.executable, "-m", "pip", "--version"]),
        "uv": _version([str(VENV_BIN / "uv"), "--version"]),
        "gunicorn": _version([str(VENV_BIN / "gunicorn"), "--version"]),
        "pypiserver": _version([str(VENV_BIN / "pypi-server"), "--version"]),
        "nginx": _version([nginx, "-v"]) if nginx else "not installed",
    }


def run_mode(
    latency_ms: float,
    *,
    index: int,
    azurite: Azurite,
    admin_token: str,
    reader_token: str,
    files: Files,
    big_dir: Path,
    tree: Path,
    only: set[str],
    profile: dict,
    concurrent_uploads: int,
    tmp: Path,
) -> dict:
    """Every workload once, with ``latency_ms`` on Feedhouse's storage requests; servers are started
    for the mode and stopped at its end, whatever happens."""
    mode: dict = {
        "storage_latency_ms": latency_ms,
        "wheels": len(files.wheels),
        "load_average": os.getloadavg(),
    }
    with contextlib.ExitStack() as stack:
        storage = azurite.connection_string
        if latency_ms:
            storage = start_latency_proxy(stack, tmp, azurite, latency_ms)
        feedhouse = start_feedhouse(stack, tmp, storage, admin_token)
        feedhouse_index = f"http://__token__:{reader_token}@127.0.0.1:{feedhouse.port}/{FEED}/simple/"
        if only & {"pip", "uv"}:
            pypiserver = start_pypiserver(stack, tmp, files.directory)
            pypiserver_index = f"{pypiserver.url}/simple/"
        nginx = start_nginx(stack, tmp, tree) if only & {"pip", "uv", "memory"} else None
        if "pip" in only:
            print("pip install …", flush=True)
            targets = [
                Target("floor", None, None),
                Target("feedhouse", feedhouse, feedhouse_index),
                Target("pypiserver", pypiserver, pypiserver_index),
            ]
            # What a PEP 658 index costs pip where serving costs nothing: pip asks it for each
            # .metadata file as well (pypiserver serves none, so pip reads the wheels it downloads).
            if nginx is not None:
                targets.append(Target("nginx", nginx, f"{nginx.url}/simple/"))
            mode["pip"] = phases.pip_phase(targets, files, profile["pip_rounds"], tmp)
        if "uv" in only:
            print("uv pip compile …", flush=True)
            targets = [
                Target("feedhouse", feedhouse, feedhouse_index),
                Target("pypiserver", pypiserver, pypiserver_index),
            ]
            if nginx is not None:
                targets.insert(0, Target("nginx", nginx, f"{nginx.url}/simple/"))
            mode["uv"] = phases.uv_phase(targets, files, profile["uv_rounds"], tmp)
        if "page" in only:
            print(f"project page of {profile['page_files']} files …", flush=True)
            with contextlib.ExitStack() as page_stack:
                big_server = start_pypiserver(page_stack, tmp, big_dir)
                servers = phases.page_phase(
                    phases.page_targets(feedhouse, reader_token, big_server),
                    profile["page_files"],
                    profile["clients"],
                    profile["page_seconds"],
                    profile["page_requests"],
                    profile["page_rounds"],
                )
            mode["page"] = {
                "files": profile["page_files"],
                "clients": profile["clients"],
                "seconds": profile["page_seconds"],
                "requests_per_client": profile["page_requests"],
                "rounds": profile["page_rounds"],
                "servers": servers,
            }
        if "requests" in only:
            print("single requests …", flush=True)
            flask = next(w for w in files.wheels if w.startswith("flask-"))
            mode["requests"] = phases.requests_phase(
                feedhouse, reader_token, flask, profile["page_files"], profile["requests_rounds"], str(index)
            )
        if "memory" in only:
            print(f"memory: {profile['memory_mib']} MiB uploads and downloads …", flush=True)
            size = profile["memory_mib"] * memory.MIB
            feed = f"memory-{index}"
            feedhouse.json("POST", "/api/feeds", {"name": feed, "visibility": "private"})
            try:
                with contextlib.ExitStack() as memory_stack:
                    # A fresh instance, so its baseline is its own; the stream limit above the file, so
                    # that the download goes through the app (by default one this large is redirected).
                    fresh = start_feedhouse(
                        memory_stack, tmp, storage, admin_token, {"FEEDHOUSE_STREAM_MAX_BYTES": str(2 * size)}
                    )
                    mode["memory"] = memory.run(
                        fresh,
                        feed,
                        size=size,
                        rounds=profile["memory_rounds"],
                        concurrent=concurrent_uploads,
                        downloads=profile["downloads"],
                        nginx=nginx,
                        nginx_root=tree,
                    )
            finally:
                # Azurite holds its blobs in memory: let this mode's go (a delete only moves the feed
                # to the recycle bin; the purge frees its blobs).
                feedhouse.request("DELETE", f"/api/feeds/{feed}")
                feedhouse.request("DELETE", f"/api/recycle-bin/feeds/{feed}")
    return mode


def _server_workloads(
    args: argparse.Namespace,
    only: set[str],
    profile: dict,
    results: dict,
    stack: contextlib.ExitStack,
    tmp: Path,
) -> None:
    """Every workload that needs servers: seeding Azurite, then each storage latency's mode."""
    wheels = closure.wheels(isolated_env())
    directory = tmp / "closure"
    directory.mkdir()
    for wheel in wheels:
        shutil.copy(wheel, directory)
    names = [wheel.name for wheel in wheels]
    pins = {str(canonicalize_name(n)): str(v) for n, v, _, _ in map(parse_wheel_filename, names)}
    files = Files(names, directory, pins)
    results["closure"] = names
    big = dict(make_wheel(BIG_PROJECT, f"1.0.{i}") for i in range(profile["page_files"]))
    big_dir = tmp / "big"
    big_dir.mkdir()
    for name, data in big.items():
        (big_dir / name).write_bytes(data)
    # nginx's workers may run as another user: the tree goes where they can read it.
    tree = Path(tempfile.mkdtemp(prefix="feedhouse-bench-tree-"))
    stack.callback(shutil.rmtree, tree, ignore_errors=True)
    tree.chmod(0o755)
    closure.write_static_tree(tree, {wheel.name: wheel.read_bytes() for wheel in wheels})

    azurite = stack.enter_context(start_azurite())
    admin_token = "fh_bench_" + secrets.token_urlsafe(16)
    print(
        f"seeding: {len(names)} closure wheels and {len(big)} files of {BIG_PROJECT} …",
        flush=True,
    )
    begun = time.perf_counter()
    with contextlib.ExitStack() as seeding:
        instances = [
            start_feedhouse(seeding, tmp, azurite.connection_string, admin_token)
            for _ in range(os.cpu_count() or 1)
        ]
        reader_token = seed(instances, {**{w.name: w.read_bytes() for w in wheels}, **big})
    results["seed_seconds"] = time.perf_counter() - begun
    print(f"seeded in {results['seed_seconds']:.0f} s", flush=True)
    for index, latency in enumerate(args.storage_latency_ms):
        mode = run_mode(
            latency,
            index=index,
            azurite=azurite,
            admin_token=admin_token,
            reader_token=reader_token,
            files=files,
            big_dir=big_dir,
            tree=tree,
            only=only,
            profile=profile,
            concurrent_uploads=args.concurrent_uploads,
            tmp=tmp,
        )
        mode["ratios"] = ratios(mode)
        results["modes"].append(mode)
        print("\n" + format_mode(mode) + "\n", flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--storage-latency-ms",
        type=float,
        nargs="+",
        default=[0.0, 5.0],
        help="one run of every workload per value: ms added each way to every storage request (0: none)",
    )
    parser.add_argument("--quick", action="store_true", help="a short smoke run: fewer rounds, smaller files")
    parser.add_argument(
        "--only", nargs="+", choices=PHASES, default=list(PHASES), help="run only these workloads"
    )
    parser.add_argument(
        "--concurrent-uploads", type=int, default=0, help="also upload this many big wheels at once"
    )
    parser.add_argument(
        "--output", type=Path, help="where to write the figures (default bench/results/<time>.json)"
    )
    args = parser.parse_args(argv)
    profile = QUICK if args.quick else FULL
    only = set(args.only)
    started = datetime.datetime.now(datetime.UTC)
    output = args.output or RESULTS / f"{started:%Y%m%dT%H%M%SZ}.json"
    # SIGTERM unwinds like Ctrl-C, so every server is stopped on the way out.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    results: dict = {
        "started": started.isoformat(),
        "quick": args.quick,
        "profile": profile,
        "environment": _environment(),
        "modes": [],
    }
    status = 0
    try:
        with (
            tempfile.TemporaryDirectory(prefix="feedhouse-bench-") as scratch,
            contextlib.ExitStack() as stack,
        ):
            tmp = Path(scratch)
            if "coldstart" in only:
                print("cold start …", flush=True)
                results["cold_start_ms"] = coldstart.run(tmp, profile["coldstart_rounds"])
                print("\n" + coldstart.format_figures(results["cold_start_ms"]) + "\n", flush=True)
            if only - {"coldstart"}:
                _server_workloads(args, only, profile, results, stack, tmp)
    except BenchError as error:
        results["error"] = str(error)
        print(f"make bench: {error}", file=sys.stderr)
        status = 1
    except KeyboardInterrupt:
        results["error"] = "interrupted"
        status = 130
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(results, indent=2) + "\n")
    print(f"figures written to {output}")
    return status


if __name__ == "__main__":
    sys.exit(main())
