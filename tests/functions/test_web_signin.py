"""Signing a browser in through the OpenID Connect issuer (issue 15): the authorization code flow with
PKCE against a local provider, the redirect chain driven by the test. Every answer from the way back
that is not exactly right (state, code, nonce, audience, expiry, the provider's error) shows the
sign-in page saying why, and starts no session."""

from __future__ import annotations

import html
import re
import secrets
import socket
import threading
import time
import urllib.request
from datetime import UTC, datetime, timedelta
from http.cookies import SimpleCookie
from urllib.parse import parse_qs, urlsplit

import pytest

from functions.web import web_home, web_signin, web_signin_callback, web_signin_start
from shared import oidc, roles, settings
from shared.keys import SESSION_ROW, SESSIONS_TABLE, session_partition
from shared.roles import Role
from shared.web import security, sessions
from tests.support.http import request
from tests.support.oidc import LocalIssuer
from tests.support.web import text

AUDIENCE = "api://feedhouse-test"


@pytest.fixture(scope="module")
def provider():
    with LocalIssuer() as running:
        yield running


@pytest.fixture
def signin(app_env, provider, monkeypatch):
    """The app signs people in through the local provider, as a public client."""
    monkeypatch.setenv("FEEDHOUSE_OIDC_ISSUER", provider.url)
    monkeypatch.setenv("FEEDHOUSE_OIDC_AUDIENCE", AUDIENCE)
    monkeypatch.setenv("FEEDHOUSE_OIDC_CLIENT_ID", provider.client_id)
    settings.load.cache_clear()
    oidc.forget_issuers()
    provider.client_secret = None
    provider.authorize_error = None
    provider.id_token_claims = {}
    provider.user = {
        "oid": secrets.token_hex(4) + "-1111-2222-3333-" + secrets.token_hex(6),
        "sub": "pairwise",
        "name": "Ada Lovelace",
    }
    yield provider
    monkeypatch.undo()
    settings.load.cache_clear()
    oidc.forget_issuers()


def _set_cookies(response) -> dict[str, str]:
    jar: SimpleCookie = SimpleCookie()
    jar.load(response.headers.get("Set-Cookie", ""))
    return {name: morsel.value for name, morsel in jar.items()}


def start(form_secret: str | None = None, cookie: str | None = None, next_: str = "/") -> tuple[str, str]:
    """The sign-in page, then its "Sign in with" button: (the issuer's authorize URL, the pending
    sign-in's cookie)."""
    page = web_signin(request("GET", "/-/signin", params={"next": next_}))
    secret = _set_cookies(page)[security.SIGNIN_COOKIE]
    assert f'value="{secret}"' in text(page)
    started = web_signin_start(
        request(
            "POST",
            "/-/signin/start",
            params={"next": next_},
            body=f"signin={form_secret or secret}".encode(),
            headers={
                "Content-Type": "application/x-www-form-urlencoded",
                "Cookie": f"{security.SIGNIN_COOKIE}={cookie or secret}",
            },
        )
    )
    assert started.status_code == 303, text(started)
    set_cookie = started.headers["Set-Cookie"]
    assert "SameSite=Lax" in set_cookie and "HttpOnly" in set_cookie
    return started.headers["Location"], _set_cookies(started)[security.PENDING_SIGNIN_COOKIE]


def authorize(url: str) -> dict[str, str]:
    """The provider approves: the query of the way back its page sends the browser on to."""
    with urllib.request.urlopen(url, timeout=10) as response:
        page = response.read().decode()
    location = html.unescape(re.search(r'id="back" href="([^"]+)"', page).group(1))
    assert location.startswith("http://localhost:7071/-/signin/callback?")
    return {k: v[-1] for k, v in parse_qs(urlsplit(location).query).items()}


def callback(params: dict[str, str], pending: str | None):
    headers = {"Cookie": f"{security.PENDING_SIGNIN_COOKIE}={pending}"} if pending else {}
    return web_signin_callback(request("GET", "/-/signin/callback", params=params, headers=headers))


def signed_in(response) -> str:
    assert response.status_code == 200, text(response)
    session_id = _set_cookies(response)[security.SESSION_COOKIE]
    assert session_id
    return session_id


