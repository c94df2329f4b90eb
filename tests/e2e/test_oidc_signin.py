"""A real pip installs from a private feed with an OpenID Connect access token as its password (issue 15),
and the same pip with a token for another audience is refused."""

from __future__ import annotations

import secrets

import pytest

from tests.e2e.api import call, create_feed, index_url, installed, statuses, unique
from tests.support.dists import build_project
from tests.support.oidc import LocalIssuer, app_settings

pytestmark = pytest.mark.e2e

AUDIENCE = "api://feedhouse-e2e"


@pytest.fixture
def provider(server, monkeypatch):
    with (
        LocalIssuer() as issuer,
        app_settings(monkeypatch, FEEDHOUSE_OIDC_ISSUER=issuer.url, FEEDHOUSE_OIDC_AUDIENCE=AUDIENCE),
    ):
        yield issuer


def test_pip_installs_with_an_access_token_granted_through_its_group(server, clients, tmp_path, provider):
    feed = create_feed(server)
    name = unique("fh-oidc")
    files = build_project(tmp_path / "build", name, "1.0")
    group = "0b9e5a4c-1d2e-4f60-8a7b-" + secrets.token_hex(6)
    status, body = call(
        server, "PUT", f"/api/feeds/{feed}/permissions/group:{group}", {"role": "contributor"}
    )
    assert status == 200, body
    user = {"oid": "5d7c0f2e-aaaa-4bbb-8ccc-" + secrets.token_hex(6), "name": "CI Person", "groups": [group]}
    token = provider.issue(user, audience=AUDIENCE)
    clients.twine_upload(f"{server.url}/{feed}/upload/", token, *files)

    server.clear_requests()
    clients.pip_install(index_url(server, feed, token), tmp_path / "t", name)
    assert installed(tmp_path / "t") == {f"{name.replace('-', '_')}-1.0.dist-info"}

    server.clear_requests()
    stranger = provider.issue({**user, "aud": "api://someone-else"})
    refused = clients.pip_install(index_url(server, feed, stranger), tmp_path / "r", name, check=False)
    assert refused.returncode != 0
    assert statuses(server, feed) and set(statuses(server, feed)) == {401}
