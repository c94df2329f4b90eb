"""Separate app instances on one storage account, as Azure scales the app out: each one is
``python -m tools.run`` in a process of its own (its own memory, so its own caches), on a free port,
pointed at the same Azurite."""

from __future__ import annotations

import contextlib
import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
_STARTUP_SECONDS = 120


@dataclass(frozen=True)
class Instance:
    url: str
    process: subprocess.Popen[bytes]


def _banner_url(process: subprocess.Popen[bytes], log: Path) -> str:
    """The URL the instance prints once it serves (waiting for it in a thread, so a silent instance
    fails the test instead of hanging it)."""
    lines: queue.Queue[bytes | None] = queue.Queue()

    def read() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            lines.put(line)
        lines.put(None)

    threading.Thread(target=read, daemon=True).start()
    deadline = time.monotonic() + _STARTUP_SECONDS
    while True:
        try:
            line = lines.get(timeout=max(0.1, deadline - time.monotonic()))
        except queue.Empty:
            line = None
        if line is None:
            raise AssertionError(f"the instance did not start; its log:\n{log.read_text(errors='replace')}")
        if found := re.search(rb"Feedhouse is running at (\S+)", line):
            return found[1].decode()


@contextlib.contextmanager
def instances(
    count: int, *, connection_string: str, admin_token: str, workdir: Path
) -> Iterator[list[Instance]]:
    """``count`` instances of the app on the storage of ``connection_string``; each is stopped (its
    process group ended) on the way out, whatever happened."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FEEDHOUSE_", "MAKE", "MFLAGS"))}
    env.update(
        PORT="0",
        PYTHONPATH=str(ROOT),
        FEEDHOUSE_STORAGE_CONNECTION_STRING=connection_string,
        FEEDHOUSE_ADMIN_TOKEN=admin_token,
    )
    processes: list[subprocess.Popen[bytes]] = []
    try:
        running = []
        for number in range(count):
            cwd = workdir / f"instance-{number}"  # tools.run keeps its lock in its working directory
            cwd.mkdir(parents=True)
            log = cwd / "stderr.log"
            with log.open("wb") as stderr:
                process = subprocess.Popen(
                    [sys.executable, "-m", "tools.run"],
                    cwd=cwd,
                    env=env,
                    stdout=subprocess.PIPE,
                    stderr=stderr,
                    start_new_session=True,
                )
            processes.append(process)
            running.append(Instance(_banner_url(process, log), process))
        yield running
    finally:
        for process in processes:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
        for process in processes:
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
