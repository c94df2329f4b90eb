"""What the read path costs in storage requests on a warm instance (called once to warm, then
counted), for public and private feeds: downloads, ``.metadata`` files and authentication (upstream
pages while they are fresh: tests/shared/upstream/test_page_cache.py). Counted by the storage layer
(tests/support/storage_requests.py), never timed. And that what an instance keeps in memory never
hides from it a change made through it."""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable
from dataclasses import dataclass

import azure.functions as func
import pytest

from functions.feeds_api import feed_bin_purge, feed_bin_restore, feed_item, feed_permission, feeds_collection
from functions.files import download
from functions.packages_api import file_item, version_item
from functions.simple import project_detail
from functions.tokens_api import token_item, tokens_collection, whoami
from shared import feed_index, memo
from shared.keys import project_document_blob
from shared.roles import Role
from shared.storage import get_storage
from shared.tokens import Scope
from tests.conftest import ADMIN_TOKEN
from tests.support.http import json_of
from tests.support.publish import call, publish_wheel
from tests.support.storage_requests import requests_made
from tests.support.stored import key_of
from tests.support.upstreams import new_feed, patch_feed, user

JSON_ACCEPT = {"Accept": "application/vnd.pypi.simple.v1+json"}


@dataclass(frozen=True)
class Reader:
    """A feed with a wheel, and the credentials of someone who may read it (None: anonymous)."""

    feed: str
    filename: str
    token: str | None


@pytest.fixture(params=["public feed, anonymous", "private feed, a reader's token"])
def reader(request, storage) -> Reader:
    public = request.param.startswith("public")
    feed = new_feed(visibility="public" if public else "private")
    filename, _data = publish_wheel(feed, "budget", "1.0")
    token = None if public else user(feed, Role.READER, scope=Scope.READ)
    return Reader(feed, filename, token)


def get_file(reader: Reader, filename: str | None = None, **headers: str) -> func.HttpResponse:
    filename = filename or reader.filename
    return call(
        download,
        "GET",
        f"/{reader.feed}/files/budget/{filename}",
        token=reader.token,
        headers=headers,
        feed=reader.feed,
        project="budget",
        filename=filename,
    )


def warm_cost(action: Callable[[], func.HttpResponse], status: int = 200) -> int:
    """Storage requests of ``action`` on an instance that has just served it once."""
    assert action().status_code == status
    response, cost = requests_made(action)
    assert response.status_code == status, response.get_body()
    return cost


def test_authentication_costs_nothing_on_a_warm_instance(storage):
    feed = new_feed(visibility="private")
    token = user(feed, Role.READER, scope=Scope.READ)
    assert warm_cost(lambda: call(whoami, "GET", "/api/whoami", token=token)) == 0


def test_authorizing_a_read_costs_nothing_on_a_warm_instance(reader):
    """Token, grants and feed row, for a file the client has already (304): nothing else to read."""
    etag = get_file(reader).headers["ETag"]
    assert warm_cost(lambda: get_file(reader, **{"If-None-Match": etag}), status=304) == 0


def test_a_small_download_costs_nothing_on_a_warm_instance(reader):
    """Its project's document (confirmed by the last read) names its blob, whose bytes are kept."""
    assert warm_cost(lambda: get_file(reader)) == 0


def test_a_download_too_big_to_keep_costs_one_storage_request_on_a_warm_instance(reader, monkeypatch):
    monkeypatch.setattr(feed_index, "_KEPT_FILE_BYTES", 0)
    assert warm_cost(lambda: get_file(reader)) == 1  # the blob


def test_a_download_after_the_bound_asks_storage_once_more(reader, monkeypatch):
    """Once the document is older than the bound, a download confirms it (one conditional read)."""
    assert get_file(reader).status_code == 200
    monkeypatch.setattr(memo, "STALE_SECONDS", 0.0)
    response, cost = requests_made(lambda: get_file(reader))
    assert response.status_code == 200
    assert cost == 1


def test_a_redirected_download_costs_none_on_a_warm_instance(reader, redirect_downloads):
    assert warm_cost(lambda: get_file(reader), status=302) == 0


