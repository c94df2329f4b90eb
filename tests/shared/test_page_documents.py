"""Page documents as an instance keeps them: how long a reader trusts the kept one, that a slow read
never puts back an older document over one this instance wrote meanwhile, and that one listing of a
feed's documents confirms the kept ones for a burst of pages."""

from __future__ import annotations

import threading
import time
from dataclasses import replace

import pytest

from shared import page_documents
from shared import storage as storage_module
from shared.storage import Storage
from tests.support.publish import publish_wheel
from tests.support.storage_requests import requests_made
from tests.support.stored import key_of


def test_a_reader_trusts_the_kept_document_only_as_long_as_it_asks(storage, feed_name):
    publish_wheel(feed_name, "kept", "1.0")
    key = key_of(feed_name)
    page_documents.read(storage, key, "kept")  # confirmed now
    snapshot, cost = requests_made(lambda: page_documents.read(storage, key, "kept", trust_for=60.0))
    assert cost == 0 and [f.filename for f in snapshot.document.files] == ["kept-1.0-py3-none-any.whl"]
    _snapshot, cost = requests_made(lambda: page_documents.read(storage, key, "kept"))
    assert cost == 1  # trust_for 0: a conditional read


def test_a_slow_read_does_not_put_back_an_older_document_over_one_written_meanwhile(
    storage, feed_name, monkeypatch
):
    """An instance reads a document (the whole of it: its kept copy is stale) while it also writes a
    newer one; the read, answered before the write but returned after it, must not replace it, or
    downloads here would trust the older document for memo.STALE_SECONDS."""
    publish_wheel(feed_name, "racing", "1.0")
    key = key_of(feed_name)
    page_documents.forget(key, "racing")  # the next read transfers the whole document
    answered, written = threading.Event(), threading.Event()
    real = Storage.read_blob_state

    def slow(self, name, **kwargs):
        state = real(self, name, **kwargs)
        if threading.current_thread().name == "slow reader":
            answered.set()
            assert written.wait(10)
        return state

    monkeypatch.setattr(Storage, "read_blob_state", slow)
    reader = threading.Thread(target=lambda: page_documents.read(storage, key, "racing"), name="slow reader")
    reader.start()
    assert answered.wait(10)
    publish_wheel(feed_name, "racing", "2.0")  # this instance writes the document
    written.set()
    reader.join(10)
    kept = page_documents.read(storage, key, "racing", trust_for=60.0)
    assert [f.version for f in kept.document.files] == ["1.0", "2.0"]


class _Clock:
    """page_documents' monotonic clock, moved on by hand (its other uses of ``time`` are real)."""

    def __init__(self) -> None:
        self.now = time.monotonic()

    def monotonic(self) -> float:
        return self.now

    def __getattr__(self, name: str):
        return getattr(time, name)


@pytest.fixture
def clock(monkeypatch) -> _Clock:
    fake = _Clock()
    monkeypatch.setattr(page_documents, "time", fake)
    return fake


PAGE_BOUND = 1.0


def _feed_of(feed_name: str, projects: list[str], clock: _Clock) -> str:
    """``feed_name`` with a wheel of each project, every document read (kept and confirmed) here and
    that long ago that none is trusted any more."""
    for project in projects:
        publish_wheel(feed_name, project, "1.0")
    key = key_of(feed_name)
    for project in projects:
        page_documents.read(storage_module.get_storage(), key, project, trust_for=PAGE_BOUND)
    clock.now += 10 * PAGE_BOUND
    return key


def _pages_in_a_row(storage, key: str, projects: list[str]) -> list[int]:
    costs = []
    for project in projects:
        snapshot, cost = requests_made(
            lambda project=project: page_documents.read(storage, key, project, trust_for=PAGE_BOUND)
        )
        assert [f.filename for f in snapshot.document.files] == [f"{project}-1.0-py3-none-any.whl"]
        costs.append(cost)
    return costs


PROJECTS = [f"burst{n}" for n in range(6)]


def test_a_burst_of_pages_is_confirmed_by_one_listing_of_the_feeds_documents(storage, feed_name, clock):
    """pip asks for a run's pages one after another: the first costs its conditional read, the second
    a listing of the feed's documents, which confirms every kept one, and the rest nothing. As that
    listing was worth it, the next page past the bound lists at once: the next run of the install
    costs one request in all."""
    key = _feed_of(feed_name, PROJECTS, clock)
    assert _pages_in_a_row(storage, key, PROJECTS) == [1, 1, 0, 0, 0, 0]
    assert _pages_in_a_row(storage, key, PROJECTS) == [0] * 6  # within the bound
    clock.now += 10 * PAGE_BOUND
    assert _pages_in_a_row(storage, key, PROJECTS) == [1, 0, 0, 0, 0, 0]


