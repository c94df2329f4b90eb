"""The feed recycle bin: a deleted feed keeps its name and everything in it until it is restored, as it
was, or purged (by an owner or the admin, or by the daily timer once its days are over)."""

from __future__ import annotations

import secrets
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import azure.functions as func
import pytest

from functions.feeds_api import (
    feed_bin,
    feed_bin_purge,
    feed_bin_restore,
    feed_item,
    feed_permissions,
    feeds_collection,
)
from functions.files import download
from functions.packages_api import packages_collection
from functions.pypi_json import project_json
from functions.simple import project_detail, project_list
from functions.trusted_publishing import trusted_publishers
from shared import feeds, roles, tokens
from shared.packages import parse_time
from shared.roles import Role
from shared.tokens import Scope
from tests.support.http import json_of
from tests.support.publish import call, json_page, publish_wheel
from tests.support.stored import blob_names

ROUNDS = 20

pytestmark = pytest.mark.usefixtures("app_env")


def race(*sends: Callable[[], func.HttpResponse]) -> list[int]:
    """Send the requests at the same instant (a barrier releases them together); their statuses."""
    start = threading.Barrier(len(sends))

    def run(send: Callable[[], func.HttpResponse]) -> int:
        start.wait()
        return send().status_code

    with ThreadPoolExecutor(len(sends)) as pool:
        return list(pool.map(run, sends))


def user_with_token(storage, scope: Scope = Scope.MANAGE) -> tuple[str, str]:
    user = "u-" + secrets.token_hex(4)
    _, secret = tokens.create_token(storage, user=user, name="bin", scope=scope)
    return user, secret


def owned_feed(storage, owner: str, **fields) -> str:
    name = "bin-" + secrets.token_hex(5)
    created = call(feeds_collection, "POST", "/api/feeds", json_body={"name": name, "owner": owner, **fields})
    assert created.status_code == 201, created.get_body()
    return name


def delete(name: str, token: str | None = None) -> func.HttpResponse:
    kwargs = {"token": token} if token else {}
    return call(feed_item, "DELETE", f"/api/feeds/{name}", feed=name, **kwargs)


def restore(name: str, token: str | None = None) -> func.HttpResponse:
    kwargs = {"token": token} if token else {}
    return call(feed_bin_restore, "POST", f"/api/recycle-bin/feeds/{name}/restore", feed=name, **kwargs)


def purge(name: str, token: str | None = None) -> func.HttpResponse:
    kwargs = {"token": token} if token else {}
    return call(feed_bin_purge, "DELETE", f"/api/recycle-bin/feeds/{name}", feed=name, **kwargs)


def listed(token: str | None = None) -> list[str]:
    kwargs = {"token": token} if token else {}
    return [f["name"] for f in json_of(call(feed_bin, "GET", "/api/recycle-bin/feeds", **kwargs))["feeds"]]


def test_a_deleted_feed_answers_404_everywhere_keeps_its_name_and_comes_back_as_it_was(storage):
    owner, secret = user_with_token(storage)
    name = owned_feed(
        storage,
        owner,
        visibility="organization",
        description="kept",
        upstreams=[{"type": "pypi"}],
        claimed_patterns=["acme-*"],
    )
    filename, data = publish_wheel(name, "binned", "1.0")
    call(feed_permissions, "GET", "/", feed=name)
    roles.grant(storage, feeds.get_feed(storage, name).key, "reader-" + secrets.token_hex(3), Role.READER)
    publisher = call(
        trusted_publishers,
        "POST",
        "/",
        feed=name,
        json_body={"kind": "github", "repository": "o/r", "workflow": "release.yml"},
    )
    assert publisher.status_code == 201, publisher.get_body()
    before = json_of(call(feed_item, "GET", "/", feed=name))
    grants_before = roles.grants(storage, before["id"])
    blobs_before = blob_names(f"{before['id']}/")

    assert delete(name, secret).status_code == 204
    for handler, route in (
        (project_list, {}),
        (project_detail, {"project": "binned"}),
        (download, {"project": "binned", "filename": filename}),
        (project_json, {"project": "binned"}),
        (feed_item, {}),
        (packages_collection, {}),
    ):
        assert call(handler, "GET", f"/{name}/", feed=name, **route).status_code == 404, handler.__name__
    assert name not in [f["name"] for f in json_of(call(feeds_collection, "GET", "/api/feeds"))["feeds"]]
    again = call(feeds_collection, "POST", "/api/feeds", json_body={"name": name.upper()})
    assert again.status_code == 409 and "recycle bin" in json_of(again)["message"]
    assert json_of(again)["error"] == "feed_in_recycle_bin"

    entry = next(
        f for f in json_of(call(feed_bin, "GET", "/api/recycle-bin/feeds"))["feeds"] if f["name"] == name
    )
    assert entry["deleted_by"] == owner and entry["id"] == before["id"]
    assert parse_time(entry["purge_after"]) - parse_time(entry["deleted_at"]) == timedelta(days=30)
    assert name in listed(secret)

    restored = restore(name, secret)
    assert restored.status_code == 200, restored.get_body()
    assert json_of(restored) == before
    assert json_of(call(feed_item, "GET", "/", feed=name)) == before
    assert roles.grants(storage, before["id"]) == grants_before
    assert blob_names(f"{before['id']}/") == blobs_before
    assert len(json_of(call(trusted_publishers, "GET", "/", feed=name))["trusted_publishers"]) == 1
    got = call(download, "GET", "/", feed=name, project="binned", filename=filename)
    assert got.status_code == 200 and got.get_body() == data
    assert name not in listed()


