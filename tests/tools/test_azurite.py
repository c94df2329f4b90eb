from __future__ import annotations

import contextlib
import http.client
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from azure.data.tables import TableServiceClient
from azure.storage.blob import BlobServiceClient

from tools import azurite
from tools.azurite import AzuriteError, start_azurite

ROOT = Path(__file__).resolve().parents[2]


def _closed(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
    except ConnectionRefusedError:
        return True
    return False


def test_blob_and_table_work_against_its_connection_string_and_stop_closes_the_ports() -> None:
    with start_azurite() as emulator:
        assert f"BlobEndpoint=http://127.0.0.1:{emulator.blob_port}/devstoreaccount1;" in (
            emulator.connection_string
        )
        blobs = BlobServiceClient.from_connection_string(emulator.connection_string)
        container = blobs.create_container("packages")
        container.upload_blob("team/a-1.0.tar.gz", b"data")
        assert container.download_blob("team/a-1.0.tar.gz").readall() == b"data"

        tables = TableServiceClient.from_connection_string(emulator.connection_string)
        table = tables.create_table("feeds")
        table.create_entity({"PartitionKey": "feed", "RowKey": "team", "visibility": "private"})
        assert table.get_entity("feed", "team")["visibility"] == "private"
        ports = emulator.ports
    assert emulator.process.returncode is not None
    assert all(_closed(port) for port in ports)


def test_on_disk_state_survives_a_restart(tmp_path: Path) -> None:
    with start_azurite(location=tmp_path / "data") as first:
        TableServiceClient.from_connection_string(first.connection_string).create_table("kept")
    with start_azurite(location=tmp_path / "data") as second:
        names = [
            t.name for t in TableServiceClient.from_connection_string(second.connection_string).list_tables()
        ]
    assert names == ["kept"]


def test_without_a_location_its_data_is_removed_when_it_stops() -> None:
    with start_azurite() as emulator:
        data = Path(f"/proc/{emulator.process.pid}/cwd").resolve()  # Azurite runs in its data directory
        BlobServiceClient.from_connection_string(emulator.connection_string).create_container("packages")
        assert any(data.iterdir())
    assert not data.exists()


def _answer_seconds(port: int) -> float:
    """How long Azurite takes to answer one small request (any answer: this one is refused)."""
    begun = time.monotonic()
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        connection.request("GET", "/devstoreaccount1/Tables")
        connection.getresponse().read()
    finally:
        connection.close()
    return time.monotonic() - begun


def test_it_keeps_answering_while_it_sweeps_overwritten_blobs(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Every 10 minutes Azurite sweeps away the blob data that no blob refers to any more, on the
    thread that answers all requests. Kept in memory, each blob write was data of its own, dropped one
    at a time at a cost that grows with all there is: 10 minutes into the test suite (5,900 writes,
    2,000 of them replaced since) it answered nothing, blob or table, for 26 s. Here the sweep runs at
    once (tests/support/azurite_sweep_now.js) after 2,500 overwrites: some 5 s of silence in memory."""
    sweeps = tmp_path / "sweeps"
    monkeypatch.setenv("NODE_OPTIONS", f"--require {ROOT / 'tests' / 'support' / 'azurite_sweep_now.js'}")
    monkeypatch.setenv("AZURITE_SWEEP_LOG", str(sweeps))
    with start_azurite() as emulator:
        blobs = BlobServiceClient.from_connection_string(emulator.connection_string)
        container = blobs.create_container("packages")

        def overwrite(i: int) -> None:
            container.upload_blob(f"page-{i % 20}", b"x", overwrite=True)

        with ThreadPoolExecutor(8) as pool:
            list(pool.map(overwrite, range(2500)))
        os.kill(emulator.process.pid, signal.SIGUSR2)
        slowest = _answer_seconds(emulator.table_port)
        deadline = time.monotonic() + 60
        while not sweeps.exists() and time.monotonic() < deadline:
            slowest = max(slowest, _answer_seconds(emulator.table_port))
        assert sweeps.exists(), "the sweep did not run"
        assert slowest < 1.0, f"Azurite did not answer for {slowest:.1f} s while it swept"


def test_missing_install_says_how_to_fix_it(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(azurite, "AZURITE", tmp_path / "azurite")
    with pytest.raises(AzuriteError, match="make bootstrap"):
        start_azurite()


def test_early_exit_is_reported_with_its_output(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    fake = tmp_path / "azurite"
    fake.write_text("#!/bin/sh\necho 'cannot start: bad flag' >&2\nexit 3\n")
    fake.chmod(0o755)
    monkeypatch.setattr(azurite, "AZURITE", fake)
    with pytest.raises(AzuriteError, match=r"(?s)exited with status 3.*cannot start: bad flag"):
        start_azurite()


def _running(pid: int) -> bool:
    """Whether pid runs; a zombie does not (the container's init may be slow to reap orphans)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except FileNotFoundError:
        return False


def test_it_ends_when_the_process_that_started_it_is_killed(tmp_path: Path) -> None:
    """A SIGKILL (or a SIGTERM to pytest, or a CI runner ending the job) gives no chance to stop
    Azurite, which runs in a session of its own: it must end by itself."""
    starter = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time; from tools.azurite import start_azurite; "
            "print(start_azurite().process.pid, flush=True); time.sleep(600)",
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        start_new_session=True,
    )
    pid = data = None
    try:
        assert starter.stdout is not None
        pid = int(starter.stdout.readline())
        assert _running(pid)
        data = Path(f"/proc/{pid}/cwd").resolve()  # left behind: nobody could stop Azurite
        os.killpg(starter.pid, signal.SIGKILL)
        starter.wait()
        deadline = time.monotonic() + 15
        while _running(pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not _running(pid), "Azurite outlived the process that started it"
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(starter.pid, signal.SIGKILL)
        if pid is not None and _running(pid):
            os.killpg(pid, signal.SIGKILL)
        starter.wait()
        if data is not None:
            shutil.rmtree(data, ignore_errors=True)


def test_ctrl_c_while_it_starts_stops_it(monkeypatch: pytest.MonkeyPatch) -> None:
    launched = []

    def launch(*args):
        launched.append(launch_azurite(*args))
        return launched[-1]

    def interrupted(port: int) -> bool:
        raise KeyboardInterrupt

    launch_azurite = azurite._launch
    monkeypatch.setattr(azurite, "_launch", launch)
    monkeypatch.setattr(azurite, "accepts", interrupted)
    try:
        with pytest.raises(KeyboardInterrupt):
            start_azurite()
        assert launched[0].process.returncode is not None
    finally:
        for emulator in launched:
            emulator.stop()
