"""Simple pages at handler level: PEP 691 negotiation, JSON and HTML contents, ETags, gzip, caching."""

import gzip
import hashlib
import json

import pytest

from functions.simple import project_detail, project_list
from shared import feeds
from shared.negotiation import SIMPLE_HTML, SIMPLE_JSON
from tests.support.publish import call, publish_sdist, publish_wheel

PIP_ACCEPT = (
    "application/vnd.pypi.simple.v1+json, application/vnd.pypi.simple.v1+html; q=0.1, text/html; q=0.01"
)
METADATA_24 = (
    "Metadata-Version: 2.4\nName: Demo.Pkg\nVersion: {v}\nRequires-Python: >=3.8\nRequires-Dist: six\n\n"
)


@pytest.fixture
def project(feed_name):
    wheel, wheel_bytes = publish_wheel(feed_name, "Demo.Pkg", "1.0", requires_python=">=3.8,<4")
    sdist, sdist_bytes = publish_sdist(feed_name, "Demo.Pkg", "1.0", pkg_info=METADATA_24.format(v="1.0"))
    old_sdist, _ = publish_sdist(feed_name, "Demo.Pkg", "0.9")  # Metadata-Version 2.1: no PEP 658
    return feed_name, {wheel: wheel_bytes, sdist: sdist_bytes}, old_sdist


def page(feed, project="demo-pkg", **kwargs):
    return call(project_detail, "GET", f"/{feed}/simple/{project}/", feed=feed, project=project, **kwargs)


def test_json_page_has_api_1_1_versions_sizes_upload_times_and_metadata_hashes(project):
    feed, files, old_sdist = project
    response = page(feed, headers={"Accept": PIP_ACCEPT})
    assert response.status_code == 200
    assert response.headers["Content-Type"] == SIMPLE_JSON
    doc = json.loads(response.get_body())
    assert doc["meta"] == {"api-version": "1.1"}
    assert doc["name"] == "demo-pkg"
    assert doc["versions"] == ["0.9", "1.0"]
    by_name = {f["filename"]: f for f in doc["files"]}
    assert set(by_name) == {*files, old_sdist}
    for filename, data in files.items():
        entry = by_name[filename]
        assert entry["url"] == f"../../files/demo-pkg/{filename}"
        assert entry["hashes"] == {"sha256": hashlib.sha256(data).hexdigest()}
        assert entry["size"] == len(data)
        assert entry["upload-time"].endswith("Z") and "T" in entry["upload-time"]
        assert entry["yanked"] is False
        assert entry["core-metadata"] == entry["dist-info-metadata"]
        assert set(entry["core-metadata"]) == {"sha256"}
    assert by_name[old_sdist]["core-metadata"] is False
    wheel = next(f for f in by_name.values() if f["filename"].endswith(".whl"))
    assert wheel["requires-python"] == ">=3.8,<4"


def test_html_page_has_repository_version_metadata_and_escaped_requires_python(project):
    feed, _, old_sdist = project
    response = page(feed)
    assert response.headers["Content-Type"] == "text/html; charset=utf-8"
    html = response.get_body().decode()
    assert '<meta name="pypi:repository-version" content="1.1">' in html
    assert 'data-requires-python="&gt;=3.8,&lt;4"' in html
    assert html.count("data-core-metadata=") == 2 and html.count("data-dist-info-metadata=") == 2
    old_link = next(line for line in html.splitlines() if old_sdist in line)
    assert "data-core-metadata" not in old_link
    assert "data-yanked" not in html


@pytest.mark.parametrize(
    ("accept", "format_param", "content_type"),
    [
        (None, None, "text/html; charset=utf-8"),
        ("*/*", None, "text/html; charset=utf-8"),
        ("application/vnd.pypi.simple.latest+json", None, SIMPLE_JSON),
        ("application/vnd.pypi.simple.v1+html", None, f"{SIMPLE_HTML}; charset=utf-8"),
        ("text/html", SIMPLE_JSON, SIMPLE_JSON),
        (PIP_ACCEPT, "text/html", "text/html; charset=utf-8"),
    ],
)
def test_negotiation(project, accept, format_param, content_type):
    feed, _, _ = project
    headers = {"Accept": accept} if accept else {}
    params = {"format": format_param} if format_param else {}
    for response in (page(feed, headers=headers, params=params), index(feed, headers=headers, params=params)):
        assert response.status_code == 200
        assert response.headers["Content-Type"] == content_type
        assert response.headers["Vary"] == "Accept, Accept-Encoding"


