"""Views and promotion (issue 14): ``/{feed}@{view}/...`` serves only promoted versions, with the feed's
files, hashes, metadata files and yanks; a view's visibility may be wider than the feed's; promotion is
additive and recorded; bad input is a 4xx that changes nothing."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor

import pytest

from functions.feeds_api import feed_view, feed_views
from functions.files import download
from functions.packages_api import version_item, version_views, yank
from functions.pypi_json import project_json
from functions.simple import project_detail, project_list
from shared.roles import Role
from tests.support.publish import call, publish_wheel
from tests.support.upstreams import new_feed, user

JSON_ACCEPT = {"Accept": "application/vnd.pypi.simple.v1+json"}


def _promote(feed: str, project: str, version: str, view: object, token: str | None = None):
    kwargs = {"token": token} if token else {}
    return call(
        version_views,
        "POST",
        f"/api/feeds/{feed}/packages/{project}/versions/{version}/views",
        json_body={"view": view},
        feed=feed,
        project=project,
        version=version,
        **kwargs,
    )


def _views_of(feed: str, project: str, version: str):
    return call(
        version_views,
        "GET",
        f"/api/feeds/{feed}/packages/{project}/versions/{version}/views",
        feed=feed,
        project=project,
        version=version,
    )


def _page(name: str, project: str, token: str | None = None) -> tuple[int, dict]:
    kwargs = {"token": token} if token is not None else {"token": None}
    response = call(
        project_detail,
        "GET",
        f"/{name}/simple/{project}/",
        feed=name,
        project=project,
        headers=JSON_ACCEPT,
        **kwargs,
    )
    body = json.loads(response.get_body()) if response.status_code == 200 else {}
    return response.status_code, body


def _filenames(body: dict) -> list[str]:
    return [f["filename"] for f in body["files"]]


def _published(visibility: str = "private") -> str:
    feed = new_feed(visibility=visibility)
    for version in ("1.0", "1.1", "2.0"):
        publish_wheel(feed, "view-demo", version)
    return feed


def test_a_view_lists_only_promoted_versions_with_the_feeds_hashes(storage):
    feed = _published()
    assert _page(f"{feed}@release", "view-demo", token=None)[0] == 401
    from tests.conftest import ADMIN_TOKEN

    assert _page(f"{feed}@release", "view-demo", token=ADMIN_TOKEN)[0] == 404  # nothing promoted yet
    response = _promote(feed, "view-demo", "1.1", "release")
    assert response.status_code == 200, response.get_body()
    assert [v["view"] for v in json.loads(response.get_body())["views"]] == ["local", "release"]

    status, body = _page(f"{feed}@release", "view-demo", token=ADMIN_TOKEN)
    assert status == 200
    assert _filenames(body) == ["view_demo-1.1-py3-none-any.whl"]
    assert body["versions"] == ["1.1"]
    _, whole = _page(feed, "view-demo", token=ADMIN_TOKEN)
    assert len(whole["files"]) == 3  # the feed itself is @local: unchanged
    assert _page(f"{feed}@local", "view-demo", token=ADMIN_TOKEN)[1] == whole
    in_feed = next(f for f in whole["files"] if f["filename"] == "view_demo-1.1-py3-none-any.whl")
    assert body["files"][0] == in_feed  # same hashes, metadata hash, size, upload time

    # Files and metadata through the view: promoted ones only.
    ok = call(
        download,
        "GET",
        "/x",
        feed=f"{feed}@release",
        project="view-demo",
        filename="view_demo-1.1-py3-none-any.whl",
    )
    assert ok.status_code == 200
    meta = call(
        download,
        "GET",
        "/x",
        feed=f"{feed}@release",
        project="view-demo",
        filename="view_demo-1.1-py3-none-any.whl.metadata",
    )
    assert meta.status_code == 200
    missing = call(
        download,
        "GET",
        "/x",
        feed=f"{feed}@release",
        project="view-demo",
        filename="view_demo-2.0-py3-none-any.whl",
    )
    assert missing.status_code == 404

    # The project list of the view, and the JSON API.
    listing = call(
        project_list, "GET", f"/{feed}@release/simple/", feed=f"{feed}@release", headers=JSON_ACCEPT
    )
    assert [p["name"] for p in json.loads(listing.get_body())["projects"]] == ["view-demo"]
    other = call(
        project_list, "GET", f"/{feed}@prerelease/simple/", feed=f"{feed}@prerelease", headers=JSON_ACCEPT
    )
    assert json.loads(other.get_body())["projects"] == []
    document = call(project_json, "GET", "/x", feed=f"{feed}@release", project="view-demo")
    releases = json.loads(document.get_body())["releases"]
    assert list(releases) == ["1.1"]
    assert f"/{feed}@release/files/" in releases["1.1"][0]["url"]

    views = json.loads(_views_of(feed, "view-demo", "1.1").get_body())["views"]
    assert views[1]["view"] == "release" and views[1]["promoted_by"] == "admin" and views[1]["promoted_at"]
    assert [v["view"] for v in json.loads(_views_of(feed, "view-demo", "2.0").get_body())["views"]] == [
        "local"
    ]


def test_promotion_is_additive_and_keeps_who_and_when(storage):
    feed = _published()
    first = json.loads(_promote(feed, "view-demo", "1.0", "release").get_body())["views"]
    again = json.loads(_promote(feed, "view-demo", "1.0", "@release").get_body())["views"]
    assert first == again
    both = json.loads(_promote(feed, "view-demo", "1.0", "prerelease").get_body())["views"]
    assert [v["view"] for v in both] == ["local", "prerelease", "release"] or [v["view"] for v in both] == [
        "local",
        "release",
        "prerelease",
    ]


def test_yank_shows_and_delete_hides_through_views(storage):
    feed = _published()
    from tests.conftest import ADMIN_TOKEN

    for version in ("1.0", "1.1"):
        assert _promote(feed, "view-demo", version, "release").status_code == 200
    assert (
        call(
            yank,
            "POST",
            "/x",
            feed=feed,
            project="view-demo",
            version="1.0",
            json_body={"reason": "broken"},
        ).status_code
        == 200
    )
    deleted = call(version_item, "DELETE", "/x", feed=feed, project="view-demo", version="1.1")
    assert deleted.status_code == 200
    _, body = _page(f"{feed}@release", "view-demo", token=ADMIN_TOKEN)
    assert _filenames(body) == ["view_demo-1.0-py3-none-any.whl"]
    assert body["files"][0]["yanked"] == "broken"
    gone = call(
        download,
        "GET",
        "/x",
        feed=f"{feed}@release",
        project="view-demo",
        filename="view_demo-1.1-py3-none-any.whl",
    )
    assert gone.status_code == 404


def test_a_view_may_be_wider_than_its_private_feed(storage):
    feed = _published("private")
    assert _promote(feed, "view-demo", "2.0", "release").status_code == 200
    widened = call(feed_view, "PATCH", "/x", feed=feed, view="release", json_body={"visibility": "public"})
    assert widened.status_code == 200, widened.get_body()
    status, body = _page(f"{feed}@release", "view-demo", token=None)
    assert status == 200 and _filenames(body) == ["view_demo-2.0-py3-none-any.whl"]
    assert _page(feed, "view-demo", token=None)[0] == 401  # the feed stays private
    assert _page(f"{feed}@prerelease", "view-demo", token=None)[0] == 401
    anonymous_file = call(
        download,
        "GET",
        "/x",
        token=None,
        feed=f"{feed}@release",
        project="view-demo",
        filename="view_demo-2.0-py3-none-any.whl",
    )
    assert anonymous_file.status_code == 200
    assert "public" in anonymous_file.headers["Cache-Control"]
    outsider = user()
    assert _page(feed, "view-demo", token=outsider)[0] == 403
    assert _page(f"{feed}@release", "view-demo", token=outsider)[0] == 200
    listed = json.loads(call(feed_views, "GET", "/x", feed=feed).get_body())["views"]
    assert {v["name"]: v["visibility"] for v in listed} == {
        "local": "private",
        "prerelease": "private",
        "release": "public",
    }


def test_owners_add_and_remove_their_own_views(storage):
    feed = _published()
    from tests.conftest import ADMIN_TOKEN

    added = call(feed_views, "POST", "/x", feed=feed, json_body={"name": "QA", "visibility": "organization"})
    assert added.status_code == 201, added.get_body()
    assert _promote(feed, "view-demo", "1.0", "qa").status_code == 200
    assert _filenames(_page(f"{feed}@qa", "view-demo", token=ADMIN_TOKEN)[1]) == [
        "view_demo-1.0-py3-none-any.whl"
    ]
    assert call(feed_view, "DELETE", "/x", feed=feed, view="qa").status_code == 200
    assert _page(f"{feed}@qa", "view-demo", token=ADMIN_TOKEN)[0] == 404
    # Added again under the same name, it starts empty.
    assert call(feed_views, "POST", "/x", feed=feed, json_body={"name": "qa"}).status_code == 201
    assert _page(f"{feed}@qa", "view-demo", token=ADMIN_TOKEN)[0] == 404


@pytest.mark.parametrize(
    "body",
    [
        {"name": "a@b"},
        {"name": "a/b"},
        {"name": "release"},
        {"name": "Local"},
        {"name": ""},
        {"name": "x" * 65},
        {"name": "with space"},
        {"name": 7},
        {"name": "ok", "visibility": "secret"},
        {"name": "ok", "extra": 1},
        ["qa"],
    ],
)
def test_bad_view_names_are_refused_and_change_nothing(storage, body):
    feed = new_feed()
    before = call(feed_views, "GET", "/x", feed=feed).get_body()
    response = call(feed_views, "POST", "/x", feed=feed, json_body=body)
    assert response.status_code == 400, response.get_body()
    assert json.loads(response.get_body())["message"]
    assert call(feed_views, "GET", "/x", feed=feed).get_body() == before


@pytest.mark.parametrize("view", ["local", "prerelease", "release"])
def test_built_in_views_cannot_be_removed(storage, view):
    feed = new_feed()
    assert call(feed_view, "DELETE", "/x", feed=feed, view=view).status_code == 400


def test_bad_promotions_are_refused_and_change_nothing(storage):
    feed = _published()
    call(version_item, "DELETE", "/x", feed=feed, project="view-demo", version="2.0")
    cases = [
        ("1.0", "nosuch", 404),
        ("1.0", "local", 400),
        ("1.0", 5, 400),
        ("9.9", "release", 404),
        ("2.0", "release", 404),  # deleted
        ("not a version", "release", 404),
    ]
    for version, view, status in cases:
        response = _promote(feed, "view-demo", version, view)
        assert response.status_code == status, (version, view, response.get_body())
    no_body = call(
        version_views,
        "POST",
        "/x",
        feed=feed,
        project="view-demo",
        version="1.0",
        json_body={"views": "release"},
    )
    assert no_body.status_code == 400
    assert [v["view"] for v in json.loads(_views_of(feed, "view-demo", "1.0").get_body())["views"]] == [
        "local"
    ]
    listing = call(
        project_list, "GET", f"/{feed}@release/simple/", feed=f"{feed}@release", headers=JSON_ACCEPT
    )
    assert json.loads(listing.get_body())["projects"] == []


def test_views_are_read_only_and_unknown_views_are_404(storage):
    feed = _published()
    from tests.conftest import ADMIN_TOKEN

    assert _page(f"{feed}@nosuch", "view-demo", token=ADMIN_TOKEN)[0] == 404
    assert _page(f"{feed}@", "view-demo", token=ADMIN_TOKEN)[0] == 404
    assert _page("nosuchfeed@release", "view-demo", token=None)[0] == 401
    reader = user(feed, Role.READER)
    assert _page(f"{feed}@nosuch", "view-demo", token=reader)[0] == 404
    assert _page(f"{feed}@nosuch", "view-demo", token=user())[0] == 403  # learns nothing of the feed


def test_promote_during_version_delete_never_shows_a_deleted_version(storage):
    from tests.conftest import ADMIN_TOKEN

    feed = new_feed()
    rounds = 15
    for n in range(rounds):
        publish_wheel(feed, "race-demo", f"1.{n}")

    def promote(n: int) -> int:
        return _promote(feed, "race-demo", f"1.{n}", "release").status_code

    def delete(n: int) -> int:
        return call(
            version_item, "DELETE", "/x", feed=feed, project="race-demo", version=f"1.{n}"
        ).status_code

    with ThreadPoolExecutor(2) as pool:
        for n in range(rounds):
            promoted, deleted = pool.submit(promote, n), pool.submit(delete, n)
            assert promoted.result() in (200, 404)
            assert deleted.result() == 200
            status, body = _page(f"{feed}@release", "race-demo", token=ADMIN_TOKEN)
            assert status in (200, 404)
            if status == 200:
                assert _filenames(body) == []


def test_a_view_is_another_feeds_upstream(storage):
    from tests.conftest import ADMIN_TOKEN
    from tests.support.upstreams import patch_feed

    team = _published("private")
    assert _promote(team, "view-demo", "1.1", "release").status_code == 200
    consumer = new_feed(visibility="private")
    for bad in (f"{team}@nosuch", f"{team}@", f"{team}@a/b", f"{team}@a@b"):
        status, refused = patch_feed(consumer, {"upstreams": [{"type": "feed", "feed": bad}]})
        assert status == 400, refused
    status, patched = patch_feed(consumer, {"upstreams": [{"type": "feed", "feed": f"{team}@release"}]})
    assert status == 200, patched
    assert patched["upstreams"] == [{"type": "feed", "feed": f"{team}@release"}]

    status, body = _page(consumer, "view-demo", token=ADMIN_TOKEN)
    assert status == 200
    assert _filenames(body) == ["view_demo-1.1-py3-none-any.whl"]
    got = call(
        download, "GET", "/x", feed=consumer, project="view-demo", filename="view_demo-1.1-py3-none-any.whl"
    )
    assert got.status_code == 200
    unpromoted = call(
        download, "GET", "/x", feed=consumer, project="view-demo", filename="view_demo-2.0-py3-none-any.whl"
    )
    assert unpromoted.status_code == 404

    # A reader of the consumer who may not read the private team feed sees the public view's files.
    call(feed_view, "PATCH", "/x", feed=team, view="release", json_body={"visibility": "organization"})
    reader = user(consumer, Role.READER)
    status, body = _page(consumer, "view-demo", token=reader)
    assert status == 200 and _filenames(body) == ["view_demo-1.1-py3-none-any.whl"]


def test_uploading_to_a_view_is_refused_and_stores_nothing(storage):
    from tests.support.dists import make_wheel
    from tests.support.publish import publish

    feed = _published()
    filename, data = make_wheel("view-demo", "3.0")
    response = publish(f"{feed}@release", filename, data, "view-demo", "3.0")
    assert response.status_code == 400
    assert b"read-only" in response.get_body()
    from tests.conftest import ADMIN_TOKEN

    assert len(_page(feed, "view-demo", token=ADMIN_TOKEN)[1]["files"]) == 3
