"""Purging a deleted feed: nothing of it survives, not even what a request racing the delete writes.

(Deleting a feed moves it to the recycle bin, tests/functions/test_feed_recycle_bin.py; here each
delete is followed at once by the purge, which is what frees the name.)

A feed's contents are stored under its id, given at creation, never under its name: a write that
raced the delete lands under the old id, which no later feed of that name uses, and the maintenance
sweep removes it. Races loop many rounds; each round is one barrier-started pair of requests.
"""

from __future__ import annotations

import secrets
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import azure.functions as func
import pytest

from functions.feeds_api import feed_bin_purge, feed_item, feed_permission, feeds_collection
from functions.files import download
from functions.simple import project_list
from shared import feeds, roles, tokens
from shared.keys import FEEDS_TABLE, FILES_TABLE, PERMISSIONS_TABLE, PROJECTS_TABLE, files_partition
from shared.storage import get_storage
from shared.tokens import Scope
from tests.conftest import ADMIN_TOKEN
from tests.support.dists import make_wheel
from tests.support.http import basic, json_of, request
from tests.support.multipart import encode, upload_fields
from tests.support.publish import call, json_page, publish_wheel
from tests.support.stored import blob_names
from tests.support.upstream_server import FakeIndex
from tests.support.upstreams import ScriptedIndex, index, sha256

ADMIN = basic(ADMIN_TOKEN)
ROUNDS = 20
GRANT_ROUNDS = 50


def race(*sends: Callable[[], func.HttpResponse]) -> list[int]:
    """Send the requests at the same instant (a barrier releases them together); their statuses."""
    start = threading.Barrier(len(sends))

    def run(send: Callable[[], func.HttpResponse]) -> int:
        start.wait()
        return send().status_code

    with ThreadPoolExecutor(len(sends)) as pool:
        return list(pool.map(run, sends))


def upload_request(feed: str, project: str, version: str) -> Callable[[], func.HttpResponse]:
    from functions.upload import upload

    filename, data = make_wheel(project, version)
    body, content_type = encode(upload_fields(project, version, filename, data))
    req = request(
        "POST",
        f"/{feed}/upload/",
        route_params={"feed": feed},
        body=body,
        headers={"Content-Type": content_type, **ADMIN},
    )
    return lambda: upload(req)


def download_request(feed: str, project: str, filename: str) -> Callable[[], func.HttpResponse]:
    route = {"feed": feed, "project": project, "filename": filename}
    req = request("GET", f"/{feed}/files/{project}/{filename}", route_params=route, headers=ADMIN)
    return lambda: download(req)


def grant_request(feed: str, user: str) -> Callable[[], func.HttpResponse]:
    route = {"feed": feed, "user": user}
    req = request("PUT", "/", route_params=route, json_body={"role": "owner"}, headers=ADMIN)
    return lambda: feed_permission(req)


def delete_request(feed: str) -> Callable[[], func.HttpResponse]:
    """The delete, then the purge at once: its status is the delete's, or the purge's if that fails."""
    req = request("DELETE", f"/api/feeds/{feed}", route_params={"feed": feed}, headers=ADMIN)
    purge = request("DELETE", f"/api/recycle-bin/feeds/{feed}", route_params={"feed": feed}, headers=ADMIN)

    def send() -> func.HttpResponse:
        deleted = feed_item(req)
        return feed_bin_purge(purge) if deleted.status_code == 204 else deleted

    return send


def create(name: str, **fields) -> dict:
    """A feed created through the API by the admin, without owner: its JSON."""
    response = call(feeds_collection, "POST", "/api/feeds", json_body={"name": name, **fields})
    assert response.status_code == 201, response.get_body()
    return json_of(response)


def project_names(feed: str) -> list[str]:
    response = call(
        project_list,
        "GET",
        f"/{feed}/simple/",
        headers={"Accept": "application/vnd.pypi.simple.v1+json"},
        feed=feed,
    )
    assert response.status_code == 200, response.get_body()
    return [p["name"] for p in json_of(response)["projects"]]


def assert_inherits_nothing(feed: str, project: str, round_: int) -> None:
    """The feed, just created again under its old name, shows nothing of the deleted one."""
    assert project_names(feed) == [], f"round {round_}: the new feed lists the old feed's project"
    assert json_page(feed, project) == 404, f"round {round_}: the new feed serves the old feed's page"


@pytest.mark.usefixtures("app_env")
def test_an_upload_racing_a_feed_delete_never_shows_in_the_next_feed_of_that_name():
    for round_ in range(ROUNDS):
        name = "del-up-" + secrets.token_hex(4)
        create(name)
        statuses = race(upload_request(name, "racer", "1.0"), delete_request(name))
        # The upload either came first (200: the delete then removes it) or found no feed (404).
        assert statuses[0] in (200, 404) and statuses[1] == 204, f"round {round_}: {statuses}"
        create(name)
        assert_inherits_nothing(name, "racer", round_)


@pytest.fixture
def upstream(upstream_settings) -> Iterator[ScriptedIndex]:
    with FakeIndex() as fake:
        yield ScriptedIndex(fake)


def test_an_upstream_save_racing_a_feed_delete_never_shows_in_the_next_feed_of_that_name(upstream):
    filename, data = make_wheel("offered", "1.0")
    upstream.project("offered", [upstream.entry(filename, data)])
    for round_ in range(ROUNDS):
        name = "del-save-" + secrets.token_hex(4)
        create(name, upstreams=[index(upstream.url)])
        statuses = race(download_request(name, "offered", filename), delete_request(name))
        assert statuses[0] in (200, 404) and statuses[1] == 204, f"round {round_}: {statuses}"
        create(name)  # without upstreams: whatever its page shows would be the old feed's
        assert_inherits_nothing(name, "offered", round_)


