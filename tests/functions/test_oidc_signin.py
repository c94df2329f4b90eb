"""OpenID Connect access tokens as credentials (issue 15): a local provider signs them; every token
that is not exactly right is refused with 401 and a message, none is ever accepted."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time

import jwt
import pytest
from cryptography.hazmat.primitives import serialization

from functions.feeds_api import feed_permission
from functions.simple import project_list
from functions.tokens_api import tokens_collection, whoami
from shared import oidc, settings, tokens
from shared.tokens import Scope
from tests.conftest import ADMIN_TOKEN
from tests.support.http import basic, json_of, request
from tests.support.oidc import LocalIssuer, SigningKey

AUDIENCE = "api://feedhouse-test"


@pytest.fixture(scope="module")
def provider():
    with LocalIssuer() as running:
        yield running


@pytest.fixture
def signin(app_env, provider, monkeypatch):
    """The app trusts the local provider; no refresh cooldown, so a rotation shows at once."""
    monkeypatch.setenv("FEEDHOUSE_OIDC_ISSUER", provider.url)
    monkeypatch.setenv("FEEDHOUSE_OIDC_AUDIENCE", f"{AUDIENCE},other-accepted")
    monkeypatch.setattr(oidc, "REFRESH_COOLDOWN_SECONDS", 0)
    settings.load.cache_clear()
    oidc.forget_issuers()
    provider.published = list(provider.keys)
    yield provider
    monkeypatch.undo()
    settings.load.cache_clear()
    oidc.forget_issuers()


def user_claims(**extra):
    oid = secrets.token_hex(4) + "-1111-2222-3333-" + secrets.token_hex(6)
    return {
        "oid": oid,
        "sub": "pairwise-" + oid,
        "name": "Ada Lovelace",
        "preferred_username": "ada@contoso.com",
        **extra,
    }


def who(headers):
    return whoami(request("GET", "/api/whoami", headers=headers))


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def refused(response, *words: str) -> str:
    assert response.status_code == 401, response.get_body()
    assert response.headers["WWW-Authenticate"].startswith("Basic realm=")
    message = json_of(response)["message"]
    for word in words:
        assert word in message, message
    return message


def test_a_valid_token_signs_its_object_id_in_with_its_name(signin):
    claims = user_claims()
    for key in signin.keys:  # RS256 and ES256
        token = signin.issue(claims, key=key, audience=AUDIENCE)
        for headers in (bearer(token), basic(token), basic(token, user="anything")):
            body = json_of(who(headers))
            assert body["authenticated"] and not body["admin"]
            assert body["user"] == claims["oid"]
            assert body["name"] == "Ada Lovelace"


def test_any_configured_audience_is_accepted(signin):
    token = signin.issue(user_claims(), audience="other-accepted")
    assert json_of(who(bearer(token)))["authenticated"]


def test_personal_access_tokens_keep_working(signin, storage):
    _, secret = tokens.create_token(storage, user="pat-" + secrets.token_hex(3), name="t", scope=Scope.READ)
    assert json_of(who(basic(secret)))["authenticated"]
    assert json_of(who(basic(ADMIN_TOKEN)))["admin"]


def _hs256_with_public_key(key: SigningKey, claims: dict) -> str:
    """The classic confusion attack: HMAC "signed" with the issuer's public key, which anyone has."""
    pem = key.private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )

    def b64(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    head = b64(json.dumps({"alg": "HS256", "typ": "JWT", "kid": key.kid}).encode())
    body = b64(json.dumps(claims).encode())
    signature = hmac.new(pem, f"{head}.{body}".encode(), hashlib.sha256).digest()
    return f"{head}.{body}.{b64(signature)}"


def test_every_wrong_token_is_refused_with_a_message(signin):
    now = int(time.time())
    good = {**user_claims(), "aud": AUDIENCE, "iss": signin.url, "iat": now, "exp": now + 600}
    with LocalIssuer() as stranger:
        cases = {
            "wrong audience": (signin.issue(user_claims(), audience="api://someone-else"), "audience"),
            "no audience": (signin.issue(user_claims()), "aud"),
            "wrong issuer": (stranger.issue(user_claims(), audience=AUDIENCE), "issued by"),
            "our issuer, a stranger's key": (
                stranger.issue({**user_claims(), "iss": signin.url}, audience=AUDIENCE, key=stranger.keys[0]),
                "does not publish",
            ),
            "expired": (
                signin.issue(user_claims(exp=now - 120, iat=now - 900, nbf=now - 900), audience=AUDIENCE),
                "expired",
            ),
            "not yet valid": (signin.issue(user_claims(nbf=now + 600), audience=AUDIENCE), "not valid yet"),
            "unknown kid": (
                signin.issue(user_claims(), audience=AUDIENCE, headers={"kid": "no-such-key"}),
                "does not publish",
            ),
            "alg none": (jwt.encode(good, None, algorithm="none"), "none"),
            "HS256 with the public key": (_hs256_with_public_key(signin.keys[0], good), "HS256"),
            "tampered payload": (_tampered(signin.issue(user_claims(), audience=AUDIENCE)), "signature"),
        }
        for case, (token, word) in cases.items():
            message = refused(who(bearer(token)), word)
            assert message, case
            refused(who(basic(token)), word)


def _tampered(token: str) -> str:
    head, body, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(body + "=="))
    claims["oid"] = "00000000-0000-0000-0000-000000000001"
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    return f"{head}.{forged}.{signature}"


