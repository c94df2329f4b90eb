"""The building blocks' limits, reached through the app: refused addresses at fetch time, credentials
only for their host, size and redirect limits."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator

import pytest

from functions.files import download
from functions.packages_api import package_upstreaming
from functions.simple import project_detail
from shared import settings
from shared.keys import FILES_TABLE, files_partition
from shared.storage import get_storage
from shared.upstream.sources import UNAVAILABLE_HEADER
from tests.support.dists import make_wheel
from tests.support.publish import call, publish_wheel
from tests.support.stored import key_of
from tests.support.upstream_server import FakeIndex, Reply, redirect
from tests.support.upstreams import ScriptedIndex, index, new_feed, patch_feed

pytestmark = pytest.mark.usefixtures("upstream_settings")


@pytest.fixture
def upstream() -> Iterator[ScriptedIndex]:
    with FakeIndex() as fake:
        yield ScriptedIndex(fake)


def page(feed: str, project: str):
    return call(
        project_detail,
        "GET",
        "/",
        headers={"Accept": "application/vnd.pypi.simple.v1+json"},
        feed=feed,
        project=project,
    )


def get_file(feed: str, project: str, filename: str):
    return call(download, "GET", "/", feed=feed, project=project, filename=filename)


def saved(feed: str, project: str) -> list[str]:
    records = get_storage().partition(FILES_TABLE, files_partition(key_of(feed), project))
    return [r["RowKey"] for r in records if r.get("Origin") == "upstream"]


def test_an_address_refused_at_fetch_time_fails_that_upstream_only(upstream, upstream_settings):
    filename, data = make_wheel("refusedlib", "1.0")
    upstream.project("refusedlib", [upstream.entry(filename, data)])
    feed = new_feed([index(upstream.url)])  # accepted while the deployment allows loopback
    publish_wheel(feed, "mine", "1.0")

    upstream_settings.setenv("FEEDHOUSE_UPSTREAM_ALLOW_PRIVATE", "false")
    settings.load.cache_clear()
    response = page(feed, "refusedlib")
    assert response.status_code == 502
    assert b"loopback" in response.get_body()
    assert upstream.page_requests("refusedlib") == 0
    assert get_file(feed, "refusedlib", filename).status_code == 502
    assert page(feed, "mine").status_code == 200


def test_a_credential_goes_to_its_host_and_is_never_shown(upstream, upstream_settings):
    upstream_settings.setenv(
        "FEEDHOUSE_UPSTREAM_CREDENTIAL_MIRROR", f"http://ci:pa%24%24@127.0.0.1:{upstream.fake.port}/"
    )
    filename, data = make_wheel("guarded", "1.0")
    upstream.project("guarded", [upstream.entry(filename, data)])
    feed = new_feed(
        [{"type": "index", "url": upstream.url, "credential": "FEEDHOUSE_UPSTREAM_CREDENTIAL_MIRROR"}]
    )
    response = page(feed, "guarded")
    assert response.status_code == 200 and b"pa$$" not in response.get_body()
    assert get_file(feed, "guarded", filename).get_body() == data
    expected = "Basic " + base64.b64encode(b"ci:pa$$").decode()
    for request in upstream.fake.requests:
        assert request.headers.get("authorization") == expected

    # The same credential named for an upstream on another host (port) is refused.
    status, body = patch_feed(
        feed,
        {
            "upstreams": [
                {
                    "type": "index",
                    "url": "http://127.0.0.1:9/simple/",
                    "credential": "FEEDHOUSE_UPSTREAM_CREDENTIAL_MIRROR",
                }
            ]
        },
    )
    assert status == 400 and "another host" in body["message"]


def test_credentials_are_not_sent_along_a_redirect_to_another_host(upstream, upstream_settings):
    with FakeIndex() as cdn:
        upstream_settings.setenv(
            "FEEDHOUSE_UPSTREAM_CREDENTIAL_M2", f"http://ci:secret@127.0.0.1:{upstream.fake.port}/"
        )
        filename, data = make_wheel("cdnlib", "1.0")
        entry = upstream.entry(filename, data)
        cdn.routes[f"/blob/{filename}"] = upstream.fake.routes[upstream.file_path(filename)]
        upstream.fake.routes[upstream.file_path(filename)] = redirect(f"{cdn.url}/blob/{filename}")
        upstream.project("cdnlib", [entry])
        feed = new_feed(
            [{"type": "index", "url": upstream.url, "credential": "FEEDHOUSE_UPSTREAM_CREDENTIAL_M2"}]
        )
        assert get_file(feed, "cdnlib", filename).get_body() == data
        assert [r.headers.get("authorization") for r in cdn.requests] == [None]


def test_files_over_the_size_limit_are_refused_and_not_saved(upstream, upstream_settings):
    upstream_settings.setenv("FEEDHOUSE_UPSTREAM_MAX_FILE_BYTES", "100")
    filename, data = make_wheel("hefty", "1.0")
    upstream.project("hefty", [upstream.entry(filename, data)])
    feed = new_feed([index(upstream.url)])
    response = get_file(feed, "hefty", filename)
    assert response.status_code == 502 and b"at most 100" in response.get_body()
    assert saved(feed, "hefty") == []


def test_pages_over_the_size_limit_fail_that_upstream(upstream, upstream_settings):
    upstream_settings.setenv("FEEDHOUSE_UPSTREAM_MAX_PAGE_BYTES", "200")
    filename, data = make_wheel("wordy", "1.0")
    upstream.project("wordy", [upstream.entry(filename, data, **{"requires-python": ">=3.8" + " " * 300})])
    feed = new_feed([index(upstream.url)])
    response = page(feed, "wordy")
    assert response.status_code == 502 and b"200" in response.get_body()


def test_redirects_beyond_the_limit_are_refused(upstream):
    filename, data = make_wheel("loopy", "1.0")
    upstream.project("loopy", [upstream.entry(filename, data)])
    for hop in range(10):
        upstream.fake.routes[f"/hop/{hop}"] = redirect(f"{upstream.fake.url}/hop/{hop + 1}")
    upstream.fake.routes[upstream.file_path(filename)] = redirect(f"{upstream.fake.url}/hop/0")
    feed = new_feed([index(upstream.url)])
    response = get_file(feed, "loopy", filename)
    assert response.status_code == 502 and b"redirected more than" in response.get_body()
    assert saved(feed, "loopy") == []


def test_unavailable_header_names_only_the_origin(upstream):
    feed = new_feed([index(upstream.fake.url + "/tok-999/simple/")])
    upstream.fake.routes["/tok-999/simple/named/"] = Reply(status=500)
    publish_wheel(feed, "named", "1.0")
    call(
        package_upstreaming,
        "PUT",
        "/",
        json_body={"allow_external_versions": True},
        feed=feed,
        project="named",
    )
    response = page(feed, "named")
    assert response.status_code == 200
    assert response.headers[UNAVAILABLE_HEADER] == f"index {upstream.fake.url}"
    assert json.loads(response.get_body())["files"]
    assert "tok-999" not in str(response.headers)
