"""Change history: each kind of change leaves one entry, with who, when, which client and what; pages
in both orders with a continuation; never a secret; simultaneous entries never collide."""

from __future__ import annotations

import secrets
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import pytest

from functions.feeds_api import (
    feed_bin_purge,
    feed_bin_restore,
    feed_changes,
    feed_item,
    feed_permission,
    feeds_collection,
)
from functions.files import download
from functions.packages_api import file_item, purge, restore, unyank, version_item, yank
from functions.tokens_api import token_changes, token_item, tokens_collection
from functions.trusted_publishing import trusted_publisher, trusted_publishers
from functions.upload import upload
from shared import history, lifecycle
from shared.keys import HISTORY_TABLE
from shared.packages import parse_time
from tests.conftest import ADMIN_TOKEN
from tests.support.dists import make_wheel
from tests.support.http import basic, json_of, request
from tests.support.multipart import encode, upload_fields
from tests.support.publish import call, publish_wheel
from tests.support.stored import key_of
from tests.support.upstream_server import FakeIndex
from tests.support.upstreams import ScriptedIndex, index

pytestmark = pytest.mark.usefixtures("app_env")

AGENT = "pip/25.1 {json} test-" + secrets.token_hex(3)


def changes(feed: str, **params: str) -> list[dict[str, Any]]:
    """The whole history, newest first unless ``order`` says otherwise, page after page."""
    seen: list[dict[str, Any]] = []
    query = {"limit": "1000", **params}
    while True:
        response = call(feed_changes, "GET", f"/api/feeds/{feed}/changes", params=query, feed=feed)
        assert response.status_code == 200, response.get_body()
        body = json_of(response)
        seen += body["changes"]
        if body["continuation"] is None:
            assert body["next"] is None
            return seen
        query = {**query, "continuation": body["continuation"]}


def last(feed: str, action: str) -> dict[str, Any]:
    return next(c for c in changes(feed) if c["action"] == action)


def api(handler, method: str, path: str = "/", *, token: str = ADMIN_TOKEN, json_body: Any = None, **route):
    """A call as a client with AGENT as its user agent."""
    return call(
        handler, method, path, token=token, headers={"User-Agent": AGENT}, json_body=json_body, **route
    )


def test_feed_settings_delete_and_restore_are_recorded(storage):
    name = "h-" + secrets.token_hex(5)
    assert api(feeds_collection, "POST", json_body={"name": name, "description": "first"}).status_code == 201
    created = last(name, history.FEED_CREATE)
    assert created["user"] == "admin" and created["agent"] == AGENT
    assert created["settings"]["description"] == "first"
    assert datetime.now(UTC) - parse_time(created["at"]) < timedelta(minutes=1)

    patch = {"description": "second", "visibility": "public"}
    assert api(feed_item, "PATCH", json_body=patch, feed=name).status_code == 200
    updated = last(name, history.FEED_UPDATE)
    assert updated["changes"] == {
        "description": {"from": "first", "to": "second"},
        "visibility": {"from": "private", "to": "public"},
    }

    assert api(feed_item, "DELETE", feed=name).status_code == 204
    assert api(feed_bin_restore, "POST", feed=name).status_code == 200
    actions = [c["action"] for c in changes(name, order="oldest")]
    assert actions == [
        history.FEED_CREATE,
        history.FEED_UPDATE,
        history.FEED_DELETE,
        history.FEED_RESTORE,
    ]
    assert last(name, history.FEED_DELETE)["user"] == "admin"

    # A purge takes the history with the feed.
    key = key_of(name)
    assert api(feed_item, "DELETE", feed=name).status_code == 204
    assert api(feed_bin_purge, "DELETE", feed=name).status_code == 204
    assert (
        history.feed_changes(storage, key, order=history.ORDERS["oldest"], continuation=None, limit=10)[0]
        == []
    )


