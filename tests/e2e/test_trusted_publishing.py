"""Trusted publishing with the real clients (issue 15): `uv publish --trusted-publishing always` in a
GitHub-Actions-shaped environment (the local provider serves ACTIONS_ID_TOKEN_REQUEST_URL) publishes
through the exchange, twine uploads with a minted token, and uv from another repository is refused."""

from __future__ import annotations

import json
import secrets
import sys
import urllib.request
from pathlib import Path

import pytest

from tests.conftest import ROOT
from tests.e2e.api import call, create_feed, installed, unique
from tests.support.dists import build_project
from tests.support.oidc import ACTIONS_REQUEST_TOKEN, LocalIssuer, app_settings
from tests.support.tls import loopback_certificate

pytestmark = pytest.mark.e2e

UV = Path(sys.executable).parent / "uv"


@pytest.fixture(scope="module")
def tls_server(server, tmp_path_factory):
    """The app once more, over https: uv speaks trusted publishing only to an https index."""
    from function_app import app
    from tools.functions_host import serve

    cert_file, context = loopback_certificate(tmp_path_factory.mktemp("tls"))
    with serve(app, root=ROOT, ssl_context=context) as running:
        running.cert_file = cert_file
        yield running


@pytest.fixture
def github(server, monkeypatch):
    with LocalIssuer() as issuer, app_settings(monkeypatch, FEEDHOUSE_GITHUB_OIDC_ISSUER=issuer.url):
        yield issuer


def actions_claims(repository: str, workflow: str = "release.yml") -> dict:
    return {
        "sub": f"repo:{repository}:environment:pypi",
        "repository": repository,
        "repository_owner": repository.split("/")[0],
        "job_workflow_ref": f"{repository}/.github/workflows/{workflow}@refs/tags/v1.0",
        "workflow_ref": f"{repository}/.github/workflows/{workflow}@refs/tags/v1.0",
        "ref": "refs/tags/v1.0",
        "event_name": "push",
        "environment": "pypi",
        "run_id": "42",
    }


def uv_publish(clients, tls_server, github, feed: str, *files: Path):
    env = {
        "GITHUB_ACTIONS": "true",
        "ACTIONS_ID_TOKEN_REQUEST_URL": github.actions_token_url,
        "ACTIONS_ID_TOKEN_REQUEST_TOKEN": ACTIONS_REQUEST_TOKEN,
        "SSL_CERT_FILE": str(tls_server.cert_file),
    }
    command = [UV, "publish", "--no-config", "--trusted-publishing", "always"]
    return clients.run(
        *command, "--publish-url", f"{tls_server.url}/{feed}/upload/", *files, env=env, check=False
    )


def test_uv_publishes_through_the_exchange_and_another_repository_is_refused(
    server, tls_server, github, clients, tmp_path
):
    feed = create_feed(server)
    repository = f"contoso-{secrets.token_hex(3)}/widgets"
    status, body = call(
        server,
        "POST",
        f"/api/feeds/{feed}/trusted-publishers",
        {"kind": "github", "repository": repository, "workflow": "release.yml", "environment": "pypi"},
    )
    assert status == 201, body
    publisher_user = body["user"]

    name = unique("fh-tp")
    files = build_project(tmp_path / "build", name, "1.0")
    github.actions_claims = actions_claims(repository)
    published = uv_publish(clients, tls_server, github, feed, *files)
    assert published.returncode == 0, published.stdout + published.stderr
    status, package = call(server, "GET", f"/api/feeds/{feed}/packages/{name}")
    assert status == 200, package
    [version] = package["versions"]
    assert {f["uploader"] for f in version["files"]} == {publisher_user}

    other = build_project(tmp_path / "other", name, "2.0")
    github.actions_claims = actions_claims(f"{repository}-fork")
    refused = uv_publish(clients, tls_server, github, feed, *other)
    assert refused.returncode != 0
    assert "422" in refused.stderr and "no trusted publisher matches" in refused.stderr, refused.stderr

    # twine: the exchange done by hand (as pypa/gh-action-pypi-publish does), then an ordinary upload.
    github.actions_claims = actions_claims(repository)
    oidc_token = _actions_token(github, "feedhouse")
    request = urllib.request.Request(
        f"{server.url}/_/oidc/mint-token",
        data=json.dumps({"token": oidc_token}).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request) as response:
        minted = json.load(response)["token"]
    third = build_project(tmp_path / "third", name, "3.0")
    clients.twine_upload(f"{server.url}/{feed}/upload/", minted, *third)
    target = tmp_path / "t"
    index = f"http://__token__:{minted}@{server.url.split('://')[1]}/{feed}/simple/"
    clients.pip_install(index, target, f"{name}==3.0")
    assert installed(target) == {f"{name.replace('-', '_')}-3.0.dist-info"}


def _actions_token(github, audience: str) -> str:
    request = urllib.request.Request(
        f"{github.actions_token_url}&audience={audience}",
        headers={"Authorization": f"Bearer {ACTIONS_REQUEST_TOKEN}"},
    )
    with urllib.request.urlopen(request) as response:
        return json.load(response)["value"]
