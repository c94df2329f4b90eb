"""pypiserver (a real, independent simple index from PyPI) on 127.0.0.1, serving a directory.

Tests put wheels and sdists into ``server.directory`` and read them back through
``server.index_url``. It runs with the fallback to pypi.org turned off (an unknown project is a
404, never a redirect to the internet) and re-reads the directory on every request.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import TracebackType

from tools.azurite import HOST, accepts, free_ports

START_TIMEOUT = 30.0
PYPI_SERVER = Path(sys.executable).parent / "pypi-server"


class PypiServerError(RuntimeError):
    pass


class PypiServer:
    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.port = 0
        self._process: subprocess.Popen[bytes] | None = None
        self._log: Path | None = None

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    @property
    def index_url(self) -> str:
        return f"{self.url}/simple/"

    def add(self, filename: str, data: bytes) -> Path:
        path = self.directory / filename
        path.write_bytes(data)
        return path

    def output(self) -> str:
        return self._log.read_text(errors="replace") if self._log and self._log.exists() else ""

    def start(self) -> PypiServer:
        if not PYPI_SERVER.exists():
            raise PypiServerError(f"pypiserver is not installed at {PYPI_SERVER}: run make bootstrap")
        # Another process can take the port between the probe and pypiserver's bind: retry.
        for _attempt in range(3):
            self.port = free_ports(1)[0]
            fd, log_name = tempfile.mkstemp(prefix="pypiserver-", suffix=".log")
            self._log = Path(log_name)
            with os.fdopen(fd, "wb") as log:
                self._process = subprocess.Popen(
                    [
                        str(PYPI_SERVER),
                        "run",
                        *("--host", HOST, "--port", str(self.port)),
                        "--disable-fallback",
                        *("--backend", "simple-dir", "--hash-algo", "sha256"),
                        str(self.directory),
                    ],
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            deadline = time.monotonic() + START_TIMEOUT
            while self._process.poll() is None and time.monotonic() < deadline:
                if accepts(self.port):
                    return self
                time.sleep(0.05)  # poll interval only; readiness is the connect above
            output = self.output()
            self.stop()
            if "Address already in use" not in output:
                raise PypiServerError(f"pypiserver did not start. Its output:\n{output.strip() or '(none)'}")
        raise PypiServerError("pypiserver could not bind a free port in three attempts")

    def stop(self, timeout: float = 10.0) -> None:
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        if self._log is not None:
            self._log.unlink(missing_ok=True)

    def __enter__(self) -> PypiServer:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
