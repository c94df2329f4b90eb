"""Fixtures shared by the whole suite: a real Azurite per test session, the app pointed at it, and
unique feeds so that no test depends on another's data."""

from __future__ import annotations

import os
import secrets
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
ADMIN_TOKEN = "fh_test_" + secrets.token_urlsafe(16)


@pytest.fixture(scope="session")
def azurite() -> Iterator[object]:
    from tools.azurite import start_azurite

    with start_azurite() as emulator:
        yield emulator


@pytest.fixture(scope="session")
def app_env(azurite) -> Iterator[dict[str, str]]:
    """Point the app (settings, storage clients) at the session's Azurite."""
    from shared import download_counts, storage

    env = {
        "FEEDHOUSE_STORAGE_CONNECTION_STRING": azurite.connection_string,
        "FEEDHOUSE_ADMIN_TOKEN": ADMIN_TOKEN,
    }
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    storage.reset()
    yield env
    # While Azurite still answers: a flush of download counts a request started in the background
    # would otherwise outlive it and log its failure after the session (this waits for it).
    download_counts.flush(storage.get_storage())
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value
    storage.reset()


@pytest.fixture
def storage(app_env):
    from shared.storage import get_storage

    return get_storage()


@pytest.fixture
def feed_name(storage) -> str:
    """A new, empty private feed with a unique name."""
    from shared import feeds

    name = "t-" + secrets.token_hex(6)
    feeds.create_feed(storage, feeds.parse_new_feed({"name": name}))
    return name


@pytest.fixture(scope="session")
def client_wheel() -> Path:
    """The feedhouse client's wheel in wheelhouse/, where the app serves it from (built if stale)."""
    from tools.client_wheel import ensure

    return ensure()


@pytest.fixture(scope="session")
def server(app_env, client_wheel) -> Iterator[object]:
    """The app served over real HTTP by the local Functions host."""
    from function_app import app
    from tools.functions_host import serve

    with serve(app, root=ROOT) as running:
        yield running


@pytest.fixture(scope="session")
def pypiserver(tmp_path_factory) -> Iterator[object]:
    """pypiserver on 127.0.0.1 serving a directory the tests add distributions to (unique names)."""
    from tests.support.pypiserver import PypiServer

    with PypiServer(tmp_path_factory.mktemp("pypiserver-packages")) as server:
        yield server


@pytest.fixture
def redirect_downloads(app_env, monkeypatch):
    """Files answered with a 302 to a SAS URL on the blob (FEEDHOUSE_DOWNLOAD_MODE=redirect)."""
    from shared import settings

    monkeypatch.setenv("FEEDHOUSE_DOWNLOAD_MODE", "redirect")
    settings.load.cache_clear()
    yield
    monkeypatch.undo()
    settings.load.cache_clear()


@pytest.fixture
def upstream_settings(app_env, monkeypatch):
    """Upstreams on loopback allowed (every test server is there). Timeouts are shorter than in
    production, yet generous for a busy 2-core CI machine; tests of timeouts shorten them further."""
    from shared import settings

    for name, value in {
        "FEEDHOUSE_UPSTREAM_ALLOW_PRIVATE": "true",
        "FEEDHOUSE_UPSTREAM_CONNECT_TIMEOUT": "5",
        "FEEDHOUSE_UPSTREAM_READ_TIMEOUT": "10",
        "FEEDHOUSE_UPSTREAM_PAGE_TIMEOUT": "20",
    }.items():
        monkeypatch.setenv(name, value)
    settings.load.cache_clear()
    yield monkeypatch
    monkeypatch.undo()
    settings.load.cache_clear()


@pytest.fixture
def stream_limit(app_env, monkeypatch):
    """Set FEEDHOUSE_STREAM_MAX_BYTES for one test: ``stream_limit(bytes)``."""
    from shared import settings

    def set_limit(limit: int) -> None:
        monkeypatch.setenv("FEEDHOUSE_STREAM_MAX_BYTES", str(limit))
        settings.load.cache_clear()

    yield set_limit
    monkeypatch.undo()
    settings.load.cache_clear()


@pytest.fixture
def checkout(tmp_path: Path) -> Path:
    """A stand-in for a fresh clone that shares this one's .venv and Azurite install (so make has
    nothing to bootstrap), with examples/ copied (builds write there) and no .feedhouse/."""
    root = tmp_path / "checkout"
    root.mkdir()
    # shared/, clients/ and wheelhouse/: make bootstrap rebuilds the client's wheel when they change.
    for name in (
        "Makefile",
        "requirements.txt",
        "requirements-dev.txt",
        ".venv",
        "tools",
        "shared",
        "clients",
        "wheelhouse",
    ):
        (root / name).symlink_to(ROOT / name)
    shutil.copytree(
        ROOT / "examples", root / "examples", ignore=shutil.ignore_patterns("dist", "build", "*.egg-info")
    )
    return root