@pytest.fixture
def listings(monkeypatch) -> list[str]:
    """The prefixes of the listings of documents asked for (Storage.blob_etags), as they are asked."""
    asked: list[str] = []
    real = storage_module.Storage.blob_etags

    def counted(self, prefix, *, limit):
        asked.append(prefix)
        return real(self, prefix, limit=limit)

    monkeypatch.setattr(storage_module.Storage, "blob_etags", counted)
    return asked


def test_a_lone_page_costs_its_conditional_read_until_a_listing_was_worth_it(
    storage, feed_name, clock, listings
):
    key = _feed_of(feed_name, PROJECTS, clock)
    for _ in range(3):
        assert _pages_in_a_row(storage, key, PROJECTS[:1]) == [1]
        clock.now += 10 * PAGE_BOUND
    assert listings == []
    assert _pages_in_a_row(storage, key, PROJECTS[:2]) == [1, 1]
    assert len(listings) == 1


def test_a_listing_does_not_confirm_a_document_changed_behind_this_instance(storage, feed_name, clock):
    """Another instance changed a document (written here straight to storage, past this instance's
    memory): the listing shows its new ETag, so its page reads it and shows the change; the listing
    still confirms the others, and is not asked for again while that holds."""
    key = _feed_of(feed_name, PROJECTS, clock)
    changed = page_documents.current(storage, key, PROJECTS[2])
    elsewhere = replace(changed.document, allow_external=True)
    storage.write_blob(
        changed.blob, elsewhere.to_bytes(), content_type="application/json", if_match=changed.etag
    )
    clock.now += 10 * PAGE_BOUND  # past the confirmation that reading it here was
    costs = []
    for project in PROJECTS:
        snapshot, cost = requests_made(
            lambda project=project: page_documents.read(storage, key, project, trust_for=PAGE_BOUND)
        )
        assert snapshot.document.allow_external is (project == PROJECTS[2])
        costs.append(cost)
    assert costs == [1, 1, 1, 0, 0, 0]  # the changed one: after the listing, its own read


def test_a_feed_with_more_documents_than_a_listing_holds_is_not_listed_again_for_a_while(
    storage, feed_name, clock, listings, monkeypatch
):
    monkeypatch.setattr(page_documents, "_LISTED_MAX", 3)
    key = _feed_of(feed_name, PROJECTS, clock)
    assert _pages_in_a_row(storage, key, PROJECTS) == [1, 2, 1, 1, 1, 1]  # one listing, too long
    clock.now += 10 * PAGE_BOUND
    assert _pages_in_a_row(storage, key, PROJECTS) == [1] * 6
    assert len(listings) == 1


def test_pages_arriving_together_share_one_listing_and_do_not_wait_long_for_a_slow_one(
    storage, feed_name, clock, monkeypatch
):
    """uv asks for pages at once: the first to need storage reads its own, the second lists, and
    the rest wait for that listing. A listing that hangs (a stalled storage service) keeps them at
    most page_documents._LISTING_WAIT_SECONDS: then each reads its own page."""
    key = _feed_of(feed_name, PROJECTS, clock)
    release, listing_started = threading.Event(), threading.Event()
    real = storage_module.Storage.blob_etags

    def hanging(self, prefix, *, limit):
        listing_started.set()
        assert release.wait(30)
        return real(self, prefix, limit=limit)

    monkeypatch.setattr(storage_module.Storage, "blob_etags", hanging)
    assert _pages_in_a_row(storage, key, PROJECTS[:1]) == [1]
    results: dict[str, int] = {}
    lister = threading.Thread(
        target=lambda: results.update(lister=_pages_in_a_row(storage, key, PROJECTS[1:2])[0])
    )
    lister.start()
    assert listing_started.wait(10)
    waiters = [
        threading.Thread(target=lambda p=p: results.update({p: _pages_in_a_row(storage, key, [p])[0]}))
        for p in PROJECTS[2:]
    ]
    for waiter in waiters:
        waiter.start()
    for waiter in waiters:
        waiter.join(10)
        assert not waiter.is_alive()  # done while the listing still hangs
    assert [results[p] for p in PROJECTS[2:]] == [1] * 4
    release.set()
    lister.join(10)
    assert results["lister"] == 1
    # Without a hang, pages arriving while a listing is under way cost nothing of their own.
    clock.now += 10 * PAGE_BOUND
    monkeypatch.setattr(storage_module.Storage, "blob_etags", real)
    assert _pages_in_a_row(storage, key, PROJECTS[:1]) == [1]
    started = threading.Barrier(len(PROJECTS) - 1)
    costs: dict[str, int] = {}

    def together(project: str) -> None:
        started.wait(10)
        costs[project] = _pages_in_a_row(storage, key, [project])[0]

    threads = [threading.Thread(target=together, args=(p,)) for p in PROJECTS[1:]]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert sorted(costs.values()) == [0, 0, 0, 0, 1]
