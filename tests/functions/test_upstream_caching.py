"""What shared caches may keep: nothing whose content depends on who asks.

A feed upstream is read with the caller's rights, so a public feed whose upstream is a feed that not
everyone may read shows signed-in callers files that anonymous callers cannot see. Every route that
can merge such an upstream must then answer ``private`` (pages also ``Vary: Authorization``), or a CDN
or company proxy could hand one caller's view to anyone.
"""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest

from functions.files import download
from functions.pypi_json import project_json
from functions.simple import project_detail, project_list
from shared.roles import Role
from tests.support.publish import call, publish_wheel
from tests.support.upstreams import new_feed, patch_feed, user

pytestmark = pytest.mark.usefixtures("upstream_settings")
JSON_ACCEPT = {"Accept": "application/vnd.pypi.simple.v1+json"}


def shared_cacheable(response) -> bool:
    return "public" in response.headers.get("Cache-Control", "")


def varies_by_caller(response) -> bool:
    return "authorization" in response.headers.get("Vary", "").lower()


def get(handler, token: str | None, method: str = "GET", headers: dict[str, str] | None = None, **route):
    kwargs = {"token": token} if token else {"token": None}
    return call(handler, method, "/", headers=headers, **kwargs, **route)


@pytest.fixture
def behind_a_private_feed():
    """A public feed whose upstream is a private feed: (public feed, private feed, wheel, reader of
    both). The project 'inner' is only in the private feed; 'mixed' is in both."""
    private = new_feed()
    wheel, _ = publish_wheel(private, "inner", "1.0")
    publish_wheel(private, "mixed", "2.0")
    public = new_feed([{"type": "feed", "feed": private}], visibility="public")
    publish_wheel(public, "mixed", "1.0")
    patch_feed(public, {"readers_save": False})
    return public, private, wheel, user(private, Role.READER)


@pytest.mark.parametrize("accept", [{}, JSON_ACCEPT], ids=["html", "json"])
@pytest.mark.parametrize("method", ["GET", "HEAD"])
def test_pages_that_merge_a_private_feed_upstream_are_private(behind_a_private_feed, accept, method):
    public, _private, wheel, reader = behind_a_private_feed
    signed_in = get(project_detail, reader, method, accept, feed=public, project="inner")
    assert signed_in.status_code == 200
    if method == "GET":
        assert wheel.encode() in signed_in.get_body()
    assert not shared_cacheable(signed_in) and "private" in signed_in.headers["Cache-Control"]
    assert varies_by_caller(signed_in)
    # Anonymous callers see less of 'mixed' than signed-in ones: their view is per caller too.
    for token in (None, reader):
        response = get(project_detail, token, method, accept, feed=public, project="mixed")
        assert response.status_code == 200
        assert not shared_cacheable(response) and varies_by_caller(response)
    revalidated = get(
        project_detail,
        reader,
        method,
        {**accept, "If-None-Match": signed_in.headers["ETag"]},
        feed=public,
        project="inner",
    )
    assert revalidated.status_code == 304 and not shared_cacheable(revalidated)
    # What anonymous callers are told is not kept for others either.
    missing = get(project_detail, None, method, accept, feed=public, project="inner")
    assert missing.status_code == 404 and missing.headers["Cache-Control"] == "no-store"


@pytest.mark.parametrize("method", ["GET", "HEAD"])
def test_files_and_metadata_from_a_private_feed_upstream_are_private(behind_a_private_feed, method):
    public, _private, wheel, reader = behind_a_private_feed
    for filename in (wheel, wheel + ".metadata"):
        response = get(download, reader, method, feed=public, project="inner", filename=filename)
        assert response.status_code == 200, response.get_body()
        assert not shared_cacheable(response) and "private" in response.headers["Cache-Control"]
        missing = get(download, None, method, feed=public, project="inner", filename=filename)
        assert missing.status_code == 404 and missing.headers["Cache-Control"] == "no-store"


def test_a_file_of_a_private_feed_upstream_is_never_saved_into_the_public_feed(behind_a_private_feed):
    public, _private, wheel, reader = behind_a_private_feed
    patch_feed(public, {"readers_save": True})
    for _ in range(2):
        response = get(download, reader, feed=public, project="inner", filename=wheel)
        assert response.status_code == 200 and not shared_cacheable(response)
        anonymous = get(download, None, feed=public, project="inner", filename=wheel)
        assert anonymous.status_code == 404 and not shared_cacheable(anonymous)


def test_a_redirect_to_a_private_feed_upstreams_file_is_private_too(
    behind_a_private_feed, redirect_downloads
):
    public, _private, wheel, reader = behind_a_private_feed
    response = get(download, reader, feed=public, project="inner", filename=wheel)
    assert response.status_code == 302 and response.headers["Cache-Control"] == "no-store"
    # The blob answers the SAS URL with the Cache-Control the URL names (rscc).
    (blob_cache_control,) = parse_qs(urlsplit(response.headers["Location"]).query)["rscc"]
    assert "private" in blob_cache_control and "public" not in blob_cache_control


def test_public_feeds_whose_upstream_feeds_are_public_stay_publicly_cacheable():
    source = new_feed(visibility="public")
    wheel, _ = publish_wheel(source, "open", "1.0")
    public = new_feed([{"type": "feed", "feed": source}], visibility="public")
    patch_feed(public, {"readers_save": False})
    for token in (None, user()):
        page = get(project_detail, token, headers=JSON_ACCEPT, feed=public, project="open")
        assert page.status_code == 200 and shared_cacheable(page) and not varies_by_caller(page)
        file = get(download, token, feed=public, project="open", filename=wheel)
        assert file.status_code == 200 and shared_cacheable(file)


def test_routes_that_show_only_the_feeds_own_records_stay_publicly_cacheable(behind_a_private_feed):
    public, _private, _wheel, reader = behind_a_private_feed
    for token in (None, reader):
        listing = get(project_list, token, feed=public)
        assert listing.status_code == 200 and shared_cacheable(listing)
        document = get(project_json, token, feed=public, project="mixed")
        assert document.status_code == 200 and shared_cacheable(document)
