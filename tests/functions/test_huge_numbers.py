"""Numbers of more than 4,300 digits, where Python's int() gives up with a plain ValueError, on every route
that reads a number or a version from the request: a clear 4xx (or, for Range, the whole file), never a
500 with a traceback in the log; for anonymous callers as for the admin."""

import logging

import pytest

from functions import packages_api as api
from functions.files import download
from functions.pypi_json import version_json
from shared import feeds
from tests.support.dists import make_sdist, make_wheel
from tests.support.http import json_of
from tests.support.publish import call, publish, publish_wheel

HUGE = "1" * 5000
HUGE_VERSIONS = [HUGE, f"1.{HUGE}", f"1.0.post{HUGE}", f"{HUGE}!1.0"]
ADMIN_AND_ANONYMOUS = pytest.mark.parametrize("anonymous", [False, True], ids=["admin", "anonymous"])


@pytest.fixture
def public_demo(feed_name, storage):
    """A public feed (so anonymous callers get past authorization) with demo 1.0."""
    filename, data = publish_wheel(feed_name, "demo", "1.0")
    feeds.update_feed(storage, feed_name, {"visibility": "public"})
    return feed_name, filename, data


@pytest.fixture
def no_tracebacks(caplog):
    caplog.set_level(logging.DEBUG)
    yield
    assert [r.getMessage() for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR] == []


def token(anonymous):
    return {"token": None} if anonymous else {}


@ADMIN_AND_ANONYMOUS
@pytest.mark.parametrize("header", [f"bytes={HUGE}-", f"bytes=-{HUGE}", f"bytes=0-{HUGE}", "bytes=٣-"])
def test_an_unusable_range_is_ignored(public_demo, no_tracebacks, anonymous, header):
    feed, filename, data = public_demo
    response = call(
        download,
        "GET",
        f"/{feed}/files/demo/{filename}",
        headers={"Range": header},
        feed=feed,
        project="demo",
        filename=filename,
        **token(anonymous),
    )
    assert (response.status_code, response.get_body()) == (200, data)


@ADMIN_AND_ANONYMOUS
@pytest.mark.parametrize(
    "date",
    ["Mon, 01 Jan 2020 00:00:00 +99999999999999999999", "Mon, 01 Jan 2020 99999999999999999999:00:00 GMT"],
)
def test_an_if_range_date_too_large_for_datetime_is_a_mismatch(public_demo, no_tracebacks, anonymous, date):
    feed, filename, data = public_demo
    response = call(
        download,
        "GET",
        f"/{feed}/files/demo/{filename}",
        headers={"Range": "bytes=0-9", "If-Range": date},
        feed=feed,
        project="demo",
        filename=filename,
        **token(anonymous),
    )
    assert (response.status_code, response.get_body()) == (200, data)


@ADMIN_AND_ANONYMOUS
@pytest.mark.parametrize("version", HUGE_VERSIONS)
def test_json_api_version_that_cannot_exist_is_404(public_demo, no_tracebacks, anonymous, version):
    feed, _, _ = public_demo
    response = call(
        version_json,
        "GET",
        f"/{feed}/pypi/demo/{version}/json",
        feed=feed,
        project="demo",
        version=version,
        **token(anonymous),
    )
    assert response.status_code == 404
    assert b"No version" in response.get_body()


@ADMIN_AND_ANONYMOUS
@pytest.mark.parametrize("version", HUGE_VERSIONS)
def test_package_api_version_that_cannot_exist_is_404(public_demo, no_tracebacks, anonymous, version):
    feed, _, _ = public_demo
    response = call(
        api.version_item, "GET", "/x", feed=feed, project="demo", version=version, **token(anonymous)
    )
    assert response.status_code == 404
    assert json_of(response)["error"] == "version_not_found"


@ADMIN_AND_ANONYMOUS
@pytest.mark.parametrize(
    ("handler", "method"),
    [
        (api.version_item, "DELETE"),
        (api.yank, "POST"),
        (api.unyank, "POST"),
        (api.restore, "POST"),
        (api.purge, "DELETE"),
    ],
    ids=["delete", "yank", "unyank", "restore", "purge"],
)
def test_changing_a_version_that_cannot_exist_is_404(public_demo, no_tracebacks, anonymous, handler, method):
    feed, _, _ = public_demo
    response = call(handler, method, "/x", feed=feed, project="demo", version=HUGE, **token(anonymous))
    # Anonymous callers may not change anything: they learn nothing about the version.
    assert response.status_code == (401 if anonymous else 404)
    assert json_of(response)["message"]


@ADMIN_AND_ANONYMOUS
@pytest.mark.parametrize("limit", [HUGE, "0" * 5000 + "1", "²", "\u0661\u0660"])
def test_unusable_limit_is_400(public_demo, no_tracebacks, anonymous, limit):
    feed, _, _ = public_demo
    response = call(
        api.packages_collection, "GET", "/x", params={"limit": limit}, feed=feed, **token(anonymous)
    )
    assert response.status_code == 400
    assert "'limit' must be a whole number" in json_of(response)["message"]


def test_upload_with_a_huge_version_field_is_400(feed_name, no_tracebacks):
    filename, data = make_wheel("demo", "1.0")
    response = publish(feed_name, filename, data, "demo", HUGE)
    assert response.status_code == 400
    assert "is an invalid value for Version" in response.get_body().decode()


def test_upload_whose_metadata_names_a_huge_version_is_400(feed_name, no_tracebacks):
    metadata = f"Metadata-Version: 2.1\nName: demo\nVersion: {HUGE}\n\n"
    filename, data = make_wheel("demo", "1.0", metadata=metadata)
    response = publish(feed_name, filename, data, "demo", "1.0")
    assert response.status_code == 400
    assert "Upload the file with the metadata it was built with" in response.get_body().decode()


def test_sdist_with_a_huge_metadata_version_is_stored_without_serving_its_metadata(feed_name, no_tracebacks):
    pkg_info = f"Metadata-Version: {HUGE}\nName: demo\nVersion: 1.0\n\n"
    filename, data = make_sdist("demo", "1.0", pkg_info=pkg_info)
    response = publish(feed_name, filename, data, "demo", "1.0")
    assert response.status_code == 200, response.get_body()
    body = json_of(call(api.version_item, "GET", "/x", feed=feed_name, project="demo", version="1.0"))
    assert body["files"][0]["core_metadata"] is None