def test_publish_yank_delete_restore_purge_are_recorded_with_who_and_which_client(storage, feed_name):
    filename, data = make_wheel("hist", "1.0")
    body, content_type = encode(upload_fields("hist", "1.0", filename, data))
    uploaded = upload(
        request(
            "POST",
            f"/{feed_name}/upload/",
            route_params={"feed": feed_name},
            body=body,
            headers={"Content-Type": content_type, "User-Agent": AGENT, **basic(ADMIN_TOKEN)},
        )
    )
    assert uploaded.status_code == 200
    published = last(feed_name, history.PUBLISH)
    assert published | {"at": None} == {
        "at": None,
        "user": "admin",
        "agent": AGENT,
        "action": history.PUBLISH,
        "project": "hist",
        "version": "1.0",
        "filename": filename,
    }
    # The identical file again changes nothing, and records nothing.
    assert (
        upload(
            request(
                "POST",
                f"/{feed_name}/upload/",
                route_params={"feed": feed_name},
                body=body,
                headers={"Content-Type": content_type, **basic(ADMIN_TOKEN)},
            )
        ).status_code
        == 200
    )
    assert [c["action"] for c in changes(feed_name)].count(history.PUBLISH) == 1

    version = {"feed": feed_name, "project": "hist", "version": "1.0"}
    assert api(yank, "POST", json_body={"reason": "broken"}, **version).status_code == 200
    assert last(feed_name, history.YANK)["reason"] == "broken"
    assert api(unyank, "POST", **version).status_code == 200
    assert last(feed_name, history.UNYANK)["version"] == "1.0"
    assert api(version_item, "DELETE", **version).status_code == 200
    assert last(feed_name, history.VERSION_DELETE)["files"] == 1
    assert api(restore, "POST", **version).status_code == 200
    assert last(feed_name, history.VERSION_RESTORE)["files"] == 1
    assert api(file_item, "DELETE", feed=feed_name, project="hist", filename=filename).status_code == 200
    assert last(feed_name, history.FILE_DELETE)["filename"] == filename
    assert api(purge, "DELETE", **version).status_code == 200
    purged = last(feed_name, history.VERSION_PURGE)
    assert purged["files"] == 1 and purged["agent"] == AGENT and purged["user"] == "admin"

    # The daily purge is by the system, from no client.
    publish_wheel(feed_name, "timed", "1.0")
    lifecycle.delete_version(storage, key_of(feed_name), "timed", "1.0", by="admin", now=datetime.now(UTC))
    lifecycle.purge_expired(storage, now=datetime.now(UTC) + timedelta(days=1), retention=timedelta(0))
    timed = last(feed_name, history.VERSION_PURGE)
    assert (timed["project"], timed["user"], timed["agent"]) == ("timed", history.SYSTEM, None)


def test_permission_and_trusted_publisher_changes_are_recorded(feed_name):
    route = {"feed": feed_name, "user": "Carol"}
    assert api(feed_permission, "PUT", json_body={"role": "contributor"}, **route).status_code == 200
    granted = last(feed_name, history.PERMISSION_GRANT)
    assert (granted["grantee"], granted["role"], granted["agent"]) == ("carol", "contributor", AGENT)
    assert api(feed_permission, "DELETE", **route).status_code == 204
    assert last(feed_name, history.PERMISSION_REVOKE)["grantee"] == "carol"

    registration = {"kind": "github", "repository": "o/r", "workflow": "release.yml"}
    added = api(trusted_publishers, "POST", json_body=registration, feed=feed_name)
    assert added.status_code == 201
    publisher_id = json_of(added)["id"]
    entry = last(feed_name, history.PUBLISHER_ADD)
    assert entry["publisher"]["id"] == publisher_id and entry["publisher"]["repository"] == "o/r"
    assert api(trusted_publisher, "DELETE", feed=feed_name, publisher_id=publisher_id).status_code == 204
    assert last(feed_name, history.PUBLISHER_REMOVE)["publisher"]["id"] == publisher_id


def test_promotions_and_view_changes_are_recorded(feed_name):
    from functions.feeds_api import feed_views
    from functions.packages_api import version_views

    publish_wheel(feed_name, "hist-views", "1.0")
    route = {"feed": feed_name, "project": "hist-views", "version": "1.0"}
    assert api(version_views, "POST", json_body={"view": "release"}, **route).status_code == 200
    promoted = last(feed_name, history.PROMOTE)
    assert (promoted["project"], promoted["version"], promoted["view"]) == ("hist-views", "1.0", "release")
    assert api(version_views, "POST", json_body={"view": "release"}, **route).status_code == 200
    assert len([e for e in changes(feed_name) if e["action"] == history.PROMOTE]) == 1  # again: no change

    assert api(feed_views, "POST", json_body={"name": "qa"}, feed=feed_name).status_code == 201
    assert "qa" in last(feed_name, history.VIEWS_CHANGE)["changes"]["views"]["to"]


@pytest.fixture
def upstream(upstream_settings) -> Iterator[ScriptedIndex]:
    with FakeIndex() as fake:
        yield ScriptedIndex(fake)


def test_a_save_from_upstream_is_recorded(upstream):
    filename, data = make_wheel("offered", "1.0")
    upstream.project("offered", [upstream.entry(filename, data)])
    name = "h-up-" + secrets.token_hex(4)
    body = {"name": name, "upstreams": [index(upstream.url)]}
    assert call(feeds_collection, "POST", "/", json_body=body).status_code == 201
    got = api(download, "GET", feed=name, project="offered", filename=filename)
    assert got.status_code == 200 and got.get_body() == data
    saved = last(name, history.SAVE)
    assert (saved["filename"], saved["version"], saved["user"], saved["agent"]) == (
        filename,
        "1.0",
        "admin",
        AGENT,
    )
    assert saved["upstream"]


