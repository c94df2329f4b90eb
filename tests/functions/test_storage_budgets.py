"""Storage requests per request on a warm instance (issue 11): what pages, the project list and an
upload cost, counted at the storage layer (shared.storage.counting), never timed.

Each budget is asserted twice. ``serving`` leaves out what authentication (the feed row, the
token, the grants) and the upstream page cache cost, which are kept in memory (shared/memo.py):
what a page costs besides is its document, one conditional read. ``whole`` is the issue's budget
for the whole request, authentication included.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest

import functions.files
import functions.packages_api
import functions.simple
import functions.upload
from functions.simple import project_detail, project_list
from shared import memo, packages, pages
from shared import storage as storage_module
from shared.keys import FILES_TABLE, files_partition
from shared.packages import release_row_key
from shared.page_documents import ProjectDocument
from shared.upstream.page_cache import UpstreamPageCache
from tests.support.dists import make_wheel
from tests.support.publish import call, publish, publish_wheel
from tests.support.storage_requests import requests_made
from tests.support.stored import key_of
from tests.support.upstream_server import FakeIndex
from tests.support.upstreams import ScriptedIndex, index, new_feed, user

JSON_ACCEPT = {"Accept": "application/vnd.pypi.simple.v1+json"}
HTML_ACCEPT = {"Accept": "text/html"}


class Budget:
    """Counts a request's storage requests: all of them, and those outside the left-out callables."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.left_out = 0
        left_out = (
            (functions.simple, "feed_access"),
            (functions.upload, "feed_access"),
            (UpstreamPageCache, "get"),
        )
        for owner, name in left_out:
            monkeypatch.setattr(owner, name, self._leaving_out(getattr(owner, name)))

    def _leaving_out(self, real: Callable[..., Any]) -> Callable[..., Any]:
        def counted(*args: Any, **kwargs: Any) -> Any:
            with storage_module.counting() as count:
                try:
                    return real(*args, **kwargs)
                finally:
                    self.left_out += count.value

        return counted

    def measure(self, action: Callable[[], Any]) -> tuple[Any, int, int]:
        """``action()``'s result, its storage requests, and those outside the left-out callables."""
        self.left_out = 0
        with storage_module.counting() as count:
            result = action()
        return result, count.value, count.value - self.left_out


@pytest.fixture
def budget(monkeypatch) -> Budget:
    return Budget(monkeypatch)


def _warm(action: Callable[[], Any]) -> Callable[[], Any]:
    """``action``, called once (the cold instance pays then) and checked to succeed."""
    response = action()
    assert response.status_code == 200, response.get_body()
    return action


def _page(feed: str, project: str, headers: dict[str, str], token: str | None = None) -> Callable[[], Any]:
    kwargs = {"token": token} if token else {}
    return _warm(
        lambda: call(
            project_detail,
            "GET",
            f"/{feed}/simple/{project}/",
            feed=feed,
            project=project,
            headers=headers,
            **kwargs,
        )
    )


def _list(feed: str, headers: dict[str, str], token: str | None = None) -> Callable[[], Any]:
    kwargs = {"token": token} if token else {}
    return _warm(lambda: call(project_list, "GET", f"/{feed}/simple/", feed=feed, headers=headers, **kwargs))


def _published(visibility: str) -> tuple[str, str]:
    """A feed of ``visibility`` with a project of a few files; the feed and a reader's token."""
    feed = new_feed(visibility=visibility)
    for version in ("1.0", "1.1", "2.0"):
        publish_wheel(feed, "budget-demo", version)
    from shared.roles import Role

    return feed, user(feed, Role.READER)


FORMATS = pytest.mark.parametrize("headers", [HTML_ACCEPT, JSON_ACCEPT], ids=["html", "json"])


@FORMATS
@pytest.mark.parametrize("visibility", ["public", "private"])
def test_a_project_page_costs_one_conditional_read_besides_authentication(
    storage, budget, visibility, headers
):
    feed, reader = _published(visibility)
    page = _page(feed, "budget-demo", headers, token=reader)
    response, _whole, serving = budget.measure(page)
    assert response.status_code == 200
    assert serving <= 1