@pytest.mark.usefixtures("app_env")
def test_a_grant_racing_a_feed_delete_never_applies_to_the_next_feed_of_that_name(storage):
    grantee = "grantee-" + secrets.token_hex(4)
    _, secret = tokens.create_token(storage, user=grantee, name="race", scope=Scope.MANAGE)
    for round_ in range(GRANT_ROUNDS):
        name = "del-grant-" + secrets.token_hex(4)
        create(name)
        statuses = race(grant_request(name, grantee), delete_request(name))
        assert statuses[0] in (200, 404) and statuses[1] == 204, f"round {round_}: {statuses}"
        create(name)  # private, and the admin names no owner: nobody holds a role on it
        new = feeds.get_feed(storage, name)
        assert roles.grants(storage, new.key) == [], f"round {round_}: the old feed's grant applies"
        mine = call(feed_item, "GET", f"/api/feeds/{name}", token=secret, feed=name)
        assert mine.status_code == 403, f"round {round_}: the grantee reads the new feed"


def stored_under(key: str) -> dict[str, list]:
    """Everything stored under a feed key, by kind."""
    storage = get_storage()
    return {
        "projects": storage.partition(PROJECTS_TABLE, key),
        "files": storage.partitions_with_prefix(FILES_TABLE, files_partition(key, "")),
        "grants": storage.partition(PERMISSIONS_TABLE, key),
        "users' grants": storage.partitions_with_prefix(PERMISSIONS_TABLE, "@", row=key),
        "blobs": blob_names(f"{key}/"),
    }


def test_the_sweep_removes_what_requests_that_read_the_feed_before_its_delete_wrote_after_it(
    upstream, monkeypatch
):
    """Deterministically what the races above hit by chance: requests that read the feed before its
    delete write under its id after the delete's own sweep. Nothing shows them; the timer's sweep,
    once no such request can still be running, removes them and then the tombstone."""
    storage = get_storage()
    filename, data = make_wheel("offered", "1.0")
    upstream.project("offered", [upstream.entry(filename, data)])
    name = "del-late-" + secrets.token_hex(4)
    create(name, upstreams=[index(upstream.url)])
    stale = feeds.get_feed(storage, name)
    grantee = "late-" + secrets.token_hex(4)
    assert delete_request(name)().status_code == 204
    deleted_at = datetime.now(UTC)

    with monkeypatch.context() as late:
        late.setattr(feeds, "find_feed", lambda _storage, _name: stale)
        assert upload_request(name, "uploaded", "1.0")().status_code == 200
        assert download_request(name, "offered", filename)().status_code == 200
        assert grant_request(name, grantee)().status_code == 200
    left = stored_under(stale.key)
    assert all(left.values()), left  # each kind of write landed under the old id

    new = create(name)
    assert new["id"] != stale.key
    assert project_names(name) == [] and json_page(name, "uploaded") == 404
    assert roles.grants(storage, new["id"]) == []
    assert feeds.roles_by_feed_name(storage, grantee) == {}
    publish_wheel(name, "kept", "1.0")

    # Not yet: a request that read the feed before its delete may still be writing.
    assert stale.key not in [s.key for s in feeds.sweep_deleted(storage, now=deleted_at)]
    assert stored_under(stale.key) == left

    later = deleted_at + feeds.SWEEP_AFTER + timedelta(seconds=1)
    swept = feeds.sweep_deleted(storage, now=later)
    assert feeds.SweptFeed(name, stale.key) in swept
    assert not any(stored_under(stale.key).values())
    assert stale.key not in [s.key for s in feeds.sweep_deleted(storage, now=later)]  # the tombstone is gone
    assert project_names(name) == ["kept"]  # the new feed of that name keeps its own


@pytest.mark.usefixtures("app_env")
def test_a_feed_stored_before_ids_keeps_its_files_under_its_name_until_it_is_deleted():
    """Feeds created before feeds had ids have none on their row: they keep their lower-cased name as
    key, where their data is. A new feed of that name, after the old one is deleted, gets an id."""
    storage = get_storage()
    name = "Legacy-" + secrets.token_hex(4)
    storage.insert(
        FEEDS_TABLE,
        {
            "PartitionKey": "feed",
            "RowKey": name.lower(),
            "Name": name,
            "Description": "",
            "Visibility": "public",
            "Created": "2024-01-02T03:04:05.000000Z",
        },
    )
    legacy = feeds.get_feed(storage, name)
    assert legacy.key == name.lower()
    filename, data = publish_wheel(name, "old", "1.0")
    assert f"{name.lower()}/old/{sha256(data)}/{filename}" in blob_names(f"{name.lower()}/")
    assert project_names(name) == ["old"]
    got = call(download, "GET", "/", token=None, feed=name, project="old", filename=filename)
    assert got.status_code == 200 and got.get_body() == data
    shown = json_of(call(feed_item, "GET", f"/api/feeds/{name}", feed=name))
    assert shown["id"] == name.lower()

    # An edit keeps its key.
    patched = call(feed_item, "PATCH", "/", json_body={"description": "old"}, feed=name)
    assert patched.status_code == 200 and json_of(patched)["id"] == name.lower()
    assert feeds.get_feed(storage, name).key == name.lower()

    assert delete_request(name)().status_code == 204
    assert not any(stored_under(name.lower()).values())
    new = create(name)
    assert new["id"] != name.lower() and project_names(name) == []