def test_only_owners_and_the_admin_see_restore_and_purge_a_deleted_feed(storage):
    owner, owner_secret = user_with_token(storage)
    contributor, contributor_secret = user_with_token(storage)
    _, outsider_secret = user_with_token(storage)
    name = owned_feed(storage, owner, visibility="public")
    roles.grant(storage, feeds.get_feed(storage, name).key, contributor, Role.CONTRIBUTOR)
    assert delete(name, contributor_secret).status_code == 403
    assert delete(name, owner_secret).status_code == 204

    assert name in listed(owner_secret) and name in listed()
    assert name not in listed(contributor_secret) and name not in listed(outsider_secret)
    anonymous_list = call(feed_bin, "GET", "/", token=None)
    assert anonymous_list.status_code == 200 and json_of(anonymous_list)["feeds"] == []

    for refused in (restore, purge):
        assert refused(name, contributor_secret).status_code == 403
        assert refused(name, outsider_secret).status_code == 403
        anonymous = call(refused_handler(refused), "POST", "/", token=None, feed=name)
        assert anonymous.status_code == 401
    # A token limited to other feeds manages none of this one's bin either.
    _, narrow = tokens.create_token(storage, user=owner, name="narrow", scope=Scope.MANAGE, feeds=("other",))
    assert restore(name, narrow).status_code == 403
    assert name not in listed(narrow)

    assert restore(name, owner_secret).status_code == 200


def refused_handler(
    send: Callable[..., func.HttpResponse],
) -> Callable[[func.HttpRequest], func.HttpResponse]:
    return feed_bin_restore if send is restore else feed_bin_purge


def test_refusals_unknown_feed_live_feed_and_purging_twice(storage, feed_name):
    unknown = "no-such-" + secrets.token_hex(4)
    assert restore(unknown).status_code == 404
    assert purge(unknown).status_code == 404
    assert restore("bad/name").status_code == 404

    live_restore = restore(feed_name)
    assert live_restore.status_code == 409 and json_of(live_restore)["error"] == "feed_not_in_recycle_bin"
    assert purge(feed_name).status_code == 409
    assert feeds.find_feed(storage, feed_name) is not None

    publish_wheel(feed_name, "gone", "1.0")
    key = feeds.get_feed(storage, feed_name).key
    assert delete(feed_name).status_code == 204
    assert delete(feed_name).status_code == 404  # already in the bin
    assert purge(feed_name).status_code == 204
    assert purge(feed_name).status_code == 404
    assert restore(feed_name).status_code == 404
    assert blob_names(f"{key}/") == []
    # The name is free again, and the new feed starts empty.
    assert call(feeds_collection, "POST", "/", json_body={"name": feed_name}).status_code == 201
    assert json_page(feed_name, "gone") == 404


