import secrets

import pytest

from functions.feeds_api import feed_bin_purge, feed_item, feeds_collection
from tests.conftest import ADMIN_TOKEN
from tests.support.http import basic, json_of, request

pytestmark = pytest.mark.usefixtures("app_env")

ADMIN = basic(ADMIN_TOKEN)


def create(body, headers=ADMIN):
    return feeds_collection(request("POST", "/api/feeds", json_body=body, headers=headers))


def unique() -> str:
    return "f-" + secrets.token_hex(5)


def test_create_get_list_patch_delete():
    name = unique()
    created = create({"name": name, "description": "team feed", "visibility": "organization"})
    assert created.status_code == 201
    body = json_of(created)
    assert body["name"] == name and body["visibility"] == "organization" and body["created"].endswith("Z")

    got = feed_item(request("GET", f"/api/feeds/{name}", route_params={"feed": name.upper()}, headers=ADMIN))
    assert got.status_code == 200 and json_of(got)["name"] == name

    listed = json_of(feeds_collection(request("GET", "/api/feeds", headers=ADMIN)))["feeds"]
    assert name in [f["name"] for f in listed]

    patched = feed_item(
        request("PATCH", "/", route_params={"feed": name}, json_body={"visibility": "public"}, headers=ADMIN)
    )
    assert patched.status_code == 200 and json_of(patched)["visibility"] == "public"

    deleted = feed_item(request("DELETE", "/", route_params={"feed": name}, headers=ADMIN))
    assert deleted.status_code == 204
    missing = feed_item(request("GET", "/", route_params={"feed": name}, headers=ADMIN))
    assert missing.status_code == 404 and json_of(missing)["error"] == "feed_not_found"


def test_default_visibility_is_private():
    assert json_of(create({"name": unique()}))["visibility"] == "private"


def test_duplicate_feed_is_refused_case_insensitively():
    name = unique()
    assert create({"name": name}).status_code == 201
    again = create({"name": name.upper()})
    assert again.status_code == 409
    assert json_of(again)["error"] == "feed_exists"
    assert "already exists" in json_of(again)["message"]


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("", "required"),
        ("api", "reserved"),
        ("Admin", "reserved"),
        ("runtime", "reserved"),
        ("has space", "whitespace"),
        ("a/b", "cannot contain"),
        ("a\\b", "cannot contain"),
        ("_hidden", "cannot start"),
        ("trailing.", "end with"),
        ("x" * 65, "at most 64"),
        ("a..b", "'..'"),
        ("per%cent", "cannot contain"),
    ],
)
def test_invalid_feed_names_are_refused_and_nothing_is_created(name, reason):
    response = create({"name": name})
    assert response.status_code == 400
    assert json_of(response)["error"] == "invalid_feed_name"
    assert reason in json_of(response)["message"]
    listed = json_of(feeds_collection(request("GET", "/api/feeds")))["feeds"]
    assert name not in [f["name"] for f in listed]


@pytest.mark.parametrize(
    "body",
    [
        ["not", "an", "object"],
        {"name": 42},
        {"name": "ok-name-x", "visibility": "everyone"},
        {"name": "ok-name-y", "colour": "blue"},
        {"name": "ok-name-z", "description": 5},
    ],
)
def test_invalid_feed_bodies_get_400(body):
    response = create(body)
    assert response.status_code == 400
    assert json_of(response)["message"]


def test_non_json_body_gets_400():
    response = feeds_collection(
        request("POST", "/api/feeds", body=b"name=team", headers={**ADMIN, "Content-Type": "text/plain"})
    )
    assert response.status_code == 400
    assert "JSON" in json_of(response)["message"]


@pytest.mark.parametrize(
    "headers", [{}, basic("wrong"), {"Authorization": "Bearer wrong"}, {"Authorization": "Digest x"}]
)
def test_writes_need_the_admin_token(headers):
    response = create({"name": unique()}, headers=headers)
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Basic realm=")
    assert json_of(response)["error"] == "unauthorized"


def test_bearer_admin_token_and_any_basic_username_work():
    assert create({"name": unique()}, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}).status_code == 201
    assert create({"name": unique()}, headers=basic(ADMIN_TOKEN, user="alice")).status_code == 201


def test_patch_refuses_renames():
    name = unique()
    create({"name": name})
    response = feed_item(
        request("PATCH", "/", route_params={"feed": name}, json_body={"name": "other"}, headers=ADMIN)
    )
    assert response.status_code == 400
    assert "cannot be changed" in json_of(response)["message"]


def test_a_feed_has_a_read_only_id_of_its_own_and_a_new_feed_of_its_name_another():
    name = unique()
    first = json_of(create({"name": name}))["id"]
    assert len(first) == 32 and int(first, 16) >= 0
    got = feed_item(request("GET", "/", route_params={"feed": name}, headers=ADMIN))
    assert json_of(got)["id"] == first
    refused = feed_item(
        request("PATCH", "/", route_params={"feed": name}, json_body={"id": "x"}, headers=ADMIN)
    )
    assert refused.status_code == 400 and "cannot be changed" in json_of(refused)["message"]
    patched = feed_item(
        request("PATCH", "/", route_params={"feed": name}, json_body={"description": "d"}, headers=ADMIN)
    )
    assert json_of(patched)["id"] == first
    assert feed_item(request("DELETE", "/", route_params={"feed": name}, headers=ADMIN)).status_code == 204
    # In the recycle bin the name stays taken; once purged, a new feed of it is another feed.
    assert create({"name": name}).status_code == 409
    assert (
        feed_bin_purge(request("DELETE", "/", route_params={"feed": name}, headers=ADMIN)).status_code == 204
    )
    assert json_of(create({"name": name}))["id"] != first
