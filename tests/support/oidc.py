"""A local OpenID Connect provider: keys generated here, discovery and JWKS served on loopback.

Tests sign tokens with ``issue`` (any claims, header and key), rotate keys by changing what ``jwks``
publishes, and, for trusted publishing, hand a token to CI clients as GitHub Actions does: a GET on
``actions_token_url`` with ``?audience=`` and the bearer ``ACTIONS_REQUEST_TOKEN`` answers
``{"value": <JWT>}`` signed with the claims of ``actions_claims``.
"""

from __future__ import annotations

import json
import secrets
import ssl
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import jwt
from cryptography.hazmat.primitives.asymmetric import ec, rsa

ACTIONS_REQUEST_TOKEN = "actions-request-" + secrets.token_hex(8)


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
    def __init__(self, ssl_context: ssl.SSLContext | None = None) -> None:
        """Over https with ``ssl_context`` (a provider a feed owner registers must be)."""
        self.keys = [SigningKey("RS256"), SigningKey("ES256")]
        self.published: list[SigningKey] = list(self.keys)
        self.jwks_fetches = 0
        self.actions_claims: dict[str, Any] = {}
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        scheme = "http"
        if ssl_context is not None:
            self._server.socket = ssl_context.wrap_socket(self._server.socket, server_side=True)
            scheme = "https"
        self.url = f"{scheme}://127.0.0.1:{self._server.server_address[1]}"
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

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        issuer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                parts = urlsplit(self.path)
                if parts.path == "/.well-known/openid-configuration":
                    self._json(200, {"issuer": issuer.url, "jwks_uri": f"{issuer.url}/keys"})
                elif parts.path == "/keys":
                    issuer.jwks_fetches += 1
                    self._json(200, {"keys": [k.jwk() for k in issuer.published]})
                elif parts.path == "/actions/token":
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
