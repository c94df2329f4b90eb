"""``/-/client/``: every deployment serves the feedhouse client's wheel, to anyone, at a stable URL."""

from __future__ import annotations

import hashlib
import re
import zipfile
from io import BytesIO

import pytest

from functions import client as client_module
from functions.client import WHEEL, client
from shared.version import VERSION
from tests.support.http import request


def get(path: str, method: str = "GET", headers: dict[str, str] | None = None):
    sub = path.removeprefix("/-/client").strip("/")
    return client(request(method, path, route_params={"path": sub}, headers=headers or {}))


@pytest.fixture(autouse=True)
def built(client_wheel):
    return client_wheel


def test_the_wheel_is_served_to_anyone_under_its_versioned_name_and_cached_for_good(built):
    response = get(f"/-/client/{WHEEL}")
    assert response.status_code == 200
    body = response.get_body()
    assert body == built.read_bytes()
    assert (
        response.headers["Cache-Control"].startswith("max-age=")
        and "immutable, public" in response.headers["Cache-Control"]
    )
    assert response.headers["ETag"] == f'"{hashlib.sha256(body).hexdigest()}"'
    with zipfile.ZipFile(BytesIO(body)) as wheel:
        metadata = wheel.read(f"feedhouse-{VERSION}.dist-info/METADATA").decode()
        entry_points = wheel.read(f"feedhouse-{VERSION}.dist-info/entry_points.txt").decode()
    # The client's version is the app's, and one wheel carries the command and the keyring backend.
    assert f"\nVersion: {VERSION}\n" in metadata
    assert "feedhouse = feedhouse_cli.main:main" in entry_points
    assert "feedhouse = feedhouse_keyring:FeedhouseKeyring" in entry_points

    again = get(f"/-/client/{WHEEL}", headers={"If-None-Match": response.headers["ETag"]})
    assert again.status_code == 304
    head = get(f"/-/client/{WHEEL}", method="HEAD")
    assert head.status_code == 200 and head.headers["Content-Length"] == str(len(body))


def test_a_one_project_simple_index_is_the_stable_url(built):
    root = get("/-/client/simple/")
    assert root.status_code == 200 and 'href="feedhouse/"' in root.get_body().decode()
    page = get("/-/client/simple/feedhouse/")
    assert page.status_code == 200
    assert page.headers["Cache-Control"] == "max-age=300, public"
    sha256 = hashlib.sha256(built.read_bytes()).hexdigest()
    assert f'href="../../{WHEEL}#sha256={sha256}"' in page.get_body().decode()
    # Any other project is not here: uv goes on to the next index for the client's dependencies.
    assert get("/-/client/simple/keyring/").status_code == 404


def test_the_landing_page_shows_the_install_lines():
    page = get("/-/client/").get_body().decode()
    assert "uv tool install --index http://localhost:7071/-/client/simple/ feedhouse" in page
    assert f"pipx install http://localhost:7071/-/client/{WHEEL}" in page


@pytest.mark.parametrize(
    "path", ["/-/client/feedhouse-0.0.1-py3-none-any.whl", "/-/client/x", "/-/client/simple/a/b"]
)
def test_anything_else_is_404(path):
    response = get(path)
    assert response.status_code == 404
    assert f"/-/client/{WHEEL}" in response.get_body().decode()


def test_a_deployment_packaged_without_the_wheel_says_so(monkeypatch, tmp_path):
    monkeypatch.setattr(client_module, "WHEELHOUSE", tmp_path)
    response = get(f"/-/client/{WHEEL}")
    assert response.status_code == 404
    assert re.search(
        r"packaged without the feedhouse client .*tools/package.py", response.get_body().decode()
    )