def test_a_document_stored_before_it_named_blobs_is_rebuilt_and_its_files_download(reader):
    """Format 2 documents lack each file's blob: a download reads the file's record meanwhile, and
    the next page rebuilds the document from its rows, so nothing goes missing on the way to format 3."""
    storage = get_storage()
    blob = project_document_blob(key_of(reader.feed), "budget")
    state = storage.read_blob_state(blob)
    document = json.loads(state.data)
    document["format"] = 2
    for entry in document["files"]:
        del entry["blob"]
    storage.write_blob(
        blob, json.dumps(document).encode(), content_type="application/json", if_match=state.etag
    )
    memo.forget_all()
    response = get_file(reader)
    assert response.status_code == 200 and response.get_body()[:2] == b"PK"
    assert json.loads(storage.read_blob(blob))["format"] == 2  # a download writes nothing
    page = call(
        project_detail,
        "GET",
        f"/{reader.feed}/simple/budget/",
        token=reader.token,
        feed=reader.feed,
        project="budget",
    )
    assert page.status_code == 200
    rebuilt = json.loads(storage.read_blob(blob))
    assert rebuilt["format"] == 3 and all(entry["blob"] for entry in rebuilt["files"])
    assert warm_cost(lambda: get_file(reader)) == 0


def test_a_download_from_a_project_the_feed_lacks_costs_two_storage_requests(reader):
    """Its document (none is stored) and the file's record (none either): a 404 that builds nothing."""

    def missing() -> func.HttpResponse:
        return call(
            download,
            "GET",
            f"/{reader.feed}/files/nothing-here/nothing_here-1.0-py3-none-any.whl",
            token=reader.token,
            feed=reader.feed,
            project="nothing-here",
            filename="nothing_here-1.0-py3-none-any.whl",
        )

    assert warm_cost(missing, status=404) <= 2


def test_a_metadata_file_costs_nothing_on_a_warm_instance(reader):
    assert warm_cost(lambda: get_file(reader, f"{reader.filename}.metadata")) == 0
    ranged = get_file(reader, f"{reader.filename}.metadata", Range="bytes=0-8")
    assert ranged.status_code == 206
    assert ranged.get_body() == get_file(reader, f"{reader.filename}.metadata").get_body()[:9]


def test_the_admin_token_never_costs_a_storage_request(storage):
    memo.forget_all()  # as on a cold instance
    response, cost = requests_made(lambda: call(whoami, "GET", "/api/whoami", token=ADMIN_TOKEN))
    assert response.status_code == 200
    assert cost == 0


# The instance that makes a change sees it at once, whatever it keeps in memory -------------------


def revoke_token(token: str) -> None:
    token_id = token.split("_")[1]
    response = call(token_item, "DELETE", f"/api/tokens/{token_id}", token_id=token_id)
    assert response.status_code == 204, response.get_body()


def test_a_token_revoked_through_this_instance_is_refused_at_once(storage):
    token = user()
    assert call(whoami, "GET", "/api/whoami", token=token).status_code == 200
    revoke_token(token)
    assert call(whoami, "GET", "/api/whoami", token=token).status_code == 401


def test_a_token_revoked_with_its_parent_is_refused_at_once(storage):
    parent = user()
    created = call(tokens_collection, "POST", "/api/tokens", token=parent, json_body={"name": "child"})
    child = json_of(created)["token"]
    assert call(whoami, "GET", "/api/whoami", token=child).status_code == 200
    revoke_token(parent)
    assert call(whoami, "GET", "/api/whoami", token=child).status_code == 401


def test_a_grant_given_or_revoked_through_this_instance_counts_at_once(storage):
    feed = new_feed(visibility="private")
    reader = Reader(feed, publish_wheel(feed, "budget", "1.0")[0], user(feed, Role.READER, scope=Scope.READ))
    name = json_of(call(whoami, "GET", "/api/whoami", token=reader.token))["user"]
    path = f"/api/feeds/{reader.feed}/permissions/{name}"
    assert get_file(reader).status_code == 200
    assert call(feed_permission, "DELETE", path, feed=reader.feed, user=name).status_code == 204
    assert get_file(reader).status_code == 403
    assert json_of(call(whoami, "GET", "/api/whoami", token=reader.token))["roles"] == {}
    granted = call(feed_permission, "PUT", path, json_body={"role": "reader"}, feed=reader.feed, user=name)
    assert granted.status_code == 200
    assert get_file(reader).status_code == 200
    assert json_of(call(whoami, "GET", "/api/whoami", token=reader.token))["roles"] == {reader.feed: "reader"}


