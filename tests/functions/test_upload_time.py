"""An imported file keeps its original upload time (the ``upload_time`` field `feedhouse import` sends),
when the uploader may manage the feed: times order what installers pick (uv --exclude-newer)."""

from __future__ import annotations

import pytest

from functions.upload import upload
from shared import roles, tokens
from shared.keys import FILES_TABLE, files_partition
from shared.roles import Role
from shared.tokens import Scope
from tests.support.dists import make_wheel
from tests.support.http import basic, request
from tests.support.multipart import encode, upload_fields
from tests.support.publish import publish
from tests.support.stored import key_of


def test_the_owner_keeps_the_original_upload_time(storage, feed_name):
    filename, data = make_wheel("kept", "1.0")
    response = publish(feed_name, filename, data, "kept", "1.0", upload_time="2019-03-04T05:06:07+01:00")
    assert response.status_code == 200, response.get_body()
    record = storage.get(FILES_TABLE, files_partition(key_of(feed_name), "kept"), filename)
    assert record["Uploaded"] == "2019-03-04T04:06:07.000000Z"


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("yesterday", "must be an ISO 8601 date and time"),
        ("2019-03-04T05:06:07", "needs a time zone"),
        ("2999-01-01T00:00:00Z", "is in the future"),
    ],
)
def test_a_malformed_upload_time_is_a_400_and_stores_nothing(storage, feed_name, value, message):
    filename, data = make_wheel("badtime", "1.0")
    response = publish(feed_name, filename, data, "badtime", "1.0", upload_time=value)
    assert response.status_code == 400 and message in response.get_body().decode()
    assert storage.get(FILES_TABLE, files_partition(key_of(feed_name), "badtime"), filename) is None


def test_a_contributor_may_publish_but_not_set_the_time(storage, feed_name):
    roles.grant(storage, key_of(feed_name), "carl", Role.CONTRIBUTOR)
    _, secret = tokens.create_token(storage, user="carl", name="ci", scope=Scope.PUBLISH)
    filename, data = make_wheel("timed", "1.0")

    def send(**fields):
        body, content_type = encode(upload_fields("timed", "1.0", filename, data, **fields))
        headers = {"Content-Type": content_type, **basic(secret)}
        return upload(
            request(
                "POST", f"/{feed_name}/upload/", route_params={"feed": feed_name}, body=body, headers=headers
            )
        )

    refused = send(upload_time="2019-03-04T05:06:07Z")
    assert refused.status_code == 403 and "owner role" in refused.get_body().decode()
    assert storage.get(FILES_TABLE, files_partition(key_of(feed_name), "timed"), filename) is None
    assert send().status_code == 200
