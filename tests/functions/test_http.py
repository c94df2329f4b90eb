"""What every handler's wrapper (functions/http.py) adds: the access log, and a 411 for a chunked body,
which the Functions host does not pass on."""

from __future__ import annotations

import http.client
import json
import logging
import re
import secrets

import pytest

from functions.feeds_api import feeds_collection
from functions.health import health
from functions.simple import project_list
from functions.tokens_api import whoami
from functions.upload import upload
from shared import tokens
from shared.tokens import Scope
from tests.conftest import ADMIN_TOKEN
from tests.support.dists import make_wheel
from tests.support.http import basic, request
from tests.support.multipart import encode, upload_fields
from tests.support.publish import call
from tests.support.stored import listed_projects

CHUNKED = {"Transfer-Encoding": "chunked"}


def access_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "feedhouse.access"]


# Chunked bodies: the Functions host hands the function an empty body (tools/functions_host.py).


def test_an_upload_whose_chunked_body_was_not_passed_on_is_a_411_and_stores_nothing(storage, feed_name):
    response = upload(
        request(
            "POST",
            f"/{feed_name}/upload/",
            route_params={"feed": feed_name},
            headers={**CHUNKED, **basic(ADMIN_TOKEN)},
        )
    )
    assert response.status_code == 411
    assert "Transfer-Encoding: chunked" in response.get_body().decode()
    assert "Content-Length" in response.get_body().decode()
    assert listed_projects(feed_name) == []


def test_a_json_request_whose_chunked_body_was_not_passed_on_is_a_411(storage):
    response = call(feeds_collection, "POST", "/api/feeds", headers=CHUNKED)
    assert response.status_code == 411
    assert json.loads(response.get_body())["error"] == "length_required"


def test_a_chunked_body_that_was_passed_on_is_taken(storage):
    # Should a front end de-chunk a body and pass it on, nothing stands in its way.
    name = "t-" + secrets.token_hex(6)
    response = call(feeds_collection, "POST", "/api/feeds", headers=CHUNKED, json_body={"name": name})
    assert response.status_code == 201


def test_a_chunked_upload_through_the_local_host_gets_the_411(server, feed_name):
    wheel, data = make_wheel("chunky", "1.0")
    body, content_type = encode(upload_fields("chunky", "1.0", wheel, data))
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    try:
        conn.request(
            "POST",
            f"/{feed_name}/upload/",
            body=iter([body[:100], body[100:]]),
            headers={"Content-Type": content_type, **basic(ADMIN_TOKEN)},
            encode_chunked=True,
        )
        response = conn.getresponse()
        message = response.read().decode()
    finally:
        conn.close()
    assert response.status == 411, message
    assert "send it with a Content-Length header" in message


# The access log.


def test_one_line_per_request_with_user_token_size_time_and_agent_and_no_secret(
    storage, caplog: pytest.LogCaptureFixture
):
    token, secret = tokens.create_token(storage, user="alice", name="laptop", scope=Scope.READ)
    with caplog.at_level(logging.INFO, logger="feedhouse.access"):
        response = whoami(
            request(
                "GET",
                f"/api/whoami?token={secret}",
                params={"token": secret},
                headers={**basic(secret), "User-Agent": "pip/24.0 CPython/3.11"},
            )
        )
    assert response.status_code == 200
    (line,) = access_lines(caplog)
    size = len(response.get_body())
    assert re.fullmatch(
        rf"GET /api/whoami 200 {size}B \d+ms storage=\d+ user=alice token={token.id} "
        rf'agent="pip/24.0 CPython/3.11"',
        line,
    )
    assert secret not in caplog.text
    assert "Authorization" not in caplog.text and "Basic" not in caplog.text


def test_anonymous_refused_and_admin_callers(storage, caplog: pytest.LogCaptureFixture):
    bad = tokens.TOKEN_PREFIX + "0123456789abcdef_" + "x" * 43
    with caplog.at_level(logging.INFO, logger="feedhouse.access"):
        call(whoami, "GET", "/api/whoami", token=None)
        call(whoami, "GET", "/api/whoami", token=bad)
        call(whoami, "GET", "/api/whoami")
    anonymous, refused, admin = access_lines(caplog)
    assert " 200 " in anonymous and anonymous.endswith(" user=- agent=-")
    assert " 401 " in refused and refused.endswith(" user=- agent=-")
    assert " 200 " in admin and admin.endswith(" user=admin agent=-")
    assert bad not in caplog.text and ADMIN_TOKEN not in caplog.text


def test_an_upload_to_the_simple_url_is_one_line(storage, feed_name, caplog: pytest.LogCaptureFixture):
    wheel, data = make_wheel("oneline", "1.0")
    body, content_type = encode(upload_fields("oneline", "1.0", wheel, data))
    with caplog.at_level(logging.INFO, logger="feedhouse.access"):
        response = project_list(
            request(
                "POST",
                f"/{feed_name}/simple/",
                route_params={"feed": feed_name},
                body=body,
                headers={"Content-Type": content_type, **basic(ADMIN_TOKEN), "User-Agent": "twine/6.2.0"},
            )
        )
    assert response.status_code == 200
    (line,) = access_lines(caplog)  # the upload runs inside the simple handler: still one line
    assert re.fullmatch(
        rf'POST /{feed_name}/simple/ 200 3B \d+ms storage=\d+ user=admin agent="twine/6.2.0"', line
    )


def test_nothing_a_client_sends_can_break_the_line(storage, caplog: pytest.LogCaptureFixture):
    with caplog.at_level(logging.INFO, logger="feedhouse.access"):
        call(
            whoami,
            "GET",
            "/api/who am\x1bi",
            token=None,
            headers={"User-Agent": 'evil"\nGET /forged 200 0B 0ms user=admin agent="x'},
        )
    (line,) = access_lines(caplog)
    assert "\n" not in line
    assert line.startswith("GET /api/who%20am%1Bi 200 ")
    assert line.endswith(r' agent="evil\"\nGET /forged 200 0B 0ms user=admin agent=\"x"')


def test_a_handler_that_raises_is_logged_as_the_500_the_host_sends(
    storage, monkeypatch, caplog: pytest.LogCaptureFixture
):
    def broken(*args, **kwargs):
        raise RuntimeError("a bug")

    monkeypatch.setattr("functions.tokens_api.caller", broken)
    with caplog.at_level(logging.INFO, logger="feedhouse.access"), pytest.raises(RuntimeError):
        call(whoami, "GET", "/api/whoami")
    (line,) = access_lines(caplog)
    assert line.startswith("GET /api/whoami 500 0B ")


def test_the_access_line_counts_the_storage_requests_of_its_request(caplog, storage):
    with caplog.at_level(logging.INFO, logger="feedhouse.access"):
        response = health(request("GET", "/api/health"))
    assert response.status_code == 200
    (line,) = access_lines(caplog)
    assert " storage=2 " in line  # the health check asks the blob and the table service once each