def test_a_feed_made_private_through_this_instance_is_private_at_once(storage):
    feed = new_feed(visibility="public")
    anonymous = Reader(feed, publish_wheel(feed, "budget", "1.0")[0], None)
    assert get_file(anonymous).status_code == 200
    assert patch_feed(anonymous.feed, {"visibility": "private"})[0] == 200
    assert get_file(anonymous).status_code == 401


def test_a_feed_deleted_through_this_instance_is_gone_at_once_and_its_name_free(reader):
    assert get_file(reader).status_code == 200
    response = call(feed_item, "DELETE", f"/api/feeds/{reader.feed}", feed=reader.feed)
    assert response.status_code == 204
    assert call(feed_item, "GET", f"/api/feeds/{reader.feed}", feed=reader.feed).status_code == 404
    listed = json_of(call(feeds_collection, "GET", "/api/feeds"))["feeds"]
    assert reader.feed not in [f["name"] for f in listed]
    assert get_file(Reader(reader.feed, reader.filename, ADMIN_TOKEN)).status_code == 404
    # Restored, it is back at once; deleted again and purged, its name is free at once.
    assert call(feed_bin_restore, "POST", "/", feed=reader.feed).status_code == 200
    assert get_file(reader).status_code == 200
    assert call(feed_item, "DELETE", "/", feed=reader.feed).status_code == 204
    assert call(feed_bin_purge, "DELETE", "/", feed=reader.feed).status_code == 204
    new_feed(name=reader.feed, visibility="public")
    assert get_file(Reader(reader.feed, reader.filename, None)).status_code == 404  # an empty new feed


def test_a_file_deleted_through_this_instance_is_gone_at_once(reader):
    assert get_file(reader).status_code == 200
    assert get_file(reader, f"{reader.filename}.metadata").status_code == 200
    path = f"/api/feeds/{reader.feed}/packages/budget/files/{reader.filename}"
    deleted = call(file_item, "DELETE", path, feed=reader.feed, project="budget", filename=reader.filename)
    assert deleted.status_code == 200, deleted.get_body()
    assert get_file(reader).status_code == 404
    assert get_file(reader, f"{reader.filename}.metadata").status_code == 404


def test_a_version_deleted_through_this_instance_is_gone_at_once(reader):
    assert get_file(reader).status_code == 200
    path = f"/api/feeds/{reader.feed}/packages/budget/versions/1.0"
    deleted = call(version_item, "DELETE", path, feed=reader.feed, project="budget", version="1.0")
    assert deleted.status_code == 200, deleted.get_body()
    assert get_file(reader).status_code == 404


def test_a_token_created_through_this_instance_works_at_once_though_its_id_was_tried(storage, monkeypatch):
    """An unknown token id is kept as unknown for a while; creating the token forgets that."""
    token_id = secrets.token_hex(8)
    original = secrets.token_hex
    monkeypatch.setattr(secrets, "token_hex", lambda n=None: token_id if n == 8 else original(n))
    tried = f"fhpat_{token_id}_guessed"
    assert call(whoami, "GET", "/api/whoami", token=tried).status_code == 401
    token = user()
    assert token.startswith(f"fhpat_{token_id}_")
    assert call(whoami, "GET", "/api/whoami", token=token).status_code == 200


def test_last_used_is_written_once_in_its_five_minutes_not_per_request(storage, monkeypatch):
    token = user()
    writes: list[dict] = []
    merge = storage.merge
    monkeypatch.setattr(storage, "merge", lambda table, record: (writes.append(record), merge(table, record)))

    def use() -> int:
        response, cost = requests_made(lambda: call(whoami, "GET", "/api/whoami", token=token))
        assert response.status_code == 200
        return cost

    use()
    assert len(writes) == 2  # LastUsed, on the token's two rows
    assert [use() for _ in range(3)] == [0, 0, 0]
    memo.forget_all()  # as when this instance's copy has expired: read again, not written again
    use()
    assert len(writes) == 2
    listed = json_of(call(tokens_collection, "GET", "/api/tokens", token=token))["tokens"]
    assert listed[0]["last_used"] is not None
