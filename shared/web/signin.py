"""Signing a browser in through the OpenID Connect issuer: the authorization code flow with PKCE
(OpenID Connect Core 1.0 §3.1, RFC 7636 S256).

``begin`` records a sign-in under way (shared/web/sessions.py: its state, nonce and code verifier,
server-side, under a random id the browser keeps in a short-lived cookie) and gives the issuer's
authorization URL. ``finish`` takes the way back: the sign-in under way is taken once (a replayed
callback finds nothing), the issuer's ``error`` is shown as it is, ``state`` must be the one sent, the
code is redeemed at the token endpoint with the verifier (and the client secret, for a provider that
needs one), and the ID token is validated as any token from the issuer (shared/oidc.py: signature
against its JWKS, ``iss``, ``exp``, ``nbf``, ``iat``), for the audience of our client id, with the nonce
sent. Only then is its subject a principal (auth.principal_from_claims, as for an access token).

Hand-written rather than with an OAuth library: the flow is these two requests, and every check is
shared/oidc.py's, which access tokens already go through; a library would bring a second JWT
validation. msal (which the feedhouse client uses for the device code flow) would not do: it decodes
the ID token without checking its signature, relying on TLS to the token endpoint.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import urllib.request
from dataclasses import dataclass, field
from typing import Any
from urllib.error import HTTPError, URLError
from urllib.parse import quote, urlencode, urlsplit

from shared import auth, oidc
from shared.auth import Principal
from shared.errors import Unauthorized
from shared.settings import Settings
from shared.storage import Storage
from shared.web import security, sessions

CALLBACK_PATH = "/-/signin/callback"
# The token endpoint answers a code redemption in well under a second; a stalled one must not hold the
# request (and the browser) for the Functions front end's 230 s.
TOKEN_TIMEOUT_SECONDS = 10
SCOPES = "openid profile"
_ENTRA_HOSTS = ("login.microsoftonline.com", "login.microsoftonline.us", "login.partner.microsoftonline.cn")


class SigninRefused(Unauthorized):
    code = "signin_refused"


@dataclass(frozen=True)
class Client:
    """The web UI as the issuer's client."""

    issuer: str
    client_id: str
    secret: str | None = field(default=None, repr=False)

    @property
    def provider_name(self) -> str:
        """What the sign-in button names: Entra ID by its name, another provider by its host."""
        host = urlsplit(self.issuer).hostname or self.issuer
        return "Microsoft Entra ID" if host in _ENTRA_HOSTS else host


def client(config: Settings) -> Client | None:
    """The UI's client, when the deployment names an issuer and a client id for it."""
    if not config.oidc_issuer or not config.oidc_client_id:
        return None
    return Client(config.oidc_issuer, config.oidc_client_id, config.oidc_client_secret)


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _endpoint(discovery: dict[str, Any], name: str, issuer: str) -> str:
    """An endpoint of the discovery document: https, or http on loopback only (a local provider), as
    the issuer itself (settings._issuer_url): a code or a secret sent in clear could be anyone's."""
    url = discovery.get(name)
    parts = urlsplit(url) if isinstance(url, str) else None
    if parts is None or not (
        parts.scheme == "https"
        or (parts.scheme == "http" and parts.hostname in ("127.0.0.1", "localhost", "::1"))
    ):
        raise oidc.IssuerUnavailable(f"The identity provider at {issuer} publishes no usable {name}.")
    return url


def authorization_origin(signin: Client) -> str | None:
    """The origin of the issuer's authorization endpoint, which the sign-in form's redirect goes to (its
    page's Content-Security-Policy must allow it as a form-action); None while the issuer cannot be
    reached (then the page offers the token form only)."""
    try:
        parts = urlsplit(_endpoint(oidc.discovery(signin.issuer), "authorization_endpoint", signin.issuer))
    except oidc.IssuerUnavailable:
        return None
    return f"{parts.scheme}://{parts.netloc}"


def begin(storage: Storage, signin: Client, redirect_uri: str, target: str) -> tuple[str, str]:
    """Start signing in: the id of the sign-in under way (the cookie's value) and the issuer's URL to
    send the browser to."""
    authorize = _endpoint(oidc.discovery(signin.issuer), "authorization_endpoint", signin.issuer)
    pending = sessions.PendingSignin(
        state=secrets.token_urlsafe(32),
        nonce=secrets.token_urlsafe(32),
        # RFC 7636 §4.1: 43 to 128 characters of [A-Za-z0-9-._~]; 64 random bytes give 86.
        verifier=secrets.token_urlsafe(64),
        target=target,
    )
    signin_id = sessions.start_signin(storage, pending)
    query = urlencode(
        {
            "response_type": "code",
            "client_id": signin.client_id,
            "redirect_uri": redirect_uri,
            "scope": SCOPES,
            "state": pending.state,
            "nonce": pending.nonce,
            "code_challenge": _b64url(hashlib.sha256(pending.verifier.encode("ascii")).digest()),
            "code_challenge_method": "S256",
            "response_mode": "query",
        }
    )
    return signin_id, authorize + ("&" if "?" in authorize else "?") + query


