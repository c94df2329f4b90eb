"""Real clients against the local Functions host + Azurite: twine and uv publish, pip and uv install."""

from __future__ import annotations

import json
import secrets
import urllib.request
from pathlib import Path

import pytest

from tests.conftest import ADMIN_TOKEN
from tests.support.dists import build_project

pytestmark = pytest.mark.e2e


def create_feed(server, name: str) -> None:
    request = urllib.request.Request(
        f"{server.url}/api/feeds",
        data=json.dumps({"name": name}).encode(),
        headers={"Authorization": f"Bearer {ADMIN_TOKEN}", "Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request) as response:
        assert response.status == 201


def unique(prefix: str) -> str:
    return f"{prefix}-{secrets.token_hex(3)}"


def fetched(server, feed: str) -> set[str]:
    return {
        path.rsplit("/", 1)[1]
        for method, path, status in server.requests
        if method == "GET" and path.startswith(f"/{feed}/files/") and status == 200
    }


def downloads(server, feed: str) -> set[str]:
    """Distribution files fetched (PEP 658 metadata files aside)."""
    return {name for name in fetched(server, feed) if not name.endswith(".metadata")}


def installed(target: Path) -> set[str]:
    return {p.name for p in target.iterdir() if p.name.endswith(".dist-info")}


def test_twine_upload_then_pip_and_uv_install_with_a_dependency(server, feed, clients, tmp_path):
    dep, app = unique("fh-dep"), unique("fh-app")
    dep_files = build_project(tmp_path, dep, "1.0")
    app_files = build_project(tmp_path, app, "2.0", dependencies=(f"{dep}>=1",))
    upload_url = f"{server.url}/{feed}/upload/"
    clients.twine_upload(upload_url, ADMIN_TOKEN, *dep_files, *app_files)

    index = f"{server.url}/{feed}/simple/"
    server.clear_requests()
    clients.pip_install(index, tmp_path / "pip-target", app)
    module = lambda name: name.replace("-", "_")  # noqa: E731
    assert installed(tmp_path / "pip-target") == {
        f"{module(dep)}-1.0.dist-info",
        f"{module(app)}-2.0.dist-info",
    }
    assert downloads(server, feed) == {
        f"{module(dep)}-1.0-py3-none-any.whl",
        f"{module(app)}-2.0-py3-none-any.whl",
    }

    server.clear_requests()
    clients.uv_install(index, tmp_path / "uv-target", app)
    assert installed(tmp_path / "uv-target") == {
        f"{module(dep)}-1.0.dist-info",
        f"{module(app)}-2.0.dist-info",
    }
    assert downloads(server, feed) == {
        f"{module(dep)}-1.0-py3-none-any.whl",
        f"{module(app)}-2.0-py3-none-any.whl",
    }

    # Both the wheel and the sdist are listed, with their hashes.
    with urllib.request.urlopen(f"{index}{app}/") as response:
        page = response.read().decode()
    assert f"{module(app)}-2.0.tar.gz#sha256=" in page
    assert f"{module(app)}-2.0-py3-none-any.whl#sha256=" in page


def test_uv_publish_then_install(server, feed, clients, tmp_path):
    name = unique("fh-uvpub")
    files = build_project(tmp_path, name, "0.1")
    clients.uv_publish(f"{server.url}/{feed}/upload/", ADMIN_TOKEN, *files)
    clients.pip_install(f"{server.url}/{feed}/simple/", tmp_path / "target", f"{name}==0.1")
    assert installed(tmp_path / "target") == {f"{name.replace('-', '_')}-0.1.dist-info"}


def test_twine_upload_to_the_simple_url(server, feed, clients, tmp_path):
    name = unique("fh-simpleurl")
    files = build_project(tmp_path, name, "1.0")
    clients.twine_upload(f"{server.url}/{feed}/simple/", ADMIN_TOKEN, *files)
    with urllib.request.urlopen(f"{server.url}/{feed}/simple/{name}/") as response:
        assert response.status == 200


def test_identical_reupload_succeeds_and_changed_file_is_refused(server, feed, clients, tmp_path):
    name = unique("fh-reup")
    first = build_project(tmp_path / "a", name, "1.0")
    upload_url = f"{server.url}/{feed}/upload/"
    clients.twine_upload(upload_url, ADMIN_TOKEN, *first)
    clients.twine_upload(upload_url, ADMIN_TOKEN, *first)  # a re-run of the same upload is fine

    changed = build_project(tmp_path / "b", name, "1.0", dependencies=("six",))
    wheel = next(p for p in changed if p.suffix == ".whl")
    result = clients.twine_upload(upload_url, ADMIN_TOKEN, wheel, check=False)
    assert result.returncode != 0
    assert "File already exists" in result.stdout + result.stderr


def test_feeds_are_isolated(server, clients, tmp_path):
    feed_a, feed_b = "iso-a-" + secrets.token_hex(3), "iso-b-" + secrets.token_hex(3)
    create_feed(server, feed_a)
    create_feed(server, feed_b)
    name = unique("fh-iso")
    clients.twine_upload(f"{server.url}/{feed_a}/upload/", ADMIN_TOKEN, *build_project(tmp_path, name, "1.0"))

    result = clients.pip_install(f"{server.url}/{feed_b}/simple/", tmp_path / "t", name, check=False)
    assert result.returncode != 0
    assert "No matching distribution" in result.stderr
    with pytest.raises(urllib.error.HTTPError) as missing:
        urllib.request.urlopen(f"{server.url}/{feed_b}/simple/{name}/")
    assert missing.value.code == 404
    clients.pip_install(f"{server.url}/{feed_a}/simple/", tmp_path / "t2", name)