@pytest.mark.parametrize(
    ("headers", "params"),
    [
        ({"Accept": "application/json"}, {}),
        ({"Accept": "text/plain, text/html;q=0"}, {}),
        ({}, {"format": "application/vnd.pypi.simple.v42+xml"}),
    ],
)
def test_unsupported_accept_is_406_with_the_supported_types(project, headers, params):
    feed, _, _ = project
    for response in (page(feed, headers=headers, params=params), index(feed, headers=headers, params=params)):
        assert response.status_code == 406
        assert SIMPLE_JSON in response.get_body().decode()


def index(feed, **kwargs):
    return call(project_list, "GET", f"/{feed}/simple/", feed=feed, **kwargs)


def test_json_index_lists_display_names(project):
    feed, _, _ = project
    doc = json.loads(index(feed, headers={"Accept": SIMPLE_JSON}).get_body())
    assert doc == {"meta": {"api-version": "1.1"}, "projects": [{"name": "Demo.Pkg"}]}


def test_strong_etag_and_304(project):
    feed, _, _ = project
    first = page(feed, headers={"Accept": PIP_ACCEPT})
    etag = first.headers["ETag"]
    assert etag.startswith('"') and not etag.startswith("W/")
    assert page(feed, headers={"Accept": PIP_ACCEPT}).headers["ETag"] == etag
    assert page(feed).headers["ETag"] != etag  # HTML is another representation
    again = page(feed, headers={"Accept": PIP_ACCEPT, "If-None-Match": etag})
    assert again.status_code == 304
    assert again.get_body() == b""
    assert again.headers["ETag"] == etag
    assert again.headers["Vary"] == "Accept, Accept-Encoding"
    assert again.headers["Cache-Control"] == first.headers["Cache-Control"]
    assert page(feed, headers={"Accept": PIP_ACCEPT, "If-None-Match": '"stale"'}).status_code == 200


def test_page_changes_its_etag_when_the_project_changes(project):
    feed, _, _ = project
    before = page(feed).headers["ETag"]
    publish_wheel(feed, "Demo.Pkg", "2.0")
    after = page(feed, headers={"If-None-Match": before})
    assert after.status_code == 200
    assert after.headers["ETag"] != before


def test_gzip_when_accepted_with_its_own_etag(project):
    feed, _, _ = project
    plain = page(feed, headers={"Accept": PIP_ACCEPT})
    zipped = page(feed, headers={"Accept": PIP_ACCEPT, "Accept-Encoding": "gzip, deflate"})
    assert "Content-Encoding" not in plain.headers
    assert zipped.headers["Content-Encoding"] == "gzip"
    assert gzip.decompress(zipped.get_body()) == plain.get_body()
    assert zipped.headers["ETag"] != plain.headers["ETag"]
    not_modified = page(
        feed,
        headers={"Accept": PIP_ACCEPT, "Accept-Encoding": "gzip", "If-None-Match": zipped.headers["ETag"]},
    )
    assert not_modified.status_code == 304
    # The identity ETag does not validate the gzip representation, nor the other way round.
    assert (
        page(feed, headers={"Accept": PIP_ACCEPT, "If-None-Match": zipped.headers["ETag"]}).status_code == 200
    )


def test_head_has_the_headers_and_length_of_get(project):
    feed, _, _ = project
    get = page(feed)
    head = call(project_detail, "HEAD", f"/{feed}/simple/demo-pkg/", feed=feed, project="demo-pkg")
    assert head.status_code == 200
    assert head.get_body() == b""
    assert head.headers["Content-Length"] == str(len(get.get_body()))
    assert head.headers["ETag"] == get.headers["ETag"]


def test_cache_control_public_or_private_after_visibility(project, storage, monkeypatch):
    feed, _, _ = project
    assert page(feed).headers["Cache-Control"] == "max-age=600, private"
    feeds.update_feed(storage, feed, {"visibility": "public"})
    assert page(feed).headers["Cache-Control"] == "max-age=600, public"
    assert index(feed).headers["Cache-Control"] == "max-age=600, public"
    from shared import settings

    monkeypatch.setenv("FEEDHOUSE_PAGE_MAX_AGE_SECONDS", "60")
    settings.load.cache_clear()
    try:
        assert page(feed).headers["Cache-Control"] == "max-age=60, public"
    finally:
        monkeypatch.undo()
        settings.load.cache_clear()


def test_redirects_keep_the_format_parameter(project):
    feed, _, _ = project
    from tests.support.http import request

    response = project_detail(
        request(
            "GET",
            f"/{feed}/simple/Demo.Pkg?format=application/vnd.pypi.simple.v1%2Bjson",
            route_params={"feed": feed, "project": "Demo.Pkg"},
        )
    )
    assert response.status_code == 301
    assert (
        response.headers["Location"]
        == f"/{feed}/simple/demo-pkg/?format=application/vnd.pypi.simple.v1%2Bjson"
    )