@FORMATS
@pytest.mark.parametrize("visibility", ["public", "private"])
def test_the_project_list_costs_one_conditional_read_besides_authentication(
    storage, budget, visibility, headers
):
    feed, reader = _published(visibility)
    response, _whole, serving = budget.measure(_list(feed, headers, token=reader))
    assert response.status_code == 200
    assert b"budget-demo" in response.get_body()
    assert serving <= 1


@pytest.mark.parametrize("visibility", ["public", "private"])
def test_a_page_within_the_bound_costs_nothing_besides_authentication(storage, budget, visibility):
    """A page served less than memo.PAGE_STALE_SECONDS after storage confirmed its document (by
    the warming request here) asks storage nothing; past that, and whenever the client asks to
    revalidate, it asks once (a 304 from storage keeps the rendered page)."""
    feed, reader = _published(visibility)
    page = _page(feed, "budget-demo", JSON_ACCEPT, token=reader)
    listing = _list(feed, JSON_ACCEPT, token=reader)
    for request in (page, listing):
        assert budget.measure(request)[2] == 0
    for asking in ("max-age=0", "no-cache", "no-store, no-cache"):
        headers = {**JSON_ACCEPT, "Cache-Control": asking}
        for request in (
            _page(feed, "budget-demo", headers, token=reader),
            _list(feed, headers, token=reader),
        ):
            assert budget.measure(request)[2] == 1
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(memo, "PAGE_STALE_SECONDS", 0.0)
        for request in (page, listing):
            assert budget.measure(request)[2] == 1


@pytest.mark.parametrize(
    ("user_agent", "cost"),
    [('pip/24.0 {"ci":null}', 0), ('pip/26.1.1 {"ci":null}', 0), ('pip/26.2 {"ci":null}', 1)],
)
def test_an_old_pips_max_age_zero_on_every_page_is_answered_from_what_is_kept(
    storage, budget, user_agent, cost
):
    """pip before 26.2 sends ``Cache-Control: max-age=0`` with every page request (pip#5670): its
    pages cost what other clients' do. pip 26.2+ sends it only for --refresh-package: one read."""
    feed, reader = _published("private")
    headers = {**JSON_ACCEPT, "Cache-Control": "max-age=0", "User-Agent": user_agent}
    assert budget.measure(_page(feed, "budget-demo", headers, token=reader))[2] == cost


def test_a_page_read_again_after_a_change_through_another_writer_shows_it(storage, budget):
    """The document kept in memory is asked about every time: a new file is seen by the next page."""
    feed, reader = _published("public")
    page = _page(feed, "budget-demo", JSON_ACCEPT, token=reader)
    publish_wheel(feed, "budget-demo", "3.0")
    response, _whole, serving = budget.measure(page)
    assert b"budget_demo-3.0-py3-none-any.whl" in response.get_body()
    assert serving <= 1


@pytest.mark.usefixtures("upstream_settings")
@FORMATS
def test_a_page_merging_a_fresh_upstream_costs_one_conditional_read_besides_it(storage, budget, headers):
    with FakeIndex() as fake:
        upstream = ScriptedIndex(fake)
        filename, data = make_wheel("budget-up", "1.0")
        upstream.project("budget-up", [upstream.entry(filename, data)])
        feed = new_feed([index(upstream.url)], visibility="public")
        publish_wheel(feed, "budget-mixed", "1.0")
        for project in ("budget-up", "budget-mixed"):
            response, _whole, serving = budget.measure(_page(feed, project, headers))
            assert response.status_code == 200
            assert serving <= 1
        assert upstream.page_requests("budget-up") == 1  # fresh: fetched once, when cold


@FORMATS
@pytest.mark.parametrize("visibility", ["public", "private"])
def test_a_whole_page_request_costs_at_most_one_storage_request(storage, budget, visibility, headers):
    feed, reader = _published(visibility)
    for request in (_page(feed, "budget-demo", headers, token=reader), _list(feed, headers, token=reader)):
        _response, whole, _serving = budget.measure(request)
        assert whole <= 1


