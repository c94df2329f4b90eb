"""`feedhouse login --device-code` (issue 15): the client reads the deployment's sign-in settings at
/-/client/config, signs in through its identity provider with msal's device code flow (a local
provider over https, Entra-shaped: an issuer with a tenant path), keeps the sign-in (never shown, 0600),
and every client then gets a current access token from the keyring backend, refreshed with the refresh
token once the access token runs out."""

from __future__ import annotations

import json
import secrets
import stat
import threading
import time

import feedhouse_keyring
import jwt
import pytest
from feedhouse_cli import errors

from functions.client import client
from shared import settings
from tests.support.http import json_of, request
from tests.support.oidc import LocalIssuer, app_settings
from tests.support.tls import loopback_certificate

SCOPE = "api://feedhouse-test/access"


@pytest.fixture(scope="module")
def tls(tmp_path_factory):
    return loopback_certificate(tmp_path_factory.mktemp("signin-tls"))


@pytest.fixture
def provider(server, tls, monkeypatch):
    ca_file, context = tls
    with LocalIssuer(context, path=f"/{secrets.token_hex(4)}/v2.0") as issuer:
        issuer.user = {
            "oid": secrets.token_hex(4) + "-1111-2222-3333-" + secrets.token_hex(6),
            "sub": "pairwise",
            "name": "Ada Lovelace",
        }
        # The app (urllib) and msal (requests) trust the local CA.
        with app_settings(
            monkeypatch,
            FEEDHOUSE_OIDC_ISSUER=issuer.url,
            FEEDHOUSE_OIDC_AUDIENCE=issuer.access_audience,
            FEEDHOUSE_OIDC_CLIENT_ID=issuer.client_id,
            FEEDHOUSE_OIDC_SCOPES=SCOPE,
            SSL_CERT_FILE=str(ca_file),
            REQUESTS_CA_BUNDLE=str(ca_file),
        ):
            yield issuer


def approve_when_asked(provider) -> threading.Thread:
    """The person at the browser: enters the code shown, once there is one."""

    def approve() -> None:
        deadline = time.monotonic() + 30
        while not provider.device_codes and time.monotonic() < deadline:
            time.sleep(0.05)
        for user_code in list(provider.device_codes):
            provider.approve_device(user_code)

    thread = threading.Thread(target=approve, daemon=True)
    thread.start()
    return thread


def test_the_deployment_advertises_what_the_client_signs_in_with(provider):
    body = json_of(client(request("GET", "/-/client/config", route_params={"path": "config"})))
    assert body["signin"] == {"issuer": provider.url, "client_id": provider.client_id, "scopes": [SCOPE]}


def test_a_deployment_without_an_identity_provider_advertises_none(app_env):
    settings.load.cache_clear()
    body = json_of(client(request("GET", "/-/client/config", route_params={"path": "config"})))
    assert body["signin"] is None


def test_login_with_a_device_code_keeps_a_sign_in_that_gives_every_client_a_token(server, cli, provider):
    approve_when_asked(provider)
    result = cli.ok("login", server.url, "--device-code")
    user_code = next(iter(provider.device_codes))
    assert f"enter the code {user_code}" in result.err  # the provider's instructions, as msal got them
    assert f"Logged in to {server.url} as Ada Lovelace ({provider.user['oid']})" in result.out

    credentials = cli.home / ".config" / "feedhouse" / "credentials.ini"
    assert stat.S_IMODE(credentials.stat().st_mode) == 0o600
    assert "refresh_token" in credentials.read_text().lower() or "RefreshToken" in credentials.read_text()

    who = cli.ok("whoami")
    assert f"Ada Lovelace ({provider.user['oid']}) on {server.url}" in who.out
    assert "signed in through the identity provider" in who.out

    # What pip and uv get from the keyring backend: an access token for the deployment's audience.
    backend = feedhouse_keyring.FeedhouseKeyring()
    token = backend.get_password(f"{server.url}/team/simple/", "__token__")
    claims = jwt.decode(token, options={"verify_signature": False})
    assert claims["aud"] == provider.access_audience and claims["oid"] == provider.user["oid"]


def expire_access_tokens(credentials) -> None:
    """Make the access tokens of the kept sign-in count as run out (msal renews one within 5 minutes
    of its end), as an hour later."""
    head, _, stored = credentials.read_text().partition("token = ")
    document = json.loads(stored)
    cache = json.loads(document["cache"])
    for entry in cache["AccessToken"].values():
        entry["expires_on"] = entry["extended_expires_on"] = str(int(time.time()) + 10)
    document["cache"] = json.dumps(cache)
    credentials.write_text(f"{head}token = {json.dumps(document)}\n")


def test_an_expired_access_token_is_refreshed_and_the_rotated_sign_in_kept(server, cli, provider):
    approve_when_asked(provider)
    cli.ok("login", server.url, "--device-code")
    credentials = cli.home / ".config" / "feedhouse" / "credentials.ini"
    backend = feedhouse_keyring.FeedhouseKeyring()
    service = f"{server.url}/team/simple/"

    def refreshes() -> int:
        return len([r for r in provider.token_requests if r.get("grant_type") == "refresh_token"])

    before = refreshes()
    cached = backend.get_password(service, "__token__")
    assert cached and refreshes() == before  # a current access token: no request to the provider

    expire_access_tokens(credentials)
    first = backend.get_password(service, "__token__")
    assert first and first != cached and refreshes() == before + 1
    # The provider rotates refresh tokens (it refuses a used one): a second refresh works only if the
    # first one's sign-in was kept.
    expire_access_tokens(credentials)
    second = backend.get_password(service, "__token__")
    assert second and second != first and refreshes() == before + 2
    assert stat.S_IMODE(credentials.stat().st_mode) == 0o600
    assert f"Ada Lovelace ({provider.user['oid']})" in cli.ok("whoami").out


def test_a_refused_device_sign_in_logs_no_one_in(server, cli, provider):
    provider.client_id = "another-client"  # the provider does not know the deployment's client
    try:
        result = cli("login", server.url, "--device-code")
    finally:
        provider.client_id = settings.load().oidc_client_id
    assert result.code == errors.AUTH and "did not succeed" in result.err
    assert not (cli.home / ".config" / "feedhouse" / "credentials.ini").exists()


def test_login_with_a_device_code_needs_an_identity_provider(server, cli, app_env):
    settings.load.cache_clear()
    result = cli("login", server.url, "--device-code")
    assert result.code == errors.USAGE and "tokens only" in result.err