def test_the_timer_purges_feeds_past_their_days_blobs_included(storage, monkeypatch):
    from functions.maintenance import sweep_deleted_feeds
    from shared import settings

    kept = "bin-kept-" + secrets.token_hex(4)
    expired = "bin-old-" + secrets.token_hex(4)
    for name in (kept, expired):
        call(feeds_collection, "POST", "/", json_body={"name": name})
        publish_wheel(name, "timed", "1.0")
    expired_key = feeds.get_feed(storage, expired).key
    feeds.delete_feed(storage, kept, by="admin")
    feeds.delete_feed(storage, expired, by="admin")
    now = datetime.now(UTC)

    assert feeds.purge_expired(storage, now=now + timedelta(days=29), days=30) == []
    purged = feeds.purge_expired(storage, now=now + timedelta(days=31), days=30)
    assert {f.name for f in purged} >= {kept, expired}
    assert blob_names(f"{expired_key}/") == []
    assert restore(expired).status_code == 404

    # And through the timer itself, with its setting.
    name = "bin-timer-" + secrets.token_hex(4)
    call(feeds_collection, "POST", "/", json_body={"name": name})
    feeds.delete_feed(storage, name, by="admin")
    monkeypatch.setenv("FEEDHOUSE_FEED_RECYCLE_BIN_DAYS", "0")
    settings.load.cache_clear()
    try:
        sweep_deleted_feeds(None)
    finally:
        monkeypatch.undo()
        settings.load.cache_clear()
    assert feeds.find_feed_even_deleted(storage, name) is None


def test_the_timer_leaves_a_feed_restored_meanwhile(storage, feed_name):
    feeds.delete_feed(storage, feed_name, by="admin")
    stale = feeds.list_deleted_feeds(storage)
    assert restore(feed_name).status_code == 200
    # The timer read the bin before the restore, and purges after it: the restore wins.
    original = feeds.list_deleted_feeds
    try:
        feeds.list_deleted_feeds = lambda _storage: stale
        assert feed_name not in [f.name for f in feeds.purge_expired(storage, now=datetime.now(UTC), days=0)]
    finally:
        feeds.list_deleted_feeds = original
    assert feeds.find_feed(storage, feed_name) is not None


def test_two_restores_of_one_feed_one_wins_the_other_is_409(storage):
    for round_ in range(ROUNDS):
        name = "bin-rr-" + secrets.token_hex(4)
        call(feeds_collection, "POST", "/", json_body={"name": name})
        assert delete(name).status_code == 204
        statuses = sorted(race(lambda n=name: restore(n), lambda n=name: restore(n)))
        assert statuses == [200, 409], f"round {round_}: {statuses}"
        assert feeds.find_feed(storage, name) is not None


def test_a_restore_racing_a_purge_leaves_the_feed_whole_or_gone(storage):
    for round_ in range(ROUNDS):
        name = "bin-rp-" + secrets.token_hex(4)
        call(feeds_collection, "POST", "/", json_body={"name": name})
        filename, data = publish_wheel(name, "raced", "1.0")
        key = feeds.get_feed(storage, name).key
        assert delete(name).status_code == 204
        restored, purged = race(lambda n=name: restore(n), lambda n=name: purge(n))
        if restored == 200:
            assert purged in (409, 404), f"round {round_}: {restored}, {purged}"
            got = call(download, "GET", "/", feed=name, project="raced", filename=filename)
            assert got.status_code == 200 and got.get_body() == data, f"round {round_}"
        else:
            assert (restored, purged) in ((404, 204), (409, 204)), f"round {round_}: {restored}, {purged}"
            assert feeds.find_feed_even_deleted(storage, name) is None
            assert blob_names(f"{key}/") == [], f"round {round_}"


def test_a_publish_racing_the_delete_is_there_after_the_restore_if_it_answered_200(storage):
    from tests.functions.test_feeds_api_deletion import upload_request

    for round_ in range(ROUNDS):
        name = "bin-pd-" + secrets.token_hex(4)
        call(feeds_collection, "POST", "/", json_body={"name": name})
        uploaded, deleted = race(
            upload_request(name, "racer", "1.0"),
            lambda n=name: delete(n),
        )
        assert deleted == 204 and uploaded in (200, 404), f"round {round_}: {uploaded}, {deleted}"
        assert restore(name).status_code == 200
        page = json_page(name, "racer")
        if uploaded == 200:
            assert page != 404 and len(page["files"]) == 1, f"round {round_}: the upload is lost"
        else:
            assert page == 404, f"round {round_}: a refused upload shows"
