from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from azure.data.tables import TableServiceClient
from azure.storage.blob import BlobServiceClient

from tools import azurite
from tools.azurite import AzuriteError, start_azurite


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
        cwd=Path(__file__).resolve().parents[2],
        stdout=subprocess.PIPE,
        start_new_session=True,
    )
    pid = None
    try:
        assert starter.stdout is not None
        pid = int(starter.stdout.readline())
        assert _running(pid)
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