@pytest.mark.usefixtures("upstream_settings")
def test_a_whole_page_request_merging_a_fresh_upstream_costs_at_most_one(storage, budget):
    with FakeIndex() as fake:
        upstream = ScriptedIndex(fake)
        filename, data = make_wheel("budget-up", "1.0")
        upstream.project("budget-up", [upstream.entry(filename, data)])
        feed = new_feed([index(upstream.url)], visibility="public")
        _response, whole, _serving = budget.measure(_page(feed, "budget-up", JSON_ACCEPT))
        assert whole <= 1


BIG = 2000


def _stored_before_documents(feed: str, project: str) -> list[str]:
    """A project of BIG files (and BIG release rows: the issue's 4,000 entities) stored as rows only,
    as a feed from before page documents has them; its file names, in page order."""
    partition = files_partition(key_of(feed), project)
    rows: list[dict[str, Any]] = []
    names = []
    for i in range(BIG):
        version = f"{i}.0"
        filename = f"{project.replace('-', '_')}-{version}-py3-none-any.whl"
        names.append(filename)
        rows.append({"PartitionKey": partition, "RowKey": release_row_key(version), "Version": version})
        rows.append(
            {
                "PartitionKey": partition,
                "RowKey": filename,
                "Project": project,
                "Version": version,
                "Filetype": "bdist_wheel",
                "Size": 1000 + i,
                "Sha256": hashlib.sha256(filename.encode()).hexdigest(),
                "Blake2b256": hashlib.blake2b(filename.encode(), digest_size=32).hexdigest(),
                "Uploaded": "2024-01-01T00:00:00.000000Z",
                "Blob": f"{key_of(feed)}/{project}/{filename}",
                "State": "active",
            }
        )
    for start in range(0, len(rows), 100):
        storage_module.get_storage().transact(FILES_TABLE, insert=rows[start : start + 100])
    return names


@pytest.fixture
def nothing_parsed_or_rendered(monkeypatch):
    """Arms a check that fails the test if a page queries rows, parses a document or renders a page."""

    def refused(name: str) -> Callable[..., Any]:
        def call(*_args: Any, **_kwargs: Any) -> Any:
            raise AssertionError(f"{name} was called")

        return call

    def arm() -> None:
        monkeypatch.setattr(storage_module.Storage, "partition", refused("Storage.partition"))
        monkeypatch.setattr(ProjectDocument, "from_bytes", refused("ProjectDocument.from_bytes"))
        monkeypatch.setattr(pages, "project_json", refused("pages.project_json"))
        monkeypatch.setattr(pages, "project_html", refused("pages.project_html"))

    return arm


def test_a_2000_file_page_is_one_request_and_is_parsed_and_rendered_once(
    storage, budget, nothing_parsed_or_rendered, monkeypatch
):
    """A big project stored before page documents: its first page builds the document from the rows
    (once, on any instance); then a cold instance reads one blob, a warm one asks whether it changed
    and neither parses nor renders again."""
    feed = new_feed(visibility="public")
    names = _stored_before_documents(feed, "big-demo")
    page = _page(feed, "big-demo", JSON_ACCEPT)  # builds and stores the document
    assert [f["filename"] for f in json.loads(page().get_body())["files"]] == names

    memo.forget_all()  # another, cold instance: the document is read, not the rows
    response, _whole, serving = budget.measure(page)
    assert len(json.loads(response.get_body())["files"]) == BIG
    assert serving == 1

    nothing_parsed_or_rendered()
    response, _whole, serving = budget.measure(page)  # warm, within the bound: the page kept
    assert len(json.loads(response.get_body())["files"]) == BIG
    assert serving == 0
    monkeypatch.setattr(memo, "PAGE_STALE_SECONDS", 0.0)
    response, _whole, serving = budget.measure(page)  # past it: a 304 from storage, the page kept
    assert len(json.loads(response.get_body())["files"]) == BIG
    assert serving == 1