def test_token_creation_and_revocation_go_into_the_users_history_and_no_secret_anywhere(storage):
    user = "hist-" + secrets.token_hex(4)
    created = api(tokens_collection, "POST", json_body={"name": "ci", "user": user, "scope": "publish"})
    assert created.status_code == 201
    token = json_of(created)
    child = api(tokens_collection, "POST", json_body={"name": "child"}, token=token["token"])
    assert child.status_code == 403  # publish scope manages no tokens; nothing recorded for it
    assert api(token_item, "DELETE", token_id=token["id"]).status_code == 204

    mine = call(token_changes, "GET", "/api/tokens/changes", token=None)
    assert mine.status_code == 401
    listing = call(
        token_changes, "GET", "/api/tokens/changes", params={"user": user.upper(), "order": "oldest"}
    )
    assert listing.status_code == 200, listing.get_body()
    entries = json_of(listing)["changes"]
    assert [e["action"] for e in entries] == [history.TOKEN_CREATE, history.TOKEN_REVOKE]
    assert entries[0] | {"at": None} == {
        "at": None,
        "user": "admin",
        "agent": AGENT,
        "action": history.TOKEN_CREATE,
        "id": token["id"],
        "name": "ci",
        "scope": "publish",
        "feeds": None,
        "expires": token["expires"],
        "parent": None,
    }
    assert entries[1]["id"] == token["id"]

    # No secret is stored in any history row: neither the token nor a part of it, nor its hash.
    secret_part = token["token"].rsplit("_", 1)[1]
    rows = "\n".join(repr(r) for r in storage._table_clients[HISTORY_TABLE].list_entities())
    assert token["id"] in rows
    assert token["token"] not in rows and secret_part not in rows
    assert tokens_hash(secret_part) not in rows
    assert ADMIN_TOKEN not in rows


def tokens_hash(secret: str) -> str:
    from shared import tokens

    return tokens._hash(secret)


def test_the_admin_names_a_user_and_a_user_reads_only_their_own(storage):
    from shared import tokens
    from shared.tokens import Scope

    user = "own-" + secrets.token_hex(4)
    _, secret = tokens.create_token(storage, user=user, name="mine", scope=Scope.MANAGE)
    own = call(token_changes, "GET", "/", token=secret, params={"user": "someone-else"})
    assert [e["name"] for e in json_of(own)["changes"]] == ["mine"]  # ?user= is the admin's alone
    assert call(token_changes, "GET", "/").status_code == 400  # the admin names a user


def test_pages_in_both_orders_with_a_continuation_and_refusals(storage, feed_name):
    key = key_of(feed_name)
    for n in range(7):
        history.record(storage, key, "test.step", by="tester", step=n)
    oldest = [c["step"] for c in changes(feed_name, order="oldest") if c["action"] == "test.step"]
    newest = [c["step"] for c in changes(feed_name) if c["action"] == "test.step"]
    assert oldest == list(range(7)) and newest == list(reversed(range(7)))
    paged = [c["step"] for c in changes(feed_name, order="oldest", limit="2") if c["action"] == "test.step"]
    assert paged == list(range(7))

    first = json_of(call(feed_changes, "GET", "/", params={"limit": "3", "order": "oldest"}, feed=feed_name))
    assert len(first["changes"]) == 3 and first["next"].startswith(f"/api/feeds/{feed_name}/changes?")
    for params in (
        {"order": "sideways"},
        {"limit": "0"},
        {"limit": "1001"},
        {"continuation": ""},
        {"continuation": "garbage"},
        # A continuation of the other order, or of another feed, is not this one's.
        {"continuation": first["continuation"]},
    ):
        response = call(feed_changes, "GET", "/", params=params, feed=feed_name)
        assert response.status_code == 400, (params, response.get_body())
    assert call(feed_changes, "GET", "/", feed="no-such-" + secrets.token_hex(3)).status_code == 404


def test_simultaneous_entries_never_collide(storage, feed_name):
    key = key_of(feed_name)
    writers = 16
    for round_ in range(10):
        start = threading.Barrier(writers)

        def write(n: int, r: int = round_, barrier: threading.Barrier = start) -> None:
            barrier.wait()
            history.record(storage, key, "test.burst", by="tester", round=r, n=n)

        with ThreadPoolExecutor(writers) as pool:
            list(pool.map(write, range(writers)))
    burst = [(c["round"], c["n"]) for c in changes(feed_name, order="oldest") if c["action"] == "test.burst"]
    assert sorted(burst) == [(r, n) for r in range(10) for n in range(writers)]
    newest = [(c["round"], c["n"]) for c in changes(feed_name) if c["action"] == "test.burst"]
    assert sorted(newest) == sorted(burst)


def test_an_index_upstreams_url_is_kept_by_host_only(upstream):
    """An index URL's path can hold an access token (some hosted indexes put it there): the history
    keeps the host, as readers see the upstream."""
    name = "h-idx-" + secrets.token_hex(4)
    host = urlsplit(upstream.url).hostname
    secret_path = f"{upstream.url.rstrip('/')}/t0ken-{secrets.token_hex(8)}/simple/"
    body = {"name": name, "upstreams": [{"type": "index", "url": secret_path}]}
    created = call(feeds_collection, "POST", "/", json_body=body)
    assert created.status_code == 201, created.get_body()
    assert api(feed_item, "PATCH", json_body={"upstreams": []}, feed=name).status_code == 200
    entries = changes(name, order="oldest")
    assert "t0ken-" not in repr(entries)
    assert entries[0]["settings"]["upstreams"] == [{"type": "index", "host": host}]
    assert entries[1]["changes"]["upstreams"]["from"] == [{"type": "index", "host": host}]
