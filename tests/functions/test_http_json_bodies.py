"""Request bodies of the JSON endpoints: deeply nested JSON is a 400 with a message, never a 500."""

from __future__ import annotations

import json
import logging

import pytest

from function_app import app
from tests.conftest import ADMIN_TOKEN, ROOT
from tests.support.dists import make_wheel
from tests.support.http import basic, json_of, request
from tests.support.publish import publish
from tools.functions_host import LocalFunctionsHost

ROUTES = {r.function_name: r for r in LocalFunctionsHost(app, ROOT).routes}
# Every endpoint that reads a JSON body; the test below makes a new body-taking endpoint say which it is.
JSON_BODY_ENDPOINTS = {
    ("feeds_collection", "POST"),
    ("feed_item", "PATCH"),
    ("feed_permission", "PUT"),
    ("tokens_collection", "POST"),
    ("yank", "POST"),
    ("package_upstreaming", "PUT"),
    ("trusted_publishers", "POST"),
    ("feed_views", "POST"),
    ("feed_view", "PATCH"),
    ("version_views", "POST"),
}
OTHER_BODIES = {
    ("upload", "POST"),
    ("project_list", "POST"),
    ("unyank", "POST"),
    ("restore", "POST"),
    # PyPI's trusted-publishing exchange reads JSON but answers as Warehouse does: a body it cannot use
    # is a 422 with its error codes (mint), or the 202 that burning always is.
    ("oidc_mint_token", "POST"),
    ("oidc_burn_token", "POST"),
    # The feed recycle bin's restore reads no body.
    ("feed_bin_restore", "POST"),
    # Retention: a lockfile is registered as the file itself; a pin reads no body.
    ("lockfile_item", "PUT"),
    ("version_pin", "PUT"),
    # The web UI's forms: URL-encoded fields, never JSON (tests/functions/test_web.py sends them hostile).
    *{
        (name, "POST")
        for name in (
            "web_create_feed",
            "web_delete_feed",
            "web_delete_file",
            "web_delete_version",
            "web_feed_settings",
            "web_permissions",
            "web_promote",
            "web_purge",
            "web_purge_feed",
            "web_restore",
            "web_restore_feed",
            "web_revoke_permission",
            "web_revoke_token",
            "web_signin",
            "web_signin_start",
            "web_signout",
            "web_tokens",
            "web_unyank",
            "web_yank",
        )
    },
}

DEEP = 100_000
FIELDS = (
    "name",
    "description",
    "visibility",
    "upstreams",
    "role",
    "scope",
    "reason",
    "allow_external_versions",
)
NESTED_BODIES = {
    "arrays": b"[" * DEEP,
    "objects": b'{"a":' * DEEP,
    "closed": b"[" * DEEP + b"]" * DEEP,
    # Deep, but within what the decoder takes: whatever reads the fields must not recurse on them.
    "deep fields": json.dumps({f: json.loads("[" * 300 + "]" * 300) for f in FIELDS}).encode(),
}


def test_every_endpoint_that_takes_a_body_is_listed():
    with_body = {
        (name, method)
        for name, route in ROUTES.items()
        for method in route.methods
        if method in ("POST", "PUT", "PATCH")
    }
    assert with_body == JSON_BODY_ENDPOINTS | OTHER_BODIES


@pytest.fixture
def demo(feed_name):
    filename, data = make_wheel("demo", "1.0")
    assert publish(feed_name, filename, data, "demo", "1.0").status_code == 200
    return feed_name


@pytest.mark.parametrize("body", NESTED_BODIES.values(), ids=NESTED_BODIES.keys())
@pytest.mark.parametrize("endpoint", sorted(JSON_BODY_ENDPOINTS), ids="-".join)
def test_deeply_nested_body_is_400(demo, caplog, endpoint, body):
    function, method = endpoint
    route_params = {"feed": demo, "project": "demo", "version": "1.0", "user": "somebody", "view": "release"}
    req = request(
        method,
        f"/{function}",
        route_params=route_params,
        body=body,
        headers={**basic(ADMIN_TOKEN), "Content-Type": "application/json"},
    )
    with caplog.at_level(logging.DEBUG):
        response = ROUTES[function].user_function(req)
    assert response.status_code == 400
    assert json_of(response)["message"]
    assert [r.getMessage() for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR] == []