def finish(
    storage: Storage, signin: Client, signin_id: str | None, params: dict[str, str], redirect_uri: str
) -> tuple[Principal, str]:
    """The principal the issuer signed in, and where they were going; SigninRefused (401) saying why
    otherwise. The sign-in under way is used up either way."""
    pending = sessions.take_signin(storage, signin_id)
    if pending is None:
        raise SigninRefused(
            "This sign-in was not started in this browser, was used already, or took longer than "
            f"{int(sessions.SIGNIN_LIFETIME.total_seconds() // 60)} minutes. Sign in again."
        )
    name = signin.provider_name
    if params.get("error"):
        detail = params.get("error_description") or ""
        raise SigninRefused(f"{name} did not sign you in: {params['error']}{': ' + detail if detail else ''}")
    if not security.same_secret(params.get("state"), pending.state):
        raise SigninRefused(
            "The answer from the identity provider does not belong to the sign-in this browser started "
            "(its state differs). Sign in again."
        )
    code = params.get("code")
    if not code:
        raise SigninRefused(f"{name} sent no authorization code back. Sign in again.")
    tokens = _redeem(signin, code, pending.verifier, redirect_uri)
    id_token = tokens.get("id_token")
    if not isinstance(id_token, str):
        raise SigninRefused(f"{name} answered the code without an ID token.")
    try:
        claims = oidc.validate(
            id_token, issuer=signin.issuer, audiences=(signin.client_id,), required=("nonce",)
        )
    except oidc.InvalidOidcToken as error:
        raise SigninRefused(f"{name}'s ID token was refused: {error.message}") from None
    nonce = claims.get("nonce")
    if not security.same_secret(nonce if isinstance(nonce, str) else None, pending.nonce):
        raise SigninRefused("The ID token was issued for another sign-in (its nonce differs). Sign in again.")
    audience = claims["aud"]
    # OpenID Connect Core §3.1.3.7: a token for several audiences names us as the party it was for.
    if isinstance(audience, list) and len(audience) > 1 and claims.get("azp") != signin.client_id:
        raise SigninRefused("The ID token was issued to another client (its azp is not ours).")
    try:
        principal = auth.principal_from_claims(claims)
    except oidc.InvalidOidcToken as error:
        raise SigninRefused(error.message) from None
    return principal, pending.target


def _redeem(signin: Client, code: str, verifier: str, redirect_uri: str) -> dict[str, Any]:
    """The token endpoint's answer to the code (RFC 6749 §4.1.3), with the client's secret as the
    provider takes it: in the body where it says it accepts that, in HTTP Basic otherwise (the default
    of OpenID Connect Discovery)."""
    discovery = oidc.discovery(signin.issuer)
    endpoint = _endpoint(discovery, "token_endpoint", signin.issuer)
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": redirect_uri,
        "client_id": signin.client_id,
        "code_verifier": verifier,
    }
    headers = {"Content-Type": "application/x-www-form-urlencoded", "Accept": "application/json"}
    if signin.secret:
        methods = discovery.get("token_endpoint_auth_methods_supported") or ["client_secret_basic"]
        if "client_secret_post" in methods:
            form["client_secret"] = signin.secret
        else:
            # RFC 6749 §2.3.1: both parts form-encoded before they are joined.
            pair = f"{quote(signin.client_id, safe='')}:{quote(signin.secret, safe='')}"
            headers["Authorization"] = "Basic " + base64.b64encode(pair.encode()).decode()
    # The endpoint is the issuer's own (https, or http on loopback: settings._issuer_url).
    request = urllib.request.Request(  # noqa: S310
        endpoint, data=urlencode(form).encode(), headers=headers, method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=TOKEN_TIMEOUT_SECONDS) as response:  # noqa: S310
            answer = json.load(response)
    except HTTPError as error:
        raise SigninRefused(
            f"{signin.provider_name} refused the authorization code: {_oauth_error(error)}"
        ) from None
    except (URLError, TimeoutError, OSError, ValueError) as error:
        raise oidc.IssuerUnavailable(
            f"The identity provider's token endpoint could not be reached: {error}; try again shortly.",
            headers={"Retry-After": "30"},
        ) from None
    if not isinstance(answer, dict):
        raise SigninRefused(f"{signin.provider_name} answered the code with no token response.")
    return answer


def _oauth_error(error: HTTPError) -> str:
    """An OAuth error response's ``error`` and ``error_description`` (RFC 6749 §5.2), else its status."""
    try:
        body = json.loads(error.read(65536) or b"{}")
    except ValueError:
        body = {}
    if isinstance(body, dict) and isinstance(body.get("error"), str):
        detail = body.get("error_description")
        return body["error"] + (f": {detail}" if isinstance(detail, str) and detail else "")
    return f"HTTP {error.code}"
