"""Simple pages and file downloads at handler level."""

import hashlib
import re

import pytest

from functions.files import download
from functions.simple import project_detail, project_list
from tests.conftest import ADMIN_TOKEN
from tests.support.http import basic, request
from tests.support.publish import publish_wheel


@pytest.fixture
def published(feed_name):
    wheel, data = publish_wheel(feed_name, "My.Package", "1.0", requires_python=">=3.8,<4")
    return feed_name, wheel, data


ADMIN = basic(ADMIN_TOKEN)


def get(handler, path, **route_params):
    return handler(request("GET", path, route_params=route_params, headers=ADMIN))


def test_project_list(published):
    feed, _, _ = published
    response = get(project_list, f"/{feed}/simple/", feed=feed)
    assert response.status_code == 200
    assert response.mimetype == "text/html"
    assert '<a href="my-package/">My.Package</a>' in response.get_body().decode()


def test_project_list_without_slash_redirects(published):
    feed, _, _ = published
    response = get(project_list, f"/{feed}/simple", feed=feed)
    assert response.status_code == 301
    assert response.headers["Location"] == f"/{feed}/simple/"


def test_project_page_links_files_with_hash_and_escaped_requires_python(published):
    feed, wheel, data = published
    response = get(project_detail, f"/{feed}/simple/my-package/", feed=feed, project="my-package")
    assert response.status_code == 200
    page = response.get_body().decode()
    digest = hashlib.sha256(data).hexdigest()
    assert f'href="../../files/my-package/{wheel}#sha256={digest}"' in page
    assert 'data-requires-python="&gt;=3.8,&lt;4"' in page
    assert re.search(rf">{re.escape(wheel)}</a>", page)


@pytest.mark.parametrize(
    ("path", "project", "location"),
    [
        ("/{feed}/simple/My.Package/", "My.Package", "/{feed}/simple/my-package/"),
        ("/{feed}/simple/my_package", "my_package", "/{feed}/simple/my-package/"),
        ("/{feed}/simple/my-package", "my-package", "/{feed}/simple/my-package/"),
    ],
)
def test_unnormalized_or_slashless_project_urls_redirect(published, path, project, location):
    feed, _, _ = published
    response = get(project_detail, path.format(feed=feed), feed=feed, project=project)
    assert response.status_code == 301
    assert response.headers["Location"] == location.format(feed=feed)


@pytest.mark.parametrize("project", ["unknown", "-bad-", "a..b"])
def test_unknown_project_is_404(published, project):
    feed, _, _ = published
    response = get(project_detail, f"/{feed}/simple/{project}/", feed=feed, project=project)
    assert response.status_code in (301, 404)
    if response.status_code == 404:
        assert response.get_body()


def test_unknown_feed_is_404(app_env):
    response = get(project_list, "/nope-feed/simple/", feed="nope-feed")
    assert response.status_code == 404
    assert b"does not exist" in response.get_body()


def test_download_and_head(published):
    feed, wheel, data = published
    params = {"feed": feed, "project": "my-package", "filename": wheel}
    response = download(
        request("GET", f"/{feed}/files/my-package/{wheel}", route_params=params, headers=ADMIN)
    )
    assert response.status_code == 200
    assert response.get_body() == data
    assert response.headers["Content-Length"] == str(len(data))
    assert response.headers["ETag"] == f'"{hashlib.sha256(data).hexdigest()}"'
    assert response.mimetype == "application/zip"
    head = download(request("HEAD", f"/{feed}/files/my-package/{wheel}", route_params=params, headers=ADMIN))
    assert head.status_code == 200
    assert head.get_body() == b""
    assert head.headers["Content-Length"] == str(len(data))


@pytest.mark.parametrize("filename", ["missing-1.0-py3-none-any.whl", "..", "a\\b"])
def test_download_unknown_file_is_404(published, filename):
    feed, _, _ = published
    params = {"feed": feed, "project": "my-package", "filename": filename}
    response = download(request("GET", "/x", route_params=params, headers=ADMIN))
    assert response.status_code == 404
