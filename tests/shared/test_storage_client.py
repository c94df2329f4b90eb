"""How the storage clients reach storage: directly, with a connection per worker thread, and without
queueing requests behind a stalled fetch."""

from __future__ import annotations

import logging
import threading
import time
from datetime import UTC, datetime, timedelta

import pytest

from shared import storage as storage_module
from shared.keys import FEEDS_TABLE
from shared.storage import DelegationKeys, StorageError

WORKER_THREADS = 32  # the Python worker's most concurrent invocations: min(32, CPUs + 4)


@pytest.fixture
def fresh_storage(app_env, monkeypatch):
    """get_storage() built anew under the environment as the test sets it; the session's afterwards."""
    yield monkeypatch
    monkeypatch.undo()
    storage_module.reset()


@pytest.mark.parametrize(
    "environment",
    [
        # A proxy nothing listens on.
        {"HTTP_PROXY": "http://127.0.0.1:9", "http_proxy": "http://127.0.0.1:9"},
        # A default netrc entry, whose Basic credentials requests would put over the SDK's own
        # Authorization header.
        {"NETRC": "{tmp}/netrc"},
    ],
    ids=["proxy", "netrc"],
)
def test_the_callers_proxy_and_netrc_settings_are_ignored(fresh_storage, tmp_path, environment):
    (tmp_path / "netrc").write_text("default login someone password secret\n")
    for name in ("NO_PROXY", "no_proxy"):
        fresh_storage.delenv(name, raising=False)
    for name, value in environment.items():
        fresh_storage.setenv(name, value.format(tmp=tmp_path))
    storage_module.reset()
    storage_module.get_storage().ping()


def test_every_worker_thread_keeps_its_connection(storage, caplog):
    """As many concurrent calls as the worker runs find room in the pool to return their connection
    to (urllib3 otherwise drops it, logging a warning, and the next call connects anew)."""
    barrier = threading.Barrier(WORKER_THREADS)
    failures: list[BaseException] = []

    def read() -> None:
        try:
            barrier.wait()
            storage.partition(FEEDS_TABLE, "no-such-partition")
        except BaseException as exc:
            failures.append(exc)

    with caplog.at_level(logging.WARNING, logger="urllib3.connectionpool"):
        threads = [threading.Thread(target=read) for _ in range(WORKER_THREADS)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert not failures
    assert not [r for r in caplog.records if "pool is full" in r.getMessage()]


def test_a_stalled_delegation_key_fetch_does_not_queue_the_requests_behind_it():
    fetching, release = threading.Event(), threading.Event()

    def stalled_fetch(start, expiry):
        fetching.set()
        release.wait()
        return "key"

    keys = DelegationKeys(stalled_fetch)
    now = datetime(2030, 1, 1, tzinfo=UTC)
    until = now + timedelta(minutes=10)
    first = threading.Thread(target=keys.valid_until, args=(until,), kwargs={"now": now})
    first.start()
    try:
        assert fetching.wait(10)
        outcome: list[object] = []

        def second() -> None:
            try:
                outcome.append(keys.valid_until(until, now=now))
            except StorageError as exc:
                outcome.append(exc)

        started = time.monotonic()
        waiter = threading.Thread(target=second, daemon=True)
        waiter.start()
        waiter.join(30)  # a correctness bound (not queued forever), not a performance one
        assert not waiter.is_alive(), "the second request waited for the stalled fetch"
        assert isinstance(outcome[0], StorageError)
        assert time.monotonic() - started < 30
    finally:
        release.set()
        first.join()


def test_every_http_request_to_storage_is_counted_for_the_request_that_made_it(storage):
    from tests.support.storage_requests import requests_made

    _, point_read = requests_made(lambda: storage.get(FEEDS_TABLE, "feed", "no-such-feed"))
    assert point_read == 1
    _, ping = requests_made(storage.ping)  # one blob and one table request
    assert ping == 2
    # Requests on another thread count for the request whose context they run in, and only then.
    seen: list[int] = []
    with storage_module.counting() as count:
        thread = threading.Thread(target=lambda: storage.get(FEEDS_TABLE, "feed", "x"))
        thread.start()
        thread.join()
        seen.append(count.value)
    assert seen == [0]


def test_a_count_inside_a_count_adds_to_both(storage):
    """A handler counts its own requests (the access line) while a test counts the handler's call."""
    with storage_module.counting() as outer:
        storage.get(FEEDS_TABLE, "feed", "x")
        with storage_module.counting() as inner:
            storage.get(FEEDS_TABLE, "feed", "x")
    assert (outer.value, inner.value) == (2, 1)
