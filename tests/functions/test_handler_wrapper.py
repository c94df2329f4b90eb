"""What every handler's wrapper (functions/http.py) adds: a 411 for a chunked body, which the Functions
host does not pass on."""

from __future__ import annotations

import http.client
import json
import secrets

from functions.feeds_api import feeds_collection
from functions.upload import upload
from shared.packages import list_projects
from tests.conftest import ADMIN_TOKEN
from tests.support.dists import make_wheel
from tests.support.http import basic, request
from tests.support.multipart import encode, upload_fields
from tests.support.publish import call

CHUNKED = {"Transfer-Encoding": "chunked"}


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
    assert list_projects(storage, feed_name.lower()) == []


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
