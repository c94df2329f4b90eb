"""A local OpenID Connect provider: keys generated here, discovery and JWKS served on loopback.

Tests sign tokens with ``issue`` (any claims, header and key), rotate keys by changing what ``jwks``
publishes, and, for trusted publishing, hand a token to CI clients as GitHub Actions does: a GET on
``actions_token_url`` with ``?audience=`` and the bearer ``ACTIONS_REQUEST_TOKEN`` answers
``{"value": <JWT>}`` signed with the claims of ``actions_claims``.

It also signs people in, for the client ``client_id`` (confidential when ``client_secret`` is set),
as ``user`` (claims):

- the authorization code flow with PKCE: ``/authorize`` approves at once, with a page that sends the
  browser on to the redirect URI with a code and the state (or ``authorize_error`` as ``error``), as
  a real provider's page does once the person approves (link ``#back``); ``/token``
  redeems a code once, for the same client and redirect URI, with the verifier of the S256 challenge,
  into an ID token for the client carrying the request's nonce (``id_token_claims`` overrides claims:
  a wrong aud, nonce or exp) and an access token;
- the device authorization grant (RFC 8628): ``/devicecode`` hands out a user code, approved once
  ``approve_device(user_code)`` is called (``device_codes`` lists those handed out); until then
  ``/token`` answers ``authorization_pending``; then tokens with a refresh token, which ``/token``
  redeems again (grant ``refresh_token``). Access tokens are for ``access_audience``.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import secrets
import ssl
import threading
import time
from collections.abc import Iterator
from html import escape
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlencode, urlsplit

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from shared import oidc, settings

ACTIONS_REQUEST_TOKEN = "actions-request-" + secrets.token_hex(8)


@contextlib.contextmanager
def app_settings(monkeypatch: pytest.MonkeyPatch, **env: str) -> Iterator[None]:
    """The app with these environment variables (the settings naming an issuer) in the block: its
    settings and the issuers' keys it fetched are read afresh on the way in and on the way out, when
    ``monkeypatch`` undoes everything it did."""
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    settings.load.cache_clear()
    oidc.forget_issuers()
    try:
        yield
    finally:
        monkeypatch.undo()
        settings.load.cache_clear()
        oidc.forget_issuers()


class SigningKey:
    def __init__(self, algorithm: str = "RS256") -> None:
        self.kid = secrets.token_hex(6)
        self.algorithm = algorithm
        if algorithm == "ES256":
            self.private = ec.generate_private_key(ec.SECP256R1())
        else:
            self.private = rsa.generate_private_key(public_exponent=65537, key_size=2048)

    def jwk(self) -> dict[str, Any]:
        algorithm = jwt.get_algorithm_by_name(self.algorithm)
        public = json.loads(algorithm.to_jwk(self.private.public_key()))
        return {**public, "kid": self.kid, "use": "sig", "alg": self.algorithm}


class LocalIssuer:
    def __init__(
        self, ssl_context: ssl.SSLContext | None = None, *, host: str = "127.0.0.1", path: str = ""
    ) -> None:
        """Over https with ``ssl_context`` (a provider a feed owner registers must be); named ``host``
        in its URL (``localhost``: another site than an app at 127.0.0.1, as a real provider is), at
        ``path`` (an Entra-shaped ``/<tenant>/v2.0``: msal wants a path)."""
        self.keys = [SigningKey("RS256"), SigningKey("ES256")]
        self.published: list[SigningKey] = list(self.keys)
        self.jwks_fetches = 0
        self.actions_claims: dict[str, Any] = {}
        self.client_id = "feedhouse-ui-" + secrets.token_hex(4)
        self.client_secret: str | None = None
        self.user: dict[str, Any] = {"sub": "local-user", "name": "Local User"}
        self.authorize_error: str | None = None
        self.id_token_claims: dict[str, Any] = {}
        self.access_audience = "api://feedhouse-test"
        self.device_codes: dict[str, dict[str, Any]] = {}  # user code -> the grant
        self.token_requests: list[dict[str, str]] = []
        self._codes: dict[str, dict[str, Any]] = {}
        self._refresh_tokens: set[str] = set()
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        scheme = "http"
        if ssl_context is not None:
            self._server.socket = ssl_context.wrap_socket(self._server.socket, server_side=True)
            scheme = "https"
        self.path = path.rstrip("/")
        self.url = f"{scheme}://{host}:{self._server.server_address[1]}{self.path}"
        self.actions_token_url = f"{self.url}/actions/token?api-version=2.0"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> LocalIssuer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def issue(
        self,
        claims: dict[str, Any],
        *,
        key: SigningKey | None = None,
        audience: str | None = None,
        lifetime: int = 600,
        headers: dict[str, Any] | None = None,
    ) -> str:
        """A token from this issuer: iss, iat, nbf and exp filled in unless ``claims`` sets them."""
        key = key or self.keys[0]
        now = int(time.time())
        body = {"iss": self.url, "iat": now, "nbf": now, "exp": now + lifetime, "jti": secrets.token_hex(8)}
        if audience is not None:
            body["aud"] = audience
        body.update(claims)
        return jwt.encode(
            body, key.private, algorithm=key.algorithm, headers={"kid": key.kid, **(headers or {})}
        )

    def approve_device(self, user_code: str) -> None:
        with self._lock:
            self.device_codes[user_code]["approved"] = True

    def discovery(self) -> dict[str, Any]:
        return {
            "issuer": self.url,
            "jwks_uri": f"{self.url}/keys",
            "authorization_endpoint": f"{self.url}/authorize",
            "token_endpoint": f"{self.url}/token",
            "device_authorization_endpoint": f"{self.url}/devicecode",
            "token_endpoint_auth_methods_supported": ["client_secret_post", "client_secret_basic"],
            "response_types_supported": ["code"],
            "code_challenge_methods_supported": ["S256"],
        }

    def _authorize(self, query: dict[str, str]) -> str | None:
        """An approved sign-in: the client's redirect URI with a code (or the error); None for a request
        from no client of ours."""
        redirect_uri = query.get("redirect_uri", "")
        if query.get("client_id") != self.client_id or not redirect_uri:
            return None
        back = {"state": query.get("state", "")}
        if self.authorize_error:
            back["error"] = self.authorize_error
            back["error_description"] = "The user said no."
        elif query.get("code_challenge_method") != "S256" or not query.get("code_challenge"):
            back["error"] = "invalid_request"
        else:
            code = secrets.token_urlsafe(24)
            with self._lock:
                self._codes[code] = dict(query)
            back["code"] = code
        return redirect_uri + "?" + urlencode(back)

    def _tokens(self, nonce: str | None = None, *, refresh: bool = False, scope: str = "") -> dict[str, Any]:
        claims = {**self.user, **({"nonce": nonce} if nonce else {})}
        answer = {
            # The scopes granted, as Entra ID names them (msal files the access token under them).
            "scope": scope,
            "token_type": "Bearer",
            "expires_in": 600,
            "access_token": self.issue(dict(self.user), audience=self.access_audience),
            "id_token": self.issue({**claims, "aud": self.client_id, **self.id_token_claims}),
        }
        if refresh:
            answer["refresh_token"] = secrets.token_urlsafe(24)
            with self._lock:
                self._refresh_tokens.add(answer["refresh_token"])
        return answer

    def _token(self, form: dict[str, str], basic: tuple[str, str] | None) -> tuple[int, dict[str, Any]]:
        self.token_requests.append(form)
        client_id = basic[0] if basic else form.get("client_id")
        secret = basic[1] if basic else form.get("client_secret")
        if client_id != self.client_id:
            return 401, {"error": "invalid_client", "error_description": "unknown client"}
        grant = form.get("grant_type")
        if grant == "authorization_code":
            if self.client_secret is not None and secret != self.client_secret:
                return 401, {"error": "invalid_client", "error_description": "client secret required"}
            with self._lock:
                request = self._codes.pop(form.get("code", ""), None)
            if request is None:
                return 400, {"error": "invalid_grant", "error_description": "unknown or used code"}
            if request["redirect_uri"] != form.get("redirect_uri"):
                return 400, {"error": "invalid_grant", "error_description": "redirect_uri differs"}
            digest = hashlib.sha256(form.get("code_verifier", "").encode()).digest()
            if base64.urlsafe_b64encode(digest).rstrip(b"=").decode() != request["code_challenge"]:
                return 400, {"error": "invalid_grant", "error_description": "PKCE verification failed"}
            return 200, self._tokens(request.get("nonce"), scope=request.get("scope", ""))
        if grant == "urn:ietf:params:oauth:grant-type:device_code":
            with self._lock:
                found = next(
                    (g for g in self.device_codes.values() if g["device_code"] == form.get("device_code")),
                    None,
                )
                if found is None or found["used"]:
                    return 400, {"error": "expired_token"}
                if not found["approved"]:
                    return 400, {"error": "authorization_pending"}
                found["used"] = True
            return 200, self._tokens(refresh=True, scope=found["scope"])
        if grant == "refresh_token":
            with self._lock:
                if form.get("refresh_token") not in self._refresh_tokens:
                    return 400, {"error": "invalid_grant", "error_description": "unknown refresh token"}
                self._refresh_tokens.discard(form["refresh_token"])
            return 200, self._tokens(refresh=True, scope=form.get("scope", ""))
        return 400, {"error": "unsupported_grant_type"}

    def _device_code(self, form: dict[str, str]) -> tuple[int, dict[str, Any]]:
        if form.get("client_id") != self.client_id:
            return 400, {"error": "invalid_client"}
        user_code = secrets.token_hex(4).upper()
        grant = {
            "device_code": secrets.token_urlsafe(24),
            "scope": form.get("scope", ""),
            "approved": False,
            "used": False,
        }
        with self._lock:
            self.device_codes[user_code] = grant
        verification = f"{self.url}/device"
        return 200, {
            "device_code": grant["device_code"],
            "user_code": user_code,
            "verification_uri": verification,
            "expires_in": 300,
            "interval": 1,
            "message": f"To sign in, open {verification} and enter the code {user_code}.",
        }

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        issuer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def _path(self) -> str:
                path = urlsplit(self.path).path
                return path[len(issuer.path) :] if path.startswith(issuer.path + "/") else path

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                form = {k: v[-1] for k, v in parse_qs(self.rfile.read(length).decode()).items()}
                basic = None
                scheme, _, value = self.headers.get("Authorization", "").partition(" ")
                if scheme.lower() == "basic":
                    user, _, password = base64.b64decode(value).decode().partition(":")
                    basic = (unquote(user), unquote(password))
                path = self._path()
                if path == "/token":
                    self._json(*issuer._token(form, basic))
                elif path == "/devicecode":
                    self._json(*issuer._device_code(form))
                else:
                    self._json(404, {"message": "not found"})

            def do_GET(self) -> None:
                parts = urlsplit(self.path)
                path = self._path()
                if path == "/.well-known/openid-configuration":
                    self._json(200, issuer.discovery())
                elif path == "/authorize":
                    location = issuer._authorize({k: v[-1] for k, v in parse_qs(parts.query).items()})
                    if location is None:
                        self._json(400, {"error": "invalid_request"})
                        return
                    # A page of the provider's that sends the browser back, as a real provider's
                    # sign-in page does once the person approves: the way back is a navigation this
                    # other site starts, not a redirect of the one the app started.
                    back = escape(location)
                    page = (
                        f'<!DOCTYPE html><html><head><meta http-equiv="refresh" content="0; url={back}">'
                        f'</head><body><a id="back" href="{back}">Continue</a></body></html>'
                    ).encode()
                    self.send_response(200)
                    self.send_header("Content-Type", "text/html; charset=utf-8")
                    self.send_header("Content-Length", str(len(page)))
                    self.end_headers()
                    self.wfile.write(page)
                elif path == "/keys":
                    issuer.jwks_fetches += 1
                    self._json(200, {"keys": [k.jwk() for k in issuer.published]})
                elif path == "/actions/token":
                    if self.headers.get("Authorization", "").lower() != f"bearer {ACTIONS_REQUEST_TOKEN}":
                        self._json(401, {"message": "bad request token"})
                        return
                    audience = parse_qs(parts.query).get("audience", [None])[0]
                    self._json(200, {"value": issuer.issue(dict(issuer.actions_claims), audience=audience)})
                else:
                    self._json(404, {"message": "not found"})

            def _json(self, status: int, body: Any) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        return Handler