def test_a_rotated_key_is_fetched_and_a_removed_one_refused(signin):
    old, _ = signin.keys
    assert json_of(who(bearer(signin.issue(user_claims(), key=old, audience=AUDIENCE))))["authenticated"]
    new = SigningKey("RS256")
    signin.published = [new]  # the provider rotates: the new key appears, the old one goes
    fetches = signin.jwks_fetches
    assert json_of(who(bearer(signin.issue(user_claims(), key=new, audience=AUDIENCE))))["authenticated"]
    assert signin.jwks_fetches == fetches + 1
    refused(who(bearer(signin.issue(user_claims(), key=old, audience=AUDIENCE))), "does not publish")


def test_jwts_are_refused_where_no_issuer_is_configured(app_env, provider):
    settings.load.cache_clear()
    refused(who(bearer(provider.issue(user_claims(), audience=AUDIENCE))), "FEEDHOUSE_OIDC_ISSUER")


def test_an_unreachable_issuer_is_a_503_not_a_hang(app_env, monkeypatch):
    monkeypatch.setenv("FEEDHOUSE_OIDC_ISSUER", "http://127.0.0.1:9")  # discard port: refused at once
    monkeypatch.setenv("FEEDHOUSE_OIDC_AUDIENCE", AUDIENCE)
    settings.load.cache_clear()
    oidc.forget_issuers()
    try:
        with LocalIssuer() as other:
            token = other.issue({**user_claims(), "iss": "http://127.0.0.1:9"}, audience=AUDIENCE)
        response = who(bearer(token))
        assert response.status_code == 503
        assert "could not be fetched" in json_of(response)["message"]
    finally:
        monkeypatch.undo()
        settings.load.cache_clear()


def test_a_group_granted_a_role_lets_its_members_in(signin, feed_name):
    group = "6f1e2d3c-aaaa-bbbb-cccc-" + secrets.token_hex(6)
    member = signin.issue(user_claims(groups=[group.upper(), "some-other-group"]), audience=AUDIENCE)
    outsider = signin.issue(user_claims(groups=["some-other-group"]), audience=AUDIENCE)

    def simple(token):
        return project_list(
            request("GET", f"/{feed_name}/simple/", route_params={"feed": feed_name}, headers=bearer(token))
        )

    assert simple(member).status_code == 403
    grant = request(
        "PUT",
        "/",
        route_params={"feed": feed_name, "user": f"group:{group}"},
        headers=basic(ADMIN_TOKEN),
        json_body={"role": "reader"},
    )
    response = feed_permission(grant)
    assert response.status_code == 200, response.get_body()
    assert json_of(response) == {"user": f"group:{group}", "role": "reader"}
    assert simple(member).status_code == 200
    assert simple(outsider).status_code == 403
    body = json_of(who(bearer(member)))
    assert f"group:{group}" in body["groups"]
    assert body["roles"] == {feed_name: "reader"}


def test_a_signed_in_user_creates_personal_access_tokens(signin):
    claims = user_claims()
    token = signin.issue(claims, audience=AUDIENCE)
    response = tokens_collection(
        request("POST", "/api/tokens", headers=bearer(token), json_body={"name": "laptop"})
    )
    assert response.status_code == 201, response.get_body()
    created = json_of(response)
    assert created["user"] == claims["oid"] and created["parent"] is None
    assert json_of(who(basic(created["token"])))["user"] == claims["oid"]


def test_a_group_grant_names_a_valid_group(app_env, feed_name):
    bad = request(
        "PUT",
        "/",
        route_params={"feed": feed_name, "user": "group:a/b"},
        headers=basic(ADMIN_TOKEN),
        json_body={"role": "reader"},
    )
    response = feed_permission(bad)
    assert response.status_code == 400
    assert "group:<object id>" in json_of(response)["message"]


def test_an_issuer_that_never_answers_is_a_503_within_the_timeout(app_env, monkeypatch):
    import socket

    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(8)  # accepts connections (the kernel does), never answers a byte
    url = f"http://127.0.0.1:{silent.getsockname()[1]}"
    monkeypatch.setenv("FEEDHOUSE_OIDC_ISSUER", url)
    monkeypatch.setenv("FEEDHOUSE_OIDC_AUDIENCE", AUDIENCE)
    monkeypatch.setattr(oidc, "FETCH_TIMEOUT_SECONDS", 0.5)
    settings.load.cache_clear()
    oidc.forget_issuers()
    try:
        with LocalIssuer() as other:
            token = other.issue({**user_claims(), "iss": url}, audience=AUDIENCE)
        started = time.monotonic()
        response = who(bearer(token))
        assert response.status_code == 503
        assert response.headers["Retry-After"] == "30"
        assert time.monotonic() - started < 5
    finally:
        silent.close()
        monkeypatch.undo()
        settings.load.cache_clear()
        oidc.forget_issuers()


class _UnusableKey:
    kid = "broken"

    def jwk(self):
        return {"kty": "nonsense", "kid": self.kid}


def test_an_issuer_publishing_no_usable_keys_is_a_503(signin):
    token = signin.issue(user_claims(), audience=AUDIENCE)
    signin.published = [_UnusableKey()]
    response = who(bearer(token))
    assert response.status_code == 503, response.get_body()
    assert "could not be fetched" in json_of(response)["message"]
