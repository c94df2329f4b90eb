"""Download counts (issue 14): what a download adds, what the package and feed APIs show once counts
are flushed, that counting costs a download no storage request, and that concurrent downloads and
racing flushes (two instances) lose nothing."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime

import pytest

from functions import web
from functions.feeds_api import feed_item
from functions.files import download
from functions.maintenance import flush_download_counts
from functions.packages_api import package_item, version_item
from functions.pypi_json import project_json
from functions.tokens_api import whoami
from shared import download_counts, feeds, settings
from shared.download_counts import Count
from shared.packages import version_key
from shared.storage import StorageError
from tests.support.http import json_of
from tests.support.publish import call, publish_sdist, publish_wheel
from tests.support.storage_requests import requests_made
from tests.support.stored import key_of
from tests.support.web import admin_browser, text, visit


def get(feed: str, project: str, filename: str, method: str = "GET", **headers: str):
    return call(
        download,
        method,
        f"/{feed}/files/{project}/{filename}",
        headers=headers,
        feed=feed,
        project=project,
        filename=filename,
    )


def package(feed: str, project: str) -> dict:
    response = call(package_item, "GET", f"/api/feeds/{feed}/packages/{project}", feed=feed, project=project)
    assert response.status_code == 200, response.get_body()
    return json_of(response)


@pytest.fixture
def flush_every_request(app_env, monkeypatch):
    """A flush due on every download (as 30 s after the last one)."""
    monkeypatch.setenv("FEEDHOUSE_DOWNLOAD_COUNT_FLUSH_SECONDS", "0.000001")
    settings.load.cache_clear()
    yield
    monkeypatch.undo()
    settings.load.cache_clear()


def test_downloads_show_in_the_package_and_feed_apis_once_flushed(feed_name, storage):
    wheel, _ = publish_wheel(feed_name, "counted", "1.0")
    sdist, _ = publish_sdist(feed_name, "counted", "1.0")
    other, _ = publish_wheel(feed_name, "counted", "2.0")
    before = datetime.now(UTC)
    for _ in range(3):
        assert get(feed_name, "counted", wheel).status_code == 200
    assert get(feed_name, "counted", sdist).status_code == 200
    # Not counted: a HEAD, a Range request (a resumed download), a metadata file.
    assert get(feed_name, "counted", wheel, method="HEAD").status_code == 200
    assert get(feed_name, "counted", wheel, Range="bytes=10-20").status_code == 206
    assert get(feed_name, "counted", f"{wheel}.metadata").status_code == 200
    flush_download_counts(None)

    versions = {v["version"]: v for v in package(feed_name, "counted")["versions"]}
    one = versions["1.0"]
    assert one["downloads"]["total"] == 4
    assert datetime.fromisoformat(one["downloads"]["last_download"]) >= before
    assert {f["filename"]: f["downloads"]["total"] for f in one["files"]} == {wheel: 3, sdist: 1}
    assert versions["2.0"]["downloads"] == {"total": 0, "last_download": None}
    assert versions["2.0"]["files"][0]["filename"] == other
    response = call(
        version_item,
        "GET",
        f"/api/feeds/{feed_name}/packages/counted/versions/1.0",
        feed=feed_name,
        project="counted",
        version="1.0",
    )
    assert json_of(response)["downloads"]["total"] == 4
    feed_json = json_of(call(feed_item, "GET", f"/api/feeds/{feed_name}", feed=feed_name))
    assert feed_json["downloads"]["total"] == 4
    assert download_counts.last_downloads(storage, key_of(feed_name), "counted").keys() == {
        version_key("1.0")
    }

    # Later flushes add to what is stored.
    assert get(feed_name, "counted", wheel).status_code == 200
    flush_download_counts(None)
    counts = download_counts.project_counts(storage, key_of(feed_name), "counted")
    assert counts.file(wheel).total == 4
    assert counts.version(version_key("1.0")).total == 5
    assert download_counts.feed_counts(storage, key_of(feed_name)).total == 5


def test_redirected_downloads_count(feed_name, storage, redirect_downloads):
    wheel, _ = publish_wheel(feed_name, "redirected", "1.0")
    for _ in range(2):
        assert get(feed_name, "redirected", wheel).status_code == 302
    download_counts.flush(storage)
    assert download_counts.project_counts(storage, key_of(feed_name), "redirected").file(wheel).total == 2


@pytest.mark.parametrize("redirect", [False, True])
def test_counting_adds_no_storage_request_to_a_download_even_when_it_flushes(
    feed_name, storage, flush_every_request, redirect, request
):
    """The budgets of the speed issue: none for a small file on a warm instance (its bytes are kept,
    tests/functions/test_cached_reads.py), in either mode; the flush a download starts runs on a
    thread of its own."""
    if redirect:
        request.getfixturevalue("redirect_downloads")
    wheel, _ = publish_wheel(feed_name, "budgeted", "1.0")
    status = 302 if redirect else 200
    assert get(feed_name, "budgeted", wheel).status_code == status  # warm
    for _ in range(3):
        response, cost = requests_made(lambda: get(feed_name, "budgeted", wheel))
        assert response.status_code == status
        assert cost == 0
    download_counts.flush(storage)  # waits for a background flush still running
    assert download_counts.project_counts(storage, key_of(feed_name), "budgeted").file(wheel).total == 4


def test_a_failed_flush_keeps_its_counts_for_the_next(feed_name, storage, monkeypatch):
    wheel, _ = publish_wheel(feed_name, "kept", "1.0")
    assert get(feed_name, "kept", wheel).status_code == 200
    real = type(storage).transact

    def failing(self, *args, **kwargs):
        raise StorageError("storage is down")

    monkeypatch.setattr(type(storage), "transact", failing)
    download_counts.flush(storage)  # logged, never raised
    monkeypatch.setattr(type(storage), "transact", real)
    assert download_counts.project_counts(storage, key_of(feed_name), "kept").file(wheel) == Count()
    download_counts.flush(storage)
    assert download_counts.project_counts(storage, key_of(feed_name), "kept").file(wheel).total == 1
    assert download_counts.feed_counts(storage, key_of(feed_name)).total == 1


def test_concurrent_downloads_are_all_counted(feed_name, storage):
    wheels = [publish_wheel(feed_name, "busy", version)[0] for version in ("1.0", "2.0")]
    threads_per_round, per_thread, rounds = 8, 5, 5
    for round_number in range(1, rounds + 1):
        barrier = threading.Barrier(threads_per_round)
        failures: list[int] = []

        def fetch(index: int, barrier: threading.Barrier = barrier, failures: list[int] = failures) -> None:
            barrier.wait()
            for _ in range(per_thread):
                status = get(feed_name, "busy", wheels[index % 2]).status_code
                if status != 200:
                    failures.append(status)

        threads = [threading.Thread(target=fetch, args=(i,)) for i in range(threads_per_round)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert failures == []
        download_counts.flush(storage)
        counts = download_counts.project_counts(storage, key_of(feed_name), "busy")
        each = round_number * threads_per_round * per_thread // 2
        assert [counts.file(w).total for w in wheels] == [each, each]
        assert [counts.version(version_key(v)).total for v in ("1.0", "2.0")] == [each, each]
        assert download_counts.feed_counts(storage, key_of(feed_name)).total == 2 * each


def test_a_purged_feeds_counts_go_with_it(feed_name, storage, monkeypatch):
    wheel, _ = publish_wheel(feed_name, "forgotten", "1.0")
    assert get(feed_name, "forgotten", wheel).status_code == 200
    download_counts.flush(storage)
    key = key_of(feed_name)
    feeds.delete_feed(storage, feed_name, by="admin")
    feeds.purge_feed(storage, feed_name)
    assert download_counts.project_counts(storage, key, "forgotten").files == {}
    assert download_counts.feed_counts(storage, key) == Count()


def test_the_json_api_gives_each_files_total_in_pypis_downloads_field(feed_name, storage):
    wheel, _ = publish_wheel(feed_name, "jsoned", "1.0")
    for _ in range(2):
        assert get(feed_name, "jsoned", wheel).status_code == 200
    download_counts.flush(storage)
    response = call(project_json, "GET", f"/{feed_name}/pypi/jsoned/json", feed=feed_name, project="jsoned")
    document = json_of(response)
    assert [f["downloads"] for f in document["urls"]] == [2]
    assert [f["downloads"] for f in document["releases"]["1.0"]] == [2]
    # PyPI's shape; the feed counts no windows.
    assert document["info"]["downloads"] == {"last_day": -1, "last_month": -1, "last_week": -1}


def test_any_request_after_the_interval_starts_a_flush_in_the_background(feed_name, storage, monkeypatch):
    """An instance flushes from its requests, whatever they are, not only from the timer (which runs on
    one instance): counts wait for the interval, then for the next request."""
    monkeypatch.setenv("FEEDHOUSE_DOWNLOAD_COUNT_FLUSH_SECONDS", "3600")
    settings.load.cache_clear()
    wheel, _ = publish_wheel(feed_name, "flushed", "1.0")
    download_counts.flush(storage)  # nothing else of earlier tests pending: the last flush is now
    assert get(feed_name, "flushed", wheel).status_code == 200
    assert package(feed_name, "flushed")["versions"][0]["downloads"]["total"] == 0  # within the interval
    monkeypatch.setenv("FEEDHOUSE_DOWNLOAD_COUNT_FLUSH_SECONDS", "0.000001")
    settings.load.cache_clear()
    try:
        response = call(whoami, "GET", "/api/whoami")
        assert response.status_code == 200
        deadline = time.monotonic() + 20
        while download_counts.project_counts(storage, key_of(feed_name), "flushed").file(wheel).total != 1:
            assert time.monotonic() < deadline, "no flush after the request"
            time.sleep(0.05)
    finally:
        monkeypatch.undo()
        settings.load.cache_clear()


def test_the_package_page_shows_the_versions_and_files_counts(feed_name, storage):
    wheel, _ = publish_wheel(feed_name, "shown", "1.0")
    sdist, _ = publish_sdist(feed_name, "shown", "1.0")
    for _ in range(3):
        assert get(feed_name, "shown", wheel).status_code == 200
    download_counts.flush(storage)
    page = text(
        visit(web.web_package, "GET", "/", browser=admin_browser(storage), feed=feed_name, project="shown")
    )
    assert "3 downloads, the last" in page
    files = page[page.index('<ul class="files">') : page.index("</ul>", page.index('<ul class="files">'))]
    wheel_item, sdist_item = (files[files.index(name) :] for name in (wheel, sdist))
    assert "· 3 downloads" in wheel_item[: wheel_item.index("</li>")]
    assert "· 0 downloads" in sdist_item[: sdist_item.index("</li>")]