def test_an_upload_of_a_new_file_costs_at_most_five_storage_requests(storage, budget, monkeypatch):
    """On a warm instance, which keeps the project's page document it last read or wrote: the file's
    blob, its metadata blob, one transaction with its row and identity claim, the document written
    back on its ETag, and its entry in the feed's change history (issue 14): five in all."""
    from shared import history

    recorded = []
    real = history.file_added

    def counted(*args, **kwargs):
        with storage_module.counting() as count:
            real(*args, **kwargs)
        recorded.append(count.value)

    monkeypatch.setattr(history, "file_added", counted)
    feed = new_feed()
    publish_wheel(feed, "budget-up", "1.0")  # the project is listed, its document stored
    filename, data = make_wheel("budget-up", "2.0")
    response, whole, serving = budget.measure(lambda: publish(feed, filename, data, "budget-up", "2.0"))
    assert response.status_code == 200, response.get_body()
    assert recorded[-1] == 1
    assert serving <= 5
    assert whole <= 5


# Views (issue 14): a view is a filter over the feed's own documents, so its URLs cost what the feed's do.


def _promoted(visibility: str) -> tuple[str, str]:
    """``_published``, with 1.1 promoted into @release; the feed and a reader's token."""
    feed, reader = _published(visibility)
    response = call(
        functions.packages_api.version_views,
        "POST",
        f"/api/feeds/{feed}/packages/budget-demo/versions/1.1/views",
        json_body={"view": "release"},
        feed=feed,
        project="budget-demo",
        version="1.1",
    )
    assert response.status_code == 200, response.get_body()
    return feed, reader


@FORMATS
@pytest.mark.parametrize("visibility", ["public", "private"])
def test_as_of_pages_cost_one_conditional_read_besides_authentication(storage, budget, visibility, headers):
    """As-of pages (issue 15) read the same documents as the live pages, and are kept by their moment."""
    feed, reader = _published(visibility)
    moment = packages.format_time(datetime.now(UTC))
    for path, handler, params in [
        (
            f"/{feed}/as-of/{moment}/simple/budget-demo/",
            functions.simple.project_detail_as_of,
            {"project": "budget-demo"},
        ),
        (f"/{feed}/as-of/{moment}/simple/", functions.simple.project_list_as_of, {}),
    ]:
        action = _warm(
            lambda path=path, handler=handler, params=params: call(
                handler, "GET", path, feed=feed, moment=moment, headers=headers, token=reader, **params
            )
        )
        response, _whole, serving = budget.measure(action)
        assert response.status_code == 200
        assert b"budget-demo" in response.get_body()
        assert serving <= 1


@FORMATS
@pytest.mark.parametrize("visibility", ["public", "private"])
def test_a_view_page_and_list_cost_at_most_one_storage_request(storage, budget, visibility, headers):
    feed, reader = _promoted(visibility)
    view = f"{feed}@release"
    page = _page(view, "budget-demo", headers, token=reader)
    assert b"budget_demo-1.1-py3-none-any.whl" in page().get_body()
    assert b"budget_demo-2.0-py3-none-any.whl" not in page().get_body()
    for request in (page, _list(view, headers, token=reader)):
        _response, whole, serving = budget.measure(request)
        assert whole <= 1
        assert serving <= 1


@pytest.mark.parametrize("visibility", ["public", "private"])
def test_a_view_download_and_metadata_file_cost_at_most_one_on_a_warm_instance(storage, visibility):
    feed, reader = _promoted(visibility)
    for filename in ("budget_demo-1.1-py3-none-any.whl", "budget_demo-1.1-py3-none-any.whl.metadata"):

        def fetch(filename: str = filename) -> Any:
            return call(
                functions.files.download,
                "GET",
                f"/{feed}@release/files/budget-demo/{filename}",
                token=reader,
                feed=f"{feed}@release",
                project="budget-demo",
                filename=filename,
            )

        assert fetch().status_code == 200
        response, cost = requests_made(fetch)
        assert response.status_code == 200
        assert cost <= 1


@pytest.mark.parametrize("visibility", ["public", "private"])
def test_promoting_adds_nothing_to_the_feed_urls_budget(storage, budget, visibility):
    feed, reader = _promoted(visibility)
    for request in (
        _page(feed, "budget-demo", JSON_ACCEPT, token=reader),
        _list(feed, JSON_ACCEPT, token=reader),
    ):
        _response, whole, _serving = budget.measure(request)
        assert whole <= 1
