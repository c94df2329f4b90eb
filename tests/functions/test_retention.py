"""Retention wired (issue 14): the feed's policy, owner pins, registered lockfiles, the preview and the
run, with their refusals (a 4xx that changes nothing) and their races."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest
from packaging.version import Version

from functions.feeds_api import feed_changes, feed_item
from functions.packages_api import recycle_bin, version_views
from functions.retention_api import lockfile_item, lockfiles_collection, retention_preview, version_pin
from shared import download_counts, feeds, retaining
from shared.keys import LOCKFILES_TABLE
from shared.lockfiles import MAX_LOCKFILE_BYTES
from shared.roles import Role
from tests.conftest import ADMIN_TOKEN
from tests.support.http import basic, json_of, request
from tests.support.publish import call, json_page, publish_wheel
from tests.support.stored import blob_names, key_of
from tests.support.upstreams import patch_feed, user

PROJECT = "kept-demo"
VERSIONS = ("1.0", "1.1", "1.2", "1.3", "1.4", "1.5", "1.6", "1.7")
UV_LOCK = f"""version = 1
requires-python = ">=3.11"

[[package]]
name = "{PROJECT}"
version = "1.1"
source = {{ registry = "https://example.invalid/simple/" }}
""".encode()


def _feed_body(feed: str) -> dict:
    return json_of(call(feed_item, "GET", f"/api/feeds/{feed}", feed=feed))


def _changes(feed: str) -> list[dict]:
    response = call(feed_changes, "GET", f"/api/feeds/{feed}/changes", feed=feed, params={"order": "oldest"})
    return json_of(response)["changes"]


def _put_lockfile(feed: str, name: str, body: bytes, headers: dict[str, str] | None = None):
    return lockfile_item(
        request(
            "PUT",
            f"/api/feeds/{feed}/lockfiles/{name}",
            route_params={"feed": feed, "name": name},
            body=body,
            headers={**basic(ADMIN_TOKEN), **(headers or {})},
        )
    )


def _pin(feed: str, project: str, version: str, method: str = "PUT", **kwargs):
    return call(
        version_pin,
        method,
        f"/api/feeds/{feed}/packages/{project}/versions/{version}/pin",
        feed=feed,
        project=project,
        version=version,
        **kwargs,
    )


def _preview(feed: str, **params: str):
    return call(
        retention_preview, "GET", f"/api/feeds/{feed}/retention/preview", feed=feed, params=params or None
    )


def _active_versions(feed: str, project: str) -> list[str]:
    from shared.packages import read_project
    from shared.storage import get_storage

    records = read_project(get_storage(), key_of(feed), project)
    return sorted({f.version for f in records.active})


# The policy ------------------------------------------------------------------------------------


def test_the_policy_is_a_feed_setting_shown_and_recorded(feed_name):
    assert _feed_body(feed_name)["retention"] is None
    status, body = patch_feed(feed_name, {"retention": {"max_versions": 5, "keep_downloaded_days": 30}})
    assert status == 200, body
    assert body["retention"] == {"max_versions": 5, "keep_downloaded_days": 30}
    assert _feed_body(feed_name)["retention"] == {"max_versions": 5, "keep_downloaded_days": 30}
    update = [c for c in _changes(feed_name) if c["action"] == "feed.update"][-1]
    assert update["changes"]["retention"]["to"] == {"max_versions": 5, "keep_downloaded_days": 30}
    # Other settings leave it alone; null removes it.
    assert patch_feed(feed_name, {"description": "x"})[1]["retention"]["max_versions"] == 5
    assert patch_feed(feed_name, {"retention": None})[1]["retention"] is None


@pytest.mark.parametrize(
    "policy",
    [
        {"max_versions": -1},
        {"max_versions": 0},
        {"max_versions": 10**12},
        {"max_versions": True},
        {"max_versions": 2.5},
        {"keep_downloaded_days": -3},
        {"keep_downloaded_days": 10**6},
        {"max_version": 3},
        [5],
        "5",
    ],
)
def test_absurd_policies_are_400_and_change_nothing(feed_name, policy):
    patch_feed(feed_name, {"retention": {"max_versions": 7}})
    status, body = patch_feed(feed_name, {"retention": policy})
    assert status == 400, body
    assert body["message"]
    assert _feed_body(feed_name)["retention"] == {"max_versions": 7, "keep_downloaded_days": None}


# Lockfiles -------------------------------------------------------------------------------------


def test_lockfiles_are_registered_listed_read_and_removed(feed_name, storage):
    response = _put_lockfile(feed_name, "uv.lock", UV_LOCK)
    assert response.status_code == 200, response.get_body()
    assert json_of(response)["format"] == "uv.lock"
    assert json_of(response)["pins"] == 1
    listed = json_of(call(lockfiles_collection, "GET", "/", feed=feed_name))["lockfiles"]
    assert [f["name"] for f in listed] == ["uv.lock"]
    one = json_of(call(lockfile_item, "GET", "/", feed=feed_name, name="uv.lock"))
    assert [(p["project"], p["version"]) for p in one["pins"]] == [(PROJECT, "1.1")]
    actions = [c["action"] for c in _changes(feed_name)]
    assert "lockfile.register" in actions
    assert call(lockfile_item, "DELETE", "/", feed=feed_name, name="uv.lock").status_code == 204
    assert json_of(call(lockfiles_collection, "GET", "/", feed=feed_name))["lockfiles"] == []
    assert blob_names(f"{key_of(feed_name)}/_lockfiles/") == []
    assert "lockfile.unregister" in [c["action"] for c in _changes(feed_name)]
    assert call(lockfile_item, "GET", "/", feed=feed_name, name="uv.lock").status_code == 404


@pytest.mark.parametrize(
    ("name", "body"),
    [
        ("uv.lock", b"this is [not toml"),
        ("requirements.txt", b"flask>=2\n"),  # not pinned
        ("requirements.txt", b"-r other.txt\n"),
        ("poetry.lock", b"\xff\xfe"),
        ("uv.lock", b'version = 1\n[[package]]\nname = "x"\nversion = "not a version!"\n'),
    ],
)
def test_malformed_lockfiles_are_400_and_store_nothing(feed_name, name, body):
    response = _put_lockfile(feed_name, name, body)
    assert response.status_code == 400, response.get_body()
    assert json_of(response)["message"]
    assert json_of(call(lockfiles_collection, "GET", "/", feed=feed_name))["lockfiles"] == []
    assert blob_names(f"{key_of(feed_name)}/_lockfiles/") == []


def test_a_lockfile_too_large_is_refused_by_its_declared_length(feed_name):
    response = _put_lockfile(feed_name, "uv.lock", UV_LOCK, {"Content-Length": str(MAX_LOCKFILE_BYTES + 1)})
    assert response.status_code == 413
    assert json_of(call(lockfiles_collection, "GET", "/", feed=feed_name))["lockfiles"] == []


def test_registering_a_name_again_replaces_the_lockfile_and_its_blobs(feed_name):
    assert _put_lockfile(feed_name, "requirements.txt", f"{PROJECT}==1.0\n".encode()).status_code == 200
    before = blob_names(f"{key_of(feed_name)}/_lockfiles/")
    replaced = _put_lockfile(feed_name, "requirements.txt", f"{PROJECT}==2.0\nother==3.0\n".encode())
    assert json_of(replaced)["pins"] == 2
    after = blob_names(f"{key_of(feed_name)}/_lockfiles/")
    assert len(after) == 2 and not set(before) & set(after)
    one = json_of(call(lockfile_item, "GET", "/", feed=feed_name, name="requirements.txt"))
    assert [(p["project"], p["version"]) for p in one["pins"]] == [(PROJECT, "2.0"), ("other", "3.0")]


def test_a_lockfile_replaced_while_its_pins_are_read_is_read_again(feed_name, storage, monkeypatch):
    assert _put_lockfile(feed_name, "uv.lock", UV_LOCK).status_code == 200
    read = storage.read_blob
    replaced = []

    def replaced_first(name, *args, **kwargs):
        if name.endswith("pins.json") and not replaced:
            replaced.append(name)
            requirements = f"{PROJECT}==1.1\n{PROJECT.replace('demo', 'other')}==2.0\n"
            assert call(lockfile_item, "DELETE", "/", feed=feed_name, name="uv.lock").status_code == 204
            assert _put_lockfile(feed_name, "requirements.txt", requirements.encode()).status_code == 200
        return read(name, *args, **kwargs)

    monkeypatch.setattr(storage, "read_blob", replaced_first)
    pins = retaining.lockfile_pins(storage, key_of(feed_name))
    assert pins.pinning(PROJECT, Version("1.1")) == ("requirements.txt",)


def test_a_feed_has_at_most_100_lockfiles(feed_name, monkeypatch):
    monkeypatch.setattr(retaining, "MAX_LOCKFILES", 3)
    for n in range(3):
        assert _put_lockfile(feed_name, f"r{n}.txt", b"a==1\n").status_code == 200
    refused = _put_lockfile(feed_name, "r3.txt", b"a==1\n")
    assert refused.status_code == 409
    assert "at most 3" in json_of(refused)["message"]
    assert len(json_of(call(lockfiles_collection, "GET", "/", feed=feed_name))["lockfiles"]) == 3
    assert _put_lockfile(feed_name, "r0.txt", b"a==2\n").status_code == 200  # replacing is no new one


def test_unknown_feed_and_lockfile_are_404():
    assert call(lockfiles_collection, "GET", "/", feed="no-such-feed-here").status_code == 404
    assert _put_lockfile("no-such-feed-here", "uv.lock", UV_LOCK).status_code == 404


def test_a_purged_feed_takes_its_lockfiles_along(feed_name, storage):
    assert _put_lockfile(feed_name, "uv.lock", UV_LOCK).status_code == 200
    key = key_of(feed_name)
    feeds.delete_feed(storage, feed_name, by="test")
    feeds.purge_feed(storage, feed_name)
    assert storage.partition(LOCKFILES_TABLE, key) == []
    assert blob_names(f"{key}/") == []


# Pins ------------------------------------------------------------------------------------------


def test_owner_pins_and_their_refusals(feed_name):
    publish_wheel(feed_name, PROJECT, "1.0")
    assert _pin(feed_name, PROJECT, "9.9").status_code == 404
    assert _pin(feed_name, "no-such-project", "1.0").status_code == 404
    assert _pin(feed_name, PROJECT, "not a version").status_code == 404
    assert _pin("no-such-feed-here", PROJECT, "1.0").status_code == 404
    contributor = user(feed_name, Role.CONTRIBUTOR)
    assert _pin(feed_name, PROJECT, "1.0", token=contributor).status_code == 403
    assert json_of(_pin(feed_name, PROJECT, "1.0"))["pinned"] is True
    assert "version.pin" in [c["action"] for c in _changes(feed_name)]
    assert json_of(_pin(feed_name, PROJECT, "1.0", "DELETE"))["pinned"] is False


# Preview and run -------------------------------------------------------------------------------


@pytest.fixture
def many(feed_name, monkeypatch):
    """Eight versions: 1.0 pinned by an owner, 1.1 by a lockfile, 1.2 in @release, 1.3 downloaded
    recently (the download source faked), the two newest within a limit of two."""
    for version in VERSIONS:
        publish_wheel(feed_name, PROJECT, version)
    assert _pin(feed_name, PROJECT, "1.0").status_code == 200
    assert _put_lockfile(feed_name, "uv.lock", UV_LOCK).status_code == 200
    promoted = call(
        version_views,
        "POST",
        "/",
        json_body={"view": "release"},
        feed=feed_name,
        project=PROJECT,
        version="1.2",
    )
    assert promoted.status_code == 200, promoted.get_body()
    later = datetime.now(UTC) + timedelta(days=60)
    downloaded = {"1.3": later - timedelta(days=1)}
    monkeypatch.setattr(download_counts, "last_downloads", lambda storage, feed_key, project: downloaded)
    return feed_name, later


def test_the_preview_says_what_goes_and_why_each_version_stays(many):
    feed, _later = many
    response = _preview(feed, max_versions="2")
    assert response.status_code == 200, response.get_body()
    body = json_of(response)
    assert body["policy"] == {"max_versions": 2, "keep_downloaded_days": None}
    (plan,) = body["projects"]
    assert plan["delete"] == ["1.5", "1.4", "1.3"]  # no D: a download protects nothing
    reasons = {v["version"]: {r["reason"] for r in v["reasons"]} for v in plan["versions"]}
    assert reasons["1.7"] == {"within_count_limit"}
    assert "pinned_by_owner" in reasons["1.0"]
    assert "pinned_by_lockfile" in reasons["1.1"]
    assert "in_view" in reasons["1.2"]
    # Without a stored policy and no query, nothing would be deleted.
    assert json_of(_preview(feed))["projects"] == []
    # A preview deletes nothing.
    assert _active_versions(feed, PROJECT) == list(VERSIONS)


@pytest.mark.parametrize(
    "params", [{"max_versions": "-1"}, {"max_versions": "x"}, {"keep_downloaded_days": "99999999"}]
)
def test_absurd_preview_numbers_are_400(feed_name, params):
    response = _preview(feed_name, **params)
    assert response.status_code == 400
    assert json_of(response)["message"]


def test_the_preview_pages_by_project(feed_name):
    for project in ("page-a", "page-b", "page-c"):
        publish_wheel(feed_name, project, "1.0")
        publish_wheel(feed_name, project, "2.0")
    first = json_of(_preview(feed_name, max_versions="1", limit="2"))
    assert [p["project"] for p in first["projects"]] == ["page-a", "page-b"]
    assert first["next"].startswith(f"/api/feeds/{feed_name}/retention/preview?max_versions=1")
    second = json_of(_preview(feed_name, max_versions="1", limit="2", continuation=first["continuation"]))
    assert [p["project"] for p in second["projects"]] == ["page-c"]
    assert second["projects"][0]["delete"] == ["1.0"]


def test_a_run_deletes_to_the_recycle_bin_what_the_preview_showed(many, storage):
    feed, later = many
    patch_feed(feed, {"retention": {"max_versions": 2, "keep_downloaded_days": 30}})
    stored = feeds.get_feed(storage, feed)
    (shown,), _ = retaining.preview(storage, stored, stored.retention, continuation=None, limit=10, now=later)
    assert shown.deletions == ("1.5", "1.4")
    deleted = retaining.apply_all(storage, now=later)
    assert sorted((d.project, d.version) for d in deleted if d.feed == feed) == [
        (PROJECT, "1.4"),
        (PROJECT, "1.5"),
    ]
    assert _active_versions(feed, PROJECT) == ["1.0", "1.1", "1.2", "1.3", "1.6", "1.7"]
    binned = json_of(call(recycle_bin, "GET", "/", feed=feed))
    assert {(e["version"], e["files"][0]["deleted_by"]) for e in binned["versions"]} == {
        ("1.4", "retention:policy"),
        ("1.5", "retention:policy"),
    }
    deletions = [c for c in _changes(feed) if c["action"] == "version.delete"]
    assert {(c["user"], c["version"]) for c in deletions} == {
        ("retention:policy", "1.4"),
        ("retention:policy", "1.5"),
    }
    # Nothing more to do on a second run.
    assert [d for d in retaining.apply_all(storage, now=later) if d.feed == feed] == []


def test_a_pin_landing_between_plan_and_delete_wins(many, storage, monkeypatch):
    feed, later = many
    patch_feed(feed, {"retention": {"max_versions": 2}})
    planned = retaining.plan_project

    def plan_then_pin(*args, **kwargs):
        result = planned(*args, **kwargs)
        if kwargs.get("records") is None:  # the run's plan, not its check just before a delete
            _pin(feed, PROJECT, "1.5")
        return result

    monkeypatch.setattr(retaining, "plan_project", plan_then_pin)
    deleted = [d.version for d in retaining.apply(storage, feeds.get_feed(storage, feed), now=later)]
    assert "1.5" not in deleted
    assert "1.5" in _active_versions(feed, PROJECT)


def _publish_all(feed: str, versions: list[str]) -> None:
    for version in versions:
        publish_wheel(feed, PROJECT, version)


def test_retention_during_uploads_never_deletes_the_newest(feed_name, storage):
    """Race: a run while versions are uploaded. Each round publishes two newer versions while a run
    with max_versions=2 goes; they are never deleted, and the feed's page lists exactly what is active."""
    patch_feed(feed_name, {"retention": {"max_versions": 2}})
    publish_wheel(feed_name, PROJECT, "0.1")
    feed = feeds.get_feed(storage, feed_name)
    for round_ in range(8):
        newer = [f"{round_ + 1}.0", f"{round_ + 1}.1"]
        uploader = threading.Thread(target=_publish_all, args=(feed_name, newer))
        uploader.start()
        retaining.apply(storage, feed, now=datetime.now(UTC))
        uploader.join()
        active = _active_versions(feed_name, PROJECT)
        assert set(newer) <= set(active), (round_, active)
        page = json_page(feed_name, PROJECT)
        listed = {f["filename"].split("-")[1] for f in page["files"]}
        assert listed == set(active)
    retaining.apply(storage, feed, now=datetime.now(UTC))
    assert _active_versions(feed_name, PROJECT) == ["8.0", "8.1"]


def test_feed_settings_show_the_policy_and_link_a_page_of_what_would_go(many, storage):
    from functions import web
    from tests.support.web import admin_browser, text, visit

    feed, _later = many
    browser = admin_browser(storage)
    settings_page = text(visit(web.web_feed_settings, "GET", "/", browser=browser, feed=feed))
    assert "No retention policy" in settings_page
    assert "no retention policy" in text(visit(web.web_retention, "GET", "/", browser=browser, feed=feed))
    patch_feed(feed, {"retention": {"max_versions": 2}})
    settings_page = text(visit(web.web_feed_settings, "GET", "/", browser=browser, feed=feed))
    assert "at most 2 versions" in settings_page and f"/-/feeds/{feed}/retention" in settings_page
    page = text(visit(web.web_retention, "GET", "/", browser=browser, feed=feed))
    assert "not among the 2 newest (#3)" in page and "1.5" in page and "1.7" not in page
