"""Start the pinned Azurite (tools/package.json) on free ports, for tests and ``make run``."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType

AZURITE = Path(__file__).resolve().parent / "node_modules" / ".bin" / "azurite"
ACCOUNT_NAME = "devstoreaccount1"
# Azurite's well-known, public development key (Azurite README); not a secret.
ACCOUNT_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
HOST = "127.0.0.1"
START_TIMEOUT = 30.0


class AzuriteError(RuntimeError):
    """Azurite is missing or did not start."""


def free_ports(count: int) -> list[int]:
    """Ports on 127.0.0.1 that nothing listens on now (another process may still take one)."""
    sockets = [socket.socket(socket.AF_INET, socket.SOCK_STREAM) for _ in range(count)]
    try:
        for s in sockets:
            s.bind((HOST, 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def accepts(port: int) -> bool:
    """Whether something accepts connections on 127.0.0.1:port."""
    try:
        with socket.create_connection((HOST, port), timeout=0.5):
            return True
    except OSError:
        return False


class Azurite:
    """A running Azurite process; ``stop()`` (or leaving the ``with`` block) ends it."""

    def __init__(
        self, process: subprocess.Popen[bytes], log: Path, ports: list[int], scratch: Path | None = None
    ) -> None:
        self.process = process
        self._log = log
        self._scratch = scratch
        self.blob_port, self.queue_port, self.table_port = ports
        self.connection_string = (
            f"DefaultEndpointsProtocol=http;AccountName={ACCOUNT_NAME};AccountKey={ACCOUNT_KEY};"
            f"BlobEndpoint=http://{HOST}:{self.blob_port}/{ACCOUNT_NAME};"
            f"QueueEndpoint=http://{HOST}:{self.queue_port}/{ACCOUNT_NAME};"
            f"TableEndpoint=http://{HOST}:{self.table_port}/{ACCOUNT_NAME};"
        )

    @property
    def ports(self) -> list[int]:
        return [self.blob_port, self.queue_port, self.table_port]

    def output(self) -> str:
        """What Azurite has printed so far (stdout and stderr)."""
        try:
            return self._log.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def stop(self, timeout: float = 10.0) -> None:
        if self.process.poll() is None:
            # Azurite runs in its own process group (see start_azurite), so signal the whole group.
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        self._log.unlink(missing_ok=True)
        if self._scratch is not None:
            shutil.rmtree(self._scratch, ignore_errors=True)

    def __enter__(self) -> Azurite:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


def _launch(location: Path | None) -> Azurite:
    ports = free_ports(3)
    # Always files, never --inMemoryPersistence: in memory every blob write is an extent (a piece of
    # data) of its own, and every 10 minutes Azurite sweeps those no blob refers to any more, on the
    # one thread that answers all requests, one at a time, each removal re-sorting an index of all
    # extents (LokiJS). Ten minutes into the test suite that was 2,000 of 5,900 extents: 26 s in which
    # neither blobs nor tables answered. On disk, extents are shared files of up to 64 MiB: a handful,
    # swept in milliseconds. Without a location, a directory of its own that stop() removes.
    scratch = None
    if location is None:
        location = scratch = Path(tempfile.mkdtemp(prefix="azurite-data-"))
    else:
        location.mkdir(parents=True, exist_ok=True)
    args = [
        str(AZURITE),
        *("--location", str(location)),
        *("--skipApiVersionCheck", "--loose", "--disableTelemetry", "--silent"),
        *("--blobHost", HOST, "--blobPort", str(ports[0])),
        *("--queueHost", HOST, "--queuePort", str(ports[1])),
        *("--tableHost", HOST, "--tablePort", str(ports[2])),
    ]
    # Azurite must not outlive us, also when we are killed without a chance to stop it (SIGKILL, a
    # SIGTERM to pytest, a CI runner killing our process group, which Azurite has left): Linux's
    # parent-death signal, set by util-linux's setpriv before it execs Azurite, ends it then. The
    # signal follows the thread that started Azurite, so start it from a thread that lives as long.
    setpriv = shutil.which("setpriv")
    if setpriv:
        args = [setpriv, "--pdeathsig", "TERM", *args]
    # A custom AZURITE_ACCOUNTS in the caller's environment would disable devstoreaccount1.
    env = {k: v for k, v in os.environ.items() if k != "AZURITE_ACCOUNTS"}
    fd, log_name = tempfile.mkstemp(prefix="azurite-", suffix=".log")
    try:
        with os.fdopen(fd, "wb") as log:
            # A file, not a pipe: nobody drains a pipe while Azurite runs, and a full one would block it.
            # A new session keeps the terminal's Ctrl-C away from Azurite, so we decide when it stops.
            process = subprocess.Popen(
                args,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=location,
                env=env,
                start_new_session=True,
            )
    except BaseException:
        Path(log_name).unlink(missing_ok=True)
        if scratch is not None:
            shutil.rmtree(scratch, ignore_errors=True)
        raise
    return Azurite(process, Path(log_name), ports, scratch)


def start_azurite(*, location: Path | None = None) -> Azurite:
    """Start Azurite on three free 127.0.0.1 ports and return once all of them accept connections.

    With ``location`` the data is kept there, across restarts; otherwise in a temporary directory
    that is removed when Azurite stops. Azurite stops with the thread that started it, on Linux also
    when its process is killed.
    """
    if not AZURITE.exists():
        raise AzuriteError(f"Azurite is not installed at {AZURITE}: run make bootstrap")
    # Another process can take a port between our probe and Azurite's bind; retry on that race.
    for attempt in range(3):
        azurite = _launch(location)
        deadline = time.monotonic() + START_TIMEOUT
        pending = list(azurite.ports)
        try:
            while pending and azurite.process.poll() is None and time.monotonic() < deadline:
                pending = [port for port in pending if not accepts(port)]
                if pending:
                    time.sleep(0.05)  # poll interval only; readiness is the connect above
        except BaseException:  # Ctrl-C while waiting: the caller never gets the Azurite to stop
            azurite.stop()
            raise
        if not pending and azurite.process.poll() is None:
            return azurite
        status = azurite.process.poll()
        output = azurite.output()
        azurite.stop()
        if "EADDRINUSE" in output and attempt < 2:
            continue
        if status is None:
            reason = f"did not open ports {pending} within {START_TIMEOUT:.0f} s"
        else:
            reason = f"exited with status {status}"
        raise AzuriteError(f"Azurite {reason}. Its output:\n{output.strip() or '(none)'}")
    raise AssertionError("unreachable")
