"""The PyPI-shaped JSON API at handler level."""

import hashlib
import json

import pytest

from functions.packages_api import yank
from functions.pypi_json import project_json, version_json
from tests.support.publish import call, publish_sdist, publish_wheel

METADATA = (
    "Metadata-Version: 2.1\nName: Json.Demo\nVersion: {v}\nSummary: A demo\nRequires-Python: >=3.9\n"
    "Requires-Dist: six\nProject-URL: Source, https://example.org/src\n"
    "Classifier: Private :: Do Not Upload\n\n"
    "The long description.\n"
)


@pytest.fixture
def project(feed_name):
    published = {}
    for version in ("1.0", "2.0", "3.0rc1"):
        published[version] = publish_wheel(
            feed_name, "Json.Demo", version, metadata=METADATA.format(v=version)
        )
    publish_sdist(feed_name, "Json.Demo", "1.0")
    return feed_name, published


def get(handler, feed, project="json-demo", **params):
    return call(handler, "GET", f"/{feed}/pypi/{project}/json", feed=feed, project=project, **params)


def test_project_document(project):
    feed, published = project
    response = get(project_json, feed)
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/json"
    assert response.headers["ETag"].startswith('"')
    doc = json.loads(response.get_body())
    info = doc["info"]
    # The newest final release, not the release candidate.
    assert info["version"] == "2.0"
    assert (info["name"], info["summary"], info["requires_python"]) == ("Json.Demo", "A demo", ">=3.9")
    assert info["requires_dist"] == ["six"]
    assert info["project_urls"] == {"Source": "https://example.org/src"}
    assert info["description"] == "The long description.\n"
    assert info["release_url"].endswith(f"/{feed}/pypi/json-demo/2.0/json")
    assert set(doc["releases"]) == {"1.0", "2.0", "3.0rc1"}
    assert len(doc["releases"]["1.0"]) == 2
    (url,) = doc["urls"]
    filename, data = published["2.0"]
    assert url["filename"] == filename
    assert url["digests"]["sha256"] == hashlib.sha256(data).hexdigest()
    assert url["digests"]["md5"] == hashlib.md5(data, usedforsecurity=False).hexdigest() == url["md5_digest"]
    assert url["url"] == f"http://localhost:7071/{feed}/files/json-demo/{filename}"
    assert (url["packagetype"], url["python_version"], url["size"]) == ("bdist_wheel", "py3", len(data))
    assert url["upload_time_iso_8601"].startswith(url["upload_time"])
    assert doc["vulnerabilities"] == []
    assert isinstance(doc["last_serial"], int)


def test_version_document_and_yanked_latest(project):
    feed, _ = project
    call(yank, "POST", "/x", json_body={"reason": "bad"}, feed=feed, project="json-demo", version="2.0")
    assert json.loads(get(project_json, feed).get_body())["info"]["version"] == "1.0"
    response = call(version_json, "GET", "/x", feed=feed, project="json-demo", version="2.0")
    doc = json.loads(response.get_body())
    assert "releases" not in doc
    assert (doc["info"]["version"], doc["info"]["yanked"], doc["info"]["yanked_reason"]) == (
        "2.0",
        True,
        "bad",
    )
    assert doc["urls"][0]["yanked"] is True


def test_unnormalized_names_redirect_and_unknowns_are_404(project):
    feed, _ = project
    redirected = get(project_json, feed, project="Json_Demo")
    assert (redirected.status_code, redirected.headers["Location"]) == (301, f"/{feed}/pypi/json-demo/json")
    assert get(project_json, feed, project="nope").status_code == 404
    for version in ("9.9", "not a version"):
        response = call(version_json, "GET", "/x", feed=feed, project="json-demo", version=version)
        assert response.status_code == 404


def test_304_on_the_json_api(project):
    feed, _ = project
    etag = get(project_json, feed).headers["ETag"]
    again = call(project_json, "GET", "/x", headers={"If-None-Match": etag}, feed=feed, project="json-demo")
    assert again.status_code == 304
    assert again.headers["Vary"] == "Accept-Encoding"
