"""The upstream page cache against Azurite, with a scripted upstream counting its requests."""

from __future__ import annotations

import gzip
import secrets
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from shared import memo
from shared.keys import upstream_page_blob
from shared.upstream.client import UpstreamTimeout, UpstreamUnavailable
from shared.upstream.page_cache import (
    CachePolicy,
    UnansweredUpstreams,
    UpstreamBusy,
    UpstreamPageCache,
    UpstreamPageUnavailable,
)
from shared.upstream.page_parser import ProjectPage
from tests.support.storage_requests import requests_made
from tests.support.upstream_server import Reply, html_reply

SHA = "ab" * 32


class Clock:
    def __init__(self, now: float = 1_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def feed() -> str:
    return "cache-" + secrets.token_hex(5)


def page_html(*versions: str) -> Reply:
    return html_reply("".join(f'<a href="demo-{v}.tar.gz#sha256={SHA}">x</a>' for v in versions))


@pytest.fixture
def fetcher(fake_index, client):
    def fetch_demo() -> ProjectPage:
        return client.fetch_project_page(f"{fake_index.url}/simple/", "demo")

    return fetch_demo


def test_a_fresh_page_costs_no_storage_request_on_a_warm_instance(storage, fake_index, fetcher):
    clock = Clock()
    cache = UpstreamPageCache(storage, CachePolicy(ttl=600), clock=clock)
    fake_index.routes["/simple/demo/"] = page_html("1.0")
    key = feed()
    first = cache.get(key, "pypi", "demo", fetcher)
    clock.now += 599
    again, cost = requests_made(lambda: cache.get(key, "pypi", "demo", fetcher))
    assert (again, cost) == (first, 0)
    # Warmed by reading the copy another instance stored, too.
    memo.forget_all()
    assert cache.get(key, "pypi", "demo", fetcher) == first
    again, cost = requests_made(lambda: cache.get(key, "pypi", "demo", fetcher))
    assert (again, cost) == (first, 0)
    # Once it is no longer fresh, storage is asked again.
    fake_index.routes["/simple/demo/"] = page_html("1.0", "1.1")
    clock.now += 2
    refreshed, cost = requests_made(lambda: cache.get(key, "pypi", "demo", fetcher))
    assert refreshed.page.versions == ("1.0", "1.1")
    assert cost > 0
    assert len(fake_index.requests) == 2


def test_fresh_pages_come_from_the_cache_until_the_ttl_passes(storage, fake_index, fetcher):
    clock = Clock()
    cache = UpstreamPageCache(storage, CachePolicy(ttl=600), clock=clock)
    fake_index.routes["/simple/demo/"] = page_html("1.0")
    key = feed()

    first = cache.get(key, "pypi", "demo", fetcher)
    assert (first.stale, first.fetched_at, [f.version for f in first.page.files]) == (
        False,
        clock.now,
        ["1.0"],
    )
    clock.now += 599
    assert cache.get(key, "pypi", "demo", fetcher) == first
    assert len(fake_index.requests) == 1

    fake_index.routes["/simple/demo/"] = page_html("1.0", "1.1")
    clock.now += 2
    refreshed = cache.get(key, "pypi", "demo", fetcher)
    assert refreshed.page.versions == ("1.0", "1.1")
    assert not refreshed.stale
    assert len(fake_index.requests) == 2
    # Another instance (a new cache object on the same storage, nothing in memory) sees the same copy.
    memo.forget_all()
    assert (
        UpstreamPageCache(storage, CachePolicy(ttl=600), clock=clock).get(key, "pypi", "demo", fetcher)
        == refreshed
    )
    assert len(fake_index.requests) == 2


def test_absent_projects_are_cached_too(storage, fake_index, fetcher):
    cache = UpstreamPageCache(storage, CachePolicy(ttl=600))
    key = feed()
    assert not cache.get(key, "pypi", "demo", fetcher).page.exists
    assert not cache.get(key, "pypi", "demo", fetcher).page.exists
    assert len(fake_index.requests) == 1


def test_entries_are_per_feed_upstream_and_project(storage, fake_index, fetcher):
    cache = UpstreamPageCache(storage, CachePolicy(ttl=600))
    fake_index.routes["/simple/demo/"] = page_html("1.0")
    a, b = feed(), feed()
    cache.get(a, "pypi", "demo", fetcher)
    cache.get(a, "index-1", "demo", fetcher)
    cache.get(b, "pypi", "demo", fetcher)
    cache.get(a, "pypi", "demo", fetcher)
    assert len(fake_index.requests) == 3
    assert storage.blob_info(upstream_page_blob(a, "pypi", "demo")) is not None


def test_upstream_failure_serves_the_last_good_copy_as_stale(storage, fake_index, fetcher):
    clock = Clock()
    cache = UpstreamPageCache(storage, CachePolicy(ttl=600, failure_backoff=60), clock=clock)
    fake_index.routes["/simple/demo/"] = page_html("1.0")
    key = feed()
    good = cache.get(key, "pypi", "demo", fetcher)

    fake_index.routes["/simple/demo/"] = Reply(503)
    clock.now += 601
    stale = cache.get(key, "pypi", "demo", fetcher)
    assert stale.stale
    assert stale.page == good.page
    assert stale.fetched_at == good.fetched_at
    assert "503" in stale.error
    assert len(fake_index.requests) == 2

    # Within the back-off a dead upstream is not asked again.
    clock.now += 30
    again = cache.get(key, "pypi", "demo", fetcher)
    assert (again.stale, again.page) == (True, good.page)
    assert "503" in again.error
    assert len(fake_index.requests) == 2

    # After it the upstream is tried again, and a good answer is fresh once more.
    fake_index.routes["/simple/demo/"] = page_html("1.0", "2.0")
    clock.now += 31
    back = cache.get(key, "pypi", "demo", fetcher)
    assert not back.stale
    assert back.error is None
    assert back.page.versions == ("1.0", "2.0")
    assert len(fake_index.requests) == 3


def test_upstream_failure_without_a_copy_is_a_clear_error(storage, fake_index, fetcher):
    clock = Clock()
    cache = UpstreamPageCache(storage, CachePolicy(ttl=600, failure_backoff=60), clock=clock)
    fake_index.routes["/simple/demo/"] = Reply(500)
    key = feed()
    with pytest.raises(UpstreamUnavailable, match="answered 500"):
        cache.get(key, "pypi", "demo", fetcher)
    with pytest.raises(UpstreamPageUnavailable, match="answered 500") as caught:
        cache.get(key, "pypi", "demo", fetcher)
    assert caught.value.status == 502
    assert len(fake_index.requests) == 1
    clock.now += 61
    fake_index.routes["/simple/demo/"] = page_html("1.0")
    assert cache.get(key, "pypi", "demo", fetcher).page.versions == ("1.0",)


def test_a_bug_in_fetch_releases_the_claim(storage):
    cache = UpstreamPageCache(storage, CachePolicy(ttl=600))
    key = feed()

    def broken() -> ProjectPage:
        raise RuntimeError("bug")

    with pytest.raises(RuntimeError):
        cache.get(key, "pypi", "demo", broken)
    page = ProjectPage("demo", versions=("1.0",))
    assert cache.get(key, "pypi", "demo", lambda: page).page == page


def test_concurrent_misses_cost_one_upstream_request(storage, fake_index, fetcher):
    fake_index.routes["/simple/demo/"] = Reply(
        body=page_html("1.0").body, headers={"Content-Type": "text/html"}, delay=0.5
    )
    key = feed()
    workers = 12
    start = threading.Barrier(workers)

    def one_request(_: int):
        cache = UpstreamPageCache(storage, CachePolicy(ttl=600, wait_seconds=20, poll_interval=0.05))
        start.wait()
        return cache.get(key, "pypi", "demo", fetcher)

    with ThreadPoolExecutor(workers) as pool:
        results = list(pool.map(one_request, range(workers)))
    assert len(fake_index.requests) == 1
    assert {r.page.versions for r in results} == {("1.0",)}
    assert sum(not r.stale for r in results) == workers


def test_concurrent_refreshes_serve_the_previous_copy_meanwhile(storage, fake_index, fetcher):
    clock = Clock()
    fake_index.routes["/simple/demo/"] = page_html("1.0")
    key = feed()
    UpstreamPageCache(storage, CachePolicy(ttl=600), clock=clock).get(key, "pypi", "demo", fetcher)
    fake_index.routes["/simple/demo/"] = Reply(
        body=page_html("1.0", "1.1").body, headers={"Content-Type": "text/html"}, delay=0.5
    )
    clock.now += 601
    workers = 8
    start = threading.Barrier(workers)

    def one_request(_: int):
        cache = UpstreamPageCache(storage, CachePolicy(ttl=600), clock=clock)
        start.wait()
        return cache.get(key, "pypi", "demo", fetcher)

    with ThreadPoolExecutor(workers) as pool:
        results = list(pool.map(one_request, range(workers)))
    assert len(fake_index.requests) == 2  # the first fill and one refresh
    fresh = [r for r in results if not r.stale]
    stale = [r for r in results if r.stale]
    assert [r.page.versions for r in fresh] == [("1.0", "1.1")]
    assert {r.page.versions for r in stale} == {("1.0",)}
    assert all(r.error is None for r in stale)


def test_waiting_for_another_fetch_is_bounded(storage):
    clock = Clock()
    key = feed()
    name = upstream_page_blob(key, "pypi", "demo")
    # Another instance claimed the refresh and has not finished (nor has it any copy).
    storage.write_blob(
        name,
        gzip.compress(b'{"page":null}'),
        content_type="application/gzip",
        metadata={"claimeduntil": str(clock.now + 60)},
    )
    slept = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        clock.now += seconds

    cache = UpstreamPageCache(
        storage, CachePolicy(wait_seconds=1, poll_interval=0.25), clock=clock, sleep=sleep
    )
    with pytest.raises(UpstreamBusy) as caught:
        cache.get(key, "pypi", "demo", lambda: pytest.fail("must not fetch while another holds the claim"))
    assert caught.value.status == 504
    assert sum(slept) == pytest.approx(1.0)

    # A claim whose holder died expires, and the next request takes over.
    clock.now += 60
    page = ProjectPage("demo", versions=("1.0",))
    assert cache.get(key, "pypi", "demo", lambda: page).page == page


def test_a_timeout_with_no_copy_keeps_its_status(storage):
    cache = UpstreamPageCache(storage, CachePolicy())

    def slow() -> ProjectPage:
        raise UpstreamTimeout("mirror did not answer in time")

    with pytest.raises(UpstreamTimeout):
        cache.get(feed(), "pypi", "demo", slow)


def test_an_unreadable_entry_is_refetched(storage):
    key = feed()
    storage.write_blob(upstream_page_blob(key, "pypi", "demo"), b"not gzip", content_type="application/gzip")
    page = ProjectPage("demo", versions=("1.0",))
    assert UpstreamPageCache(storage, CachePolicy()).get(key, "pypi", "demo", lambda: page).page == page


def test_an_upstream_remembered_as_not_answering_is_not_asked(storage, fake_index, fetcher):
    clock = Clock()
    cache = UpstreamPageCache(storage, CachePolicy(ttl=600), clock=clock)
    fake_index.routes["/simple/demo/"] = page_html("1.0")
    key = feed()
    why = "it did not answer in time lately"
    with pytest.raises(UpstreamPageUnavailable, match=why):  # no copy: the reason, at once
        cache.get(key, "pypi", "demo", fetcher, unanswered=why)
    assert fake_index.requests == []
    first = cache.get(key, "pypi", "demo", fetcher)
    assert cache.get(key, "pypi", "demo", fetcher, unanswered=why) == first  # a fresh copy is fresh
    clock.now += 601
    old = cache.get(key, "pypi", "demo", fetcher, unanswered=why)
    assert old.stale and old.page == first.page and len(fake_index.requests) == 1


def test_unanswered_upstreams_are_remembered_for_a_while():
    clock = Clock()
    unanswered = UnansweredUpstreams(clock)
    assert unanswered.remaining("pypi") == 0
    unanswered.remember("pypi", 120)
    clock.now += 100
    assert unanswered.remaining("pypi") == 20 and unanswered.remaining("index-1") == 0
    unanswered.forget("pypi")
    assert unanswered.remaining("pypi") == 0
    unanswered.remember("pypi", 120)
    clock.now += 121
    assert unanswered.remaining("pypi") == 0