def refused(response, *words: str) -> str:
    assert response.status_code == 401, text(response)
    assert security.SESSION_COOKIE not in _set_cookies(response)
    page = text(response)
    assert 'role="alert"' in page
    for word in words:
        assert word in page, page
    return page


def test_the_sign_in_page_offers_the_issuer_and_the_token_form(signin):
    page = text(web_signin(request("GET", "/-/signin")))
    assert "Sign in with 127.0.0.1" in page
    assert 'name="token"' in page


def test_the_authorization_request_carries_state_nonce_and_an_s256_challenge(signin):
    location, _ = start()
    query = {k: v[-1] for k, v in parse_qs(urlsplit(location).query).items()}
    assert location.startswith(signin.url + "/authorize?")
    assert query["response_type"] == "code"
    assert query["client_id"] == signin.client_id
    assert query["redirect_uri"] == "http://localhost:7071/-/signin/callback"
    assert query["code_challenge_method"] == "S256" and len(query["code_challenge"]) == 43
    assert len(query["state"]) >= 32 and len(query["nonce"]) >= 32
    assert "openid" in query["scope"].split()


def test_a_person_signs_in_and_the_session_is_theirs_until_the_id_token_expires(signin, storage, feed_name):
    group = "0b9e5a4c-1d2e-4f60-8a7b-" + secrets.token_hex(6)
    signin.user["groups"] = [group]
    roles.grant(storage, _feed_key(storage, feed_name), f"group:{group}", Role.READER)
    location, pending = start(next_=f"/-/feeds/{feed_name}/")
    response = callback(authorize(location), pending)
    session_id = signed_in(response)
    page = text(response)
    assert "Ada Lovelace" in page
    assert f'http-equiv="refresh" content="0; url=/-/feeds/{feed_name}/"' in page
    max_age = int(response.headers["Set-Cookie"].split("Max-Age=")[1].split(";")[0])
    assert 0 < max_age <= 600  # the provider's ID tokens last 600 s

    session = sessions.resume(storage, session_id, admin_token=None)
    assert session is not None
    assert session.principal.name == signin.user["oid"]
    assert session.principal.display_name == "Ada Lovelace"
    assert session.principal.groups == (f"group:{group}",)
    home = web_home(request("GET", "/", headers={"Cookie": f"{security.SESSION_COOKIE}={session_id}"}))
    assert "Ada Lovelace" in text(home) and feed_name in text(home)

    # The session keeps who signed in, never a token.
    record = storage.get(SESSIONS_TABLE, session_partition(sessions._sha256(session_id)), SESSION_ROW)
    assert record["Kind"] == "oidc"
    assert not any(isinstance(v, str) and v.count(".") == 2 and len(v) > 100 for v in record.values())


def _feed_key(storage, feed_name):
    from shared import feeds

    return feeds.get_feed(storage, feed_name).key


def test_the_session_ends_with_the_id_token(signin, storage):
    now = int(time.time())
    signin.id_token_claims = {"iat": now, "nbf": now, "exp": now + 2}
    location, pending = start()
    session_id = signed_in(callback(authorize(location), pending))
    assert sessions.resume(storage, session_id, admin_token=None) is not None
    time.sleep(3)
    assert sessions.resume(storage, session_id, admin_token=None) is None


def test_a_confidential_client_sends_its_secret(signin, monkeypatch):
    signin.client_secret = "s3cret-" + secrets.token_hex(8)
    location, pending = start()
    refused(callback(authorize(location), pending), "invalid_client")

    monkeypatch.setenv("FEEDHOUSE_OIDC_CLIENT_SECRET", signin.client_secret)
    settings.load.cache_clear()
    location, pending = start()
    signed_in(callback(authorize(location), pending))


def test_a_wrong_state_is_refused(signin):
    location, pending = start()
    params = authorize(location)
    refused(callback({**params, "state": "forged"}, pending), "state differs")


def test_a_way_back_without_the_browsers_sign_in_is_refused(signin):
    location, _ = start()
    refused(callback(authorize(location), None), "not started in this browser")
    location, _ = start()
    refused(callback(authorize(location), "someone-elses"), "not started in this browser")


