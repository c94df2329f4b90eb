"""Tokens as the real clients send them: in the index URL, from netrc, from the keyring backend,
from uv's per-index variables, from twine's flags and .pypirc."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from tests.conftest import ADMIN_TOKEN
from tests.e2e.api import (
    call,
    create_feed,
    create_token,
    downloads,
    fetch,
    index_url,
    installed,
    statuses,
    unique,
)
from tests.support.dists import build_project

pytestmark = pytest.mark.e2e

BIN = str(Path(sys.executable).parent)


@pytest.fixture
def private_package(server, clients, tmp_path):
    """A private feed owned by a user, one package in it, and that user's read token."""
    owner = unique("owner")
    manage = create_token(server, owner, scope="manage")
    feed = create_feed(server, token=manage)
    name = unique("fh-auth")
    files = build_project(tmp_path / "build", name, "1.0")
    clients.twine_upload(f"{server.url}/{feed}/upload/", create_token(server, owner, scope="publish"), *files)
    return feed, name, create_token(server, owner, scope="read", feeds=[feed])


def module(name: str) -> str:
    return name.replace("-", "_")


def test_pip_with_the_token_in_the_index_url(server, clients, tmp_path, private_package):
    feed, name, token = private_package
    server.clear_requests()
    clients.pip_install(index_url(server, feed, token), tmp_path / "t", name)
    assert installed(tmp_path / "t") == {f"{module(name)}-1.0.dist-info"}
    assert downloads(server, feed) == {f"{module(name)}-1.0-py3-none-any.whl"}


def test_pip_anonymous_gets_401_and_a_stranger_403(server, clients, tmp_path, private_package):
    feed, name, _ = private_package
    server.clear_requests()
    anonymous = clients.pip_install(index_url(server, feed, None), tmp_path / "a", name, check=False)
    assert anonymous.returncode != 0
    assert 401 in statuses(server, feed)
    stranger = create_token(server, unique("stranger"), scope="read")
    server.clear_requests()
    refused = clients.pip_install(index_url(server, feed, stranger), tmp_path / "b", name, check=False)
    assert refused.returncode != 0
    assert statuses(server, feed) and set(statuses(server, feed)) == {403}


def test_pip_with_netrc(server, clients, tmp_path, private_package):
    feed, name, token = private_package
    netrc = tmp_path / "netrc"
    netrc.write_text(f"machine 127.0.0.1\nlogin __token__\npassword {token}\n")
    netrc.chmod(0o600)
    clients.pip_install(index_url(server, feed, None), tmp_path / "t", name, env={"NETRC": str(netrc)})
    assert installed(tmp_path / "t") == {f"{module(name)}-1.0.dist-info"}


def keyring_env(server, token: str) -> dict[str, str]:
    return {
        "FEEDHOUSE_URL": server.url,
        "FEEDHOUSE_TOKEN": token,
        "PYTHON_KEYRING_BACKEND": "feedhouse_keyring.FeedhouseKeyring",
        "PATH": BIN + os.pathsep + os.environ["PATH"],
    }


def test_pip_through_the_keyring_backend(server, clients, tmp_path, private_package):
    feed, name, token = private_package
    server.clear_requests()
    clients.pip_install(
        index_url(server, feed, None),
        tmp_path / "t",
        "--keyring-provider",
        "import",
        name,
        env=keyring_env(server, token),
    )
    assert installed(tmp_path / "t") == {f"{module(name)}-1.0.dist-info"}
    # pip asked the keyring only after the feed's 401 challenge.
    assert statuses(server, feed)[0] == 401


def test_uv_with_index_variables_and_through_the_keyring(server, clients, tmp_path, private_package):
    feed, name, token = private_package
    url = index_url(server, feed, None)
    uv = [Path(BIN) / "uv", "pip", "install", "--no-config", "--no-cache", "--python", sys.executable]
    named = ["--index", f"team={url}", "--default-index", url]
    clients.run(
        *uv,
        *named,
        "--target",
        tmp_path / "env",
        name,
        env={"UV_INDEX_TEAM_USERNAME": "__token__", "UV_INDEX_TEAM_PASSWORD": token},
    )
    assert installed(tmp_path / "env") == {f"{module(name)}-1.0.dist-info"}
    clients.run(
        *uv,
        *named,
        "--keyring-provider",
        "subprocess",
        "--target",
        tmp_path / "keyring",
        name,
        env={**keyring_env(server, token), "UV_INDEX_TEAM_USERNAME": "__token__"},
    )
    assert installed(tmp_path / "keyring") == {f"{module(name)}-1.0.dist-info"}


def test_twine_with_pypirc_and_through_the_keyring(server, clients, tmp_path):
    owner = unique("publisher")
    feed = create_feed(server, token=create_token(server, owner, scope="manage"))
    publish = create_token(server, owner, scope="publish")
    upload_url = f"{server.url}/{feed}/upload/"
    pypirc = tmp_path / "pypirc"
    pypirc.write_text(
        f"[distutils]\nindex-servers = team\n\n[team]\nrepository = {upload_url}\n"
        f"username = __token__\npassword = {publish}\n"
    )
    first = build_project(tmp_path / "one", unique("fh-pypirc"), "1.0")
    clients.twine_upload(None, None, "--config-file", str(pypirc), "-r", "team", *first)
    second = build_project(tmp_path / "two", unique("fh-twinekr"), "1.0")
    clients.twine_upload(upload_url, None, "-u", "__token__", *second, env=keyring_env(server, publish))
    status, _ = call(server, "GET", f"/api/feeds/{feed}", token=publish)
    assert status == 200


def test_read_token_cannot_publish_with_twine(server, clients, tmp_path, private_package):
    feed, _, token = private_package
    files = build_project(tmp_path / "x", unique("fh-denied"), "1.0")
    result = clients.twine_upload(f"{server.url}/{feed}/upload/", token, *files, check=False)
    assert result.returncode != 0
    assert "403" in result.stdout + result.stderr
    assert "scope" in result.stdout + result.stderr


def test_admin_token_works_everywhere(server, clients, tmp_path, private_package):
    feed, name, _ = private_package
    clients.pip_install(index_url(server, feed, ADMIN_TOKEN), tmp_path / "t", name)
    assert installed(tmp_path / "t")


def test_poetry_publish_with_a_token(server, clients, tmp_path):
    owner = unique("poet")
    feed = create_feed(server, token=create_token(server, owner, scope="manage"))
    name = unique("fh-poetry")
    files = build_project(tmp_path, name, "1.0")
    source = tmp_path / f"src-{module(name)}-1.0"
    env = {
        "POETRY_REPOSITORIES_TEAM_URL": f"{server.url}/{feed}/upload/",
        "POETRY_HTTP_BASIC_TEAM_USERNAME": "__token__",
        "POETRY_HTTP_BASIC_TEAM_PASSWORD": create_token(server, owner, scope="publish"),
    }
    poetry = [
        Path(BIN) / "poetry",
        "publish",
        "--no-interaction",
        "-r",
        "team",
        "--dist-dir",
        files[0].parent,
    ]
    clients.run(*poetry, env=env, cwd=source)
    listing = fetch(f"{server.url}/{feed}/simple/{name}/")
    assert f"{module(name)}-1.0.tar.gz" in listing and f"{module(name)}-1.0-py3-none-any.whl" in listing
