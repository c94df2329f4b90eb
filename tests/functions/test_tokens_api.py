"""Tokens and grants through the API: creation, scope, feed limits, revocation, expiry, owners."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta

import pytest

from functions.feeds_api import feed_permission, feed_permissions, feeds_collection
from functions.simple import project_list
from functions.tokens_api import token_item, tokens_collection, whoami
from functions.upload import upload
from shared import tokens
from shared.tokens import TOKEN_PREFIX, Scope
from tests.conftest import ADMIN_TOKEN
from tests.support.dists import make_wheel
from tests.support.http import basic, json_of, request
from tests.support.multipart import encode, upload_fields
from tests.support.stored import key_of

ADMIN = basic(ADMIN_TOKEN)


def make_token(user: str, /, headers=ADMIN, **body):
    body = {"name": "test", **body}
    if headers is ADMIN:
        body.setdefault("user", user)
    response = tokens_collection(request("POST", "/api/tokens", json_body=body, headers=headers))
    return response


def new_user() -> str:
    return "u-" + secrets.token_hex(4)


def secret_of(response) -> str:
    assert response.status_code == 201, response.get_body()
    return json_of(response)["token"]


def new_feed(token: str, visibility: str = "private") -> str:
    name = "tk-" + secrets.token_hex(4)
    response = feeds_collection(
        request(
            "POST", "/api/feeds", json_body={"name": name, "visibility": visibility}, headers=basic(token)
        )
    )
    assert response.status_code == 201, response.get_body()
    return name


def read_index(feed: str, token: str | None):
    headers = basic(token) if token else {}
    return project_list(request("GET", f"/{feed}/simple/", route_params={"feed": feed}, headers=headers))


def publish(feed: str, token: str):
    wheel, data = make_wheel("demo", "1.0")
    body, content_type = encode(upload_fields("demo", "1.0", wheel, data))
    headers = {"Content-Type": content_type, **basic(token)}
    return upload(
        request("POST", f"/{feed}/upload/", route_params={"feed": feed}, body=body, headers=headers)
    )


def grant(feed: str, user: str, role: str, headers=ADMIN):
    return feed_permission(
        request(
            "PUT", "/", route_params={"feed": feed, "user": user}, json_body={"role": role}, headers=headers
        )
    )


pytestmark = pytest.mark.usefixtures("app_env")


def test_token_is_shown_once_recognisable_and_stored_hashed(storage):
    user = new_user()
    response = make_token(user, scope="publish", expires_in_days=30)
    body = json_of(response)
    assert response.headers["Cache-Control"] == "no-store"
    assert body["token"].startswith(TOKEN_PREFIX)
    assert body["user"] == user and body["scope"] == "publish" and body["expires"]
    stored = storage.get("tokens", f"id:{body['id']}", "token")
    assert body["token"] not in str(stored.values())
    assert stored["SecretSha256"] != body["token"]
    listed = json_of(tokens_collection(request("GET", "/api/tokens", headers=basic(body["token"]))))
    # A publish-scoped token may not manage tokens: listing needs manage.
    assert listed.get("error") == "forbidden"
    manager = secret_of(make_token(user, scope="manage"))
    listing = json_of(tokens_collection(request("GET", "/api/tokens", headers=basic(manager))))["tokens"]
    assert {t["id"] for t in listing} >= {body["id"]}
    assert all("token" not in t and "SecretSha256" not in t for t in listing)


def test_whoami_names_user_scope_and_roles():
    user = new_user()
    token = secret_of(make_token(user, scope="manage"))
    feed = new_feed(token)
    me = json_of(whoami(request("GET", "/api/whoami", headers=basic(token))))
    assert me["user"] == user and me["authenticated"] and not me["admin"]
    assert me["token"]["scope"] == "manage"
    assert me["roles"] == {feed: "owner"}
    anonymous = json_of(whoami(request("GET", "/api/whoami")))
    assert anonymous == {"user": None, "authenticated": False, "admin": False, "can_create_feeds": False}


def test_creator_owns_feed_and_grants_roles():
    owner, reader = new_user(), new_user()
    owner_token = secret_of(make_token(owner, scope="manage"))
    reader_token = secret_of(make_token(reader, scope="manage"))
    feed = new_feed(owner_token)
    assert read_index(feed, reader_token).status_code == 403
    assert grant(feed, reader, "reader", headers=basic(owner_token)).status_code == 200
    assert read_index(feed, reader_token).status_code == 200
    assert publish(feed, reader_token).status_code == 403
    listed = json_of(
        feed_permissions(request("GET", "/", route_params={"feed": feed}, headers=basic(owner_token)))
    )
    assert listed["permissions"] == [{"user": owner, "role": "owner"}, {"user": reader, "role": "reader"}]
    # The reader can't grant themselves more.
    assert grant(feed, reader, "owner", headers=basic(reader_token)).status_code == 403


def test_a_feed_keeps_at_least_one_owner():
    owner = new_user()
    token = secret_of(make_token(owner, scope="manage"))
    feed = new_feed(token)
    demote = grant(feed, owner, "reader", headers=basic(token))
    assert demote.status_code == 409 and "last owner" in json_of(demote)["message"]
    remove = feed_permission(
        request("DELETE", "/", route_params={"feed": feed, "user": owner}, headers=ADMIN)
    )
    assert remove.status_code == 409
    other = new_user()
    assert grant(feed, other, "owner").status_code == 200
    assert grant(feed, owner, "reader").status_code == 200  # now allowed: another owner remains


def test_read_scoped_token_cannot_upload():
    user = new_user()
    manager = secret_of(make_token(user, scope="manage"))
    feed = new_feed(manager)
    reader = secret_of(make_token(user, scope="read"))
    assert read_index(feed, reader).status_code == 200
    refused = publish(feed, reader)
    assert refused.status_code == 403
    assert b"scope" in refused.get_body()
    assert publish(feed, secret_of(make_token(user, scope="publish"))).status_code == 200


def test_token_limited_to_feed_a_cannot_read_private_feed_b():
    user = new_user()
    manager = secret_of(make_token(user, scope="manage"))
    feed_a, feed_b = new_feed(manager), new_feed(manager)
    limited = secret_of(make_token(user, scope="read", feeds=[feed_a]))
    assert read_index(feed_a, limited).status_code == 200
    refused = read_index(feed_b, limited)
    assert refused.status_code == 403
    assert b"limited to the feeds" in refused.get_body()


def test_revoked_token_stops_working_on_the_next_request():
    user = new_user()
    manager = secret_of(make_token(user, scope="manage"))
    feed = new_feed(manager)
    response = make_token(user, scope="read")
    victim, victim_id = json_of(response)["token"], json_of(response)["id"]
    assert read_index(feed, victim).status_code == 200
    revoke = token_item(request("DELETE", "/", route_params={"token_id": victim_id}, headers=basic(manager)))
    assert revoke.status_code == 204
    after = read_index(feed, victim)
    assert after.status_code == 401
    assert after.headers["WWW-Authenticate"].startswith("Basic")


def test_expired_token_is_refused(storage):
    user = new_user()
    feed = new_feed(secret_of(make_token(user, scope="manage")))
    # The API refuses past expiry times, so make one through the domain function.
    _, expired = tokens.create_token(
        storage, user=user, name="old", scope=Scope.READ, expires=datetime.now(UTC) - timedelta(seconds=1)
    )
    assert read_index(feed, expired).status_code == 401


def test_other_users_tokens_are_invisible():
    alice, bob = new_user(), new_user()
    alice_token = json_of(make_token(alice, scope="manage"))
    bob_token = secret_of(make_token(bob, scope="manage"))
    response = token_item(
        request("DELETE", "/", route_params={"token_id": alice_token["id"]}, headers=basic(bob_token))
    )
    assert response.status_code == 404
    assert read_index("x", alice_token["token"]).status_code != 401  # still live


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"scope": "everything"}, "scope"),
        ({"expires": "yesterday"}, "ISO 8601"),
        ({"expires": "2000-01-01T00:00:00Z"}, "future"),
        ({"expires_in_days": 0}, "expires_in_days"),
        ({"feeds": []}, "feeds"),
        ({"feeds": ["no/slash"]}, "Feed names"),
        ({"colour": "red"}, "Unknown"),
        ({"name": ""}, "name"),
    ],
)
def test_bad_token_requests(body, message):
    response = make_token(new_user(), **body)
    assert response.status_code == 400
    assert message in json_of(response)["message"]


def test_tokens_cannot_widen_themselves():
    user = new_user()
    manager = secret_of(make_token(user, scope="manage"))
    feed = new_feed(manager)
    limited_manager = secret_of(make_token(user, scope="manage", feeds=[feed]))
    wider = make_token(user, headers=basic(limited_manager), scope="manage")
    assert wider.status_code == 403
    assert make_token(user, headers=basic(limited_manager), scope="read", feeds=[feed]).status_code == 201
    assert make_token("someone-else", headers=basic(manager), user="someone-else").status_code == 403


def test_admin_must_name_a_user():
    response = tokens_collection(request("POST", "/api/tokens", json_body={"name": "x"}, headers=ADMIN))
    assert response.status_code == 400
    assert "user" in json_of(response)["message"]


def test_feed_creators_setting(monkeypatch):
    from shared import settings

    user = new_user()
    token = secret_of(make_token(user, scope="manage"))
    monkeypatch.setenv("FEEDHOUSE_FEED_CREATORS", "none")
    settings.load.cache_clear()
    try:
        refused = feeds_collection(
            request("POST", "/api/feeds", json_body={"name": "nope-" + user}, headers=basic(token))
        )
        assert refused.status_code == 403
        monkeypatch.setenv("FEEDHOUSE_FEED_CREATORS", f"someone, {user.upper()}")
        settings.load.cache_clear()
        assert new_feed(token)
    finally:
        monkeypatch.undo()
        settings.load.cache_clear()


def test_organization_feed_serves_any_valid_token_and_public_needs_none():
    owner = secret_of(make_token(new_user(), scope="manage"))
    stranger = secret_of(make_token(new_user(), scope="read"))
    org, public = new_feed(owner, "organization"), new_feed(owner, "public")
    assert read_index(org, None).status_code == 401
    assert read_index(org, stranger).status_code == 200
    assert read_index(public, None).status_code == 200
    assert publish(public, stranger).status_code == 403
    assert publish(public, "fhpat_0123456789abcdef_nope").status_code == 401


# Lineage: a token creates tokens no wider than itself, and takes them with it when revoked (issue 10.6).


def revoke(token_id: str, headers=ADMIN):
    return token_item(request("DELETE", "/", route_params={"token_id": token_id}, headers=headers))


def works(secret: str) -> bool:
    return whoami(request("GET", "/api/whoami", headers=basic(secret))).status_code == 200


def test_a_token_cannot_outlive_its_creator():
    user = new_user()
    parent = json_of(make_token(user, scope="manage", expires_in_days=1))
    for lifetime in ({}, {"expires_in_days": 3650}, {"expires_in_days": 2}):
        refused = make_token(user, headers=basic(parent["token"]), scope="read", **lifetime)
        assert refused.status_code == 403, lifetime
        assert parent["expires"] in json_of(refused)["message"]
    child = json_of(make_token(user, headers=basic(parent["token"]), scope="read", expires=parent["expires"]))
    assert child["expires"] == parent["expires"] and child["parent"] == parent["id"]
    # The admin's tokens are roots: they have no parent and may have any lifetime.
    root = json_of(make_token(user, scope="manage"))
    assert root["parent"] is None and root["expires"] is None


def test_revoking_a_token_revokes_the_tokens_it_created_transitively():
    user = new_user()
    parent = json_of(make_token(user, scope="manage"))
    child = json_of(make_token(user, headers=basic(parent["token"]), scope="manage"))
    grandchild = json_of(make_token(user, headers=basic(child["token"]), scope="read"))
    sibling = json_of(make_token(user, scope="manage"))
    nephew = json_of(make_token(user, headers=basic(sibling["token"]), scope="read"))
    assert all(works(t["token"]) for t in (parent, child, grandchild, sibling, nephew))

    assert revoke(nephew["id"], headers=basic(sibling["token"])).status_code == 204
    assert works(sibling["token"]) and not works(nephew["token"])  # a creator outlives its tokens
    assert revoke(parent["id"], headers=basic(sibling["token"])).status_code == 204
    assert not any(works(t["token"]) for t in (parent, child, grandchild))
    assert works(sibling["token"])
    listing = json_of(tokens_collection(request("GET", "/api/tokens", headers=basic(sibling["token"]))))
    assert [t["id"] for t in listing["tokens"]] == [sibling["id"]]


def test_a_token_created_while_its_creator_is_revoked_dies_with_it():
    """Revocation and creation race: whichever wins, no child of a revoked token survives."""
    from concurrent.futures import ThreadPoolExecutor
    from threading import Barrier

    def at_once(start: Barrier, action, *args, **kwargs):
        start.wait()
        return action(*args, **kwargs)

    survivors = []
    for _ in range(20):
        user = new_user()
        parent = json_of(make_token(user, scope="manage"))
        start = Barrier(2)
        with ThreadPoolExecutor(max_workers=2) as pool:
            created = pool.submit(
                at_once, start, make_token, user, headers=basic(parent["token"]), scope="read"
            )
            revoked = pool.submit(at_once, start, revoke, parent["id"])
            created, revoked = created.result(), revoked.result()
        assert revoked.status_code == 204
        assert created.status_code in (201, 401), created.get_body()
        if created.status_code == 201 and works(json_of(created)["token"]):
            survivors.append(json_of(created)["id"])
    assert survivors == []


# A cap on live tokens per user, and a listing that is one query (issue 10.13).


def test_a_user_holds_at_most_max_tokens_live_tokens(storage):
    user = new_user()
    manager = json_of(make_token(user, scope="manage"))
    # An expired token does not count (and is swept when the next one is created).
    expired, _ = tokens.create_token(
        storage, user=user, name="old", scope=Scope.READ, expires=datetime.now(UTC) - timedelta(seconds=1)
    )
    for _ in range(tokens.MAX_TOKENS_PER_USER - 1):
        tokens.create_token(storage, user=user, name="bulk", scope=Scope.READ)
    refused = make_token(user, headers=basic(manager["token"]), scope="read")
    assert refused.status_code == 409
    assert f"{tokens.MAX_TOKENS_PER_USER} live tokens" in json_of(refused)["message"]
    assert make_token(user, scope="read").status_code == 409  # the admin too
    assert revoke(manager["id"]).status_code == 204
    assert make_token(user, scope="read").status_code == 201
    assert storage.get("tokens", f"id:{expired.id}", "token") is None


def test_concurrent_creations_never_exceed_the_cap(monkeypatch, storage):
    from concurrent.futures import ThreadPoolExecutor

    monkeypatch.setattr(tokens, "MAX_TOKENS_PER_USER", 3)
    for _ in range(20):
        user = new_user()
        for _ in range(2):
            tokens.create_token(storage, user=user, name="existing", scope=Scope.READ)
        with ThreadPoolExecutor(max_workers=6) as pool:
            statuses = sorted(pool.map(lambda _, user=user: make_token(user).status_code, range(6)))
        assert statuses == [201] + [409] * 5
        assert len(tokens.list_tokens(storage, user)) == 3


def test_listing_tokens_is_one_query_with_last_used_times(monkeypatch, storage):
    from shared.storage import Storage

    user = new_user()
    manager = json_of(make_token(user, scope="manage"))
    for _ in range(4):
        tokens.create_token(storage, user=user, name="more", scope=Scope.READ)
    assert works(manager["token"])  # sets its last-used time
    calls = []
    for method in ("get", "partition"):
        original = getattr(Storage, method)
        monkeypatch.setattr(
            Storage, method, lambda self, *a, _m=method, _o=original: calls.append(_m) or _o(self, *a)
        )
    listed = tokens.list_tokens(storage, user)
    assert calls == ["partition"]
    assert len(listed) == 5
    assert {t.id for t in listed if t.last_used is not None} == {manager["id"]}


# User names (issue 10.12): one rule wherever a name enters, and reserved names given nothing.


def test_a_look_alike_user_name_addresses_nobody():
    owner = new_user()
    owner_token = secret_of(make_token(owner, scope="manage"))
    feed = new_feed(owner_token)
    kim = "kim-" + secrets.token_hex(3)
    kelvin = "\u212a" + kim[1:]  # KELVIN SIGN; str.lower() would make it 'kim-…'
    refused = grant(feed, kelvin, "owner", headers=basic(owner_token))
    assert refused.status_code == 400 and json_of(refused)["error"] == "invalid_user_name"
    assert make_token(kelvin).status_code == 400
    granted = json_of(
        feed_permissions(request("GET", "/", route_params={"feed": feed}, headers=basic(owner_token)))
    )
    assert granted["permissions"] == [{"user": owner, "role": "owner"}]


@pytest.mark.parametrize("name", ["admin", "Anonymous", "none"])
def test_reserved_user_names_get_no_token_role_or_feed(name):
    assert make_token(name).status_code == 400
    feed = new_feed(secret_of(make_token(new_user(), scope="manage")))
    refused = grant(feed, name, "reader")
    assert refused.status_code == 400 and "reserved" in json_of(refused)["message"]
    created = feeds_collection(
        request("POST", "/api/feeds", json_body={"name": "rs-" + new_user(), "owner": name}, headers=ADMIN)
    )
    assert created.status_code == 400


def test_a_grant_stored_under_a_now_reserved_name_can_still_be_removed(storage):
    owner = new_user()
    feed = new_feed(secret_of(make_token(owner, scope="manage")))
    # As an older version could store it.
    storage.upsert("permissions", {"PartitionKey": key_of(feed), "RowKey": "admin", "Role": "reader"})
    storage.upsert("permissions", {"PartitionKey": "@admin", "RowKey": key_of(feed), "Role": "reader"})
    removed = feed_permission(
        request("DELETE", "/", route_params={"feed": feed, "user": "admin"}, headers=ADMIN)
    )
    assert removed.status_code == 204
    assert storage.get("permissions", "@admin", key_of(feed)) is None