def test_a_replayed_callback_or_code_is_refused(signin):
    location, pending = start()
    params = authorize(location)
    signed_in(callback(params, pending))
    # The same way back again: the sign-in under way is used up.
    refused(callback(params, pending), "used already")
    # The used code with a new sign-in's state: the provider refuses it.
    location, pending = start()
    fresh = authorize(location)
    refused(callback({**fresh, "code": params["code"]}, pending), "invalid_grant")


def test_an_id_token_with_another_nonce_is_refused(signin):
    signin.id_token_claims = {"nonce": "another-sign-in"}
    location, pending = start()
    refused(callback(authorize(location), pending), "nonce differs")


def test_an_id_token_for_another_audience_is_refused(signin):
    signin.id_token_claims = {"aud": "another-client"}
    location, pending = start()
    refused(callback(authorize(location), pending), "another audience")


def test_an_expired_id_token_is_refused(signin):
    now = int(time.time())
    signin.id_token_claims = {"iat": now - 7200, "nbf": now - 7200, "exp": now - 3600}
    location, pending = start()
    refused(callback(authorize(location), pending), "expired")


def test_the_providers_error_is_shown(signin):
    signin.authorize_error = "access_denied"
    location, pending = start()
    refused(callback(authorize(location), pending), "access_denied", "The user said no.")


def test_a_sign_in_is_started_only_from_the_sign_in_form(signin):
    page = web_signin(request("GET", "/-/signin"))
    secret = _set_cookies(page)[security.SIGNIN_COOKIE]
    forged = web_signin_start(
        request(
            "POST",
            "/-/signin/start",
            body=b"signin=guess",
            headers={
                "Content-Type": "application/x-www-form-urlencoded",
                "Cookie": f"{security.SIGNIN_COOKIE}={secret}",
            },
        )
    )
    assert forged.status_code == 403
    assert security.PENDING_SIGNIN_COOKIE not in _set_cookies(forged)


def test_without_a_client_id_there_is_no_issuer_sign_in(app_env):
    settings.load.cache_clear()
    assert "Sign in with" not in text(web_signin(request("GET", "/-/signin")))
    assert web_signin_callback(request("GET", "/-/signin/callback")).status_code == 404


def test_only_the_sign_in_page_lets_a_form_lead_to_the_provider(signin):
    policy = web_signin(request("GET", "/-/signin")).headers["Content-Security-Policy"]
    assert f"form-action 'self' {signin.url};" in policy
    assert "form-action 'self';" in web_home(request("GET", "/")).headers["Content-Security-Policy"]


def test_abandoned_sign_ins_are_swept(signin, storage):
    location, pending = start()
    later = datetime.now(UTC) + sessions.SIGNIN_LIFETIME + timedelta(seconds=1)
    assert sessions.sweep(storage, now=later) >= 1
    refused(callback(authorize(location), pending), "not started in this browser")


def test_an_unreachable_provider_leaves_the_token_form(signin, monkeypatch):
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    monkeypatch.setenv("FEEDHOUSE_OIDC_ISSUER", f"http://127.0.0.1:{port}")
    settings.load.cache_clear()
    oidc.forget_issuers()
    page = web_signin(request("GET", "/-/signin"))
    assert page.status_code == 200
    assert "Sign in with" not in text(page) and 'name="token"' in text(page)
    assert "form-action 'self';" in page.headers["Content-Security-Policy"]


def test_two_way_backs_at_once_take_a_sign_in_once(storage):
    """The sign-in under way is deleted on its ETag: of two requests that read it, one gets it."""
    for _ in range(20):
        pending = sessions.PendingSignin("state", "nonce", "verifier-" + secrets.token_hex(8), "/")
        signin_id = sessions.start_signin(storage, pending)
        barrier = threading.Barrier(2)
        taken: list = []

        def take(signin_id=signin_id, barrier=barrier, taken=taken) -> None:
            barrier.wait()
            taken.append(sessions.take_signin(storage, signin_id))

        threads = [threading.Thread(target=take) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert sorted(t is not None for t in taken) == [False, True]
