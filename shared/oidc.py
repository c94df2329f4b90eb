"""OpenID Connect tokens: a JWT checked against its issuer's published keys.

Two users: sign-in (an Entra ID access token, or any OpenID Connect provider's, as a credential:
shared/auth.py) and trusted publishing (a CI job's token exchanged for a publish token:
shared/trusted_publishing.py). Both validate the same way, with PyJWT: the signature against a key
of the issuer's JWKS (found through OpenID Connect discovery, cached, fetched again when a token names
a key id not yet seen, so key rotation needs no restart), the issuer exactly, the audience, expiry and
not-before with a small leeway, and only asymmetric algorithms, so neither ``alg: none`` nor an HMAC
"signed" with the public key can pass.
"""

from __future__ import annotations

import json
import threading
import urllib.request
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.error import URLError

from shared.errors import ServiceUnavailable, Unauthorized

if TYPE_CHECKING:
    import jwt


def _jwt() -> Any:
    """PyJWT (with cryptography), imported by the first request that carries a JWT: importing it costs
    some 30 ms, which a cold start of a deployment without an issuer should not pay."""
    import jwt

    return jwt


# RS256 is what Entra ID, GitHub Actions and Azure DevOps sign with; ES256 for providers on EC keys.
# Never HS*: the key would be the JWKS, which is public.
ALGORITHMS = ("RS256", "ES256")
# Clock skew between us and the issuer that a token's exp, nbf and iat may be off by.
LEEWAY_SECONDS = 30
# Discovery and JWKS requests: an issuer that does not answer in time makes the request fail (503),
# never hang.
FETCH_TIMEOUT_SECONDS = 5
# How long a fetched key set is used before it is fetched again, and the least time between two
# fetches caused by tokens naming unknown key ids (so that made-up key ids cannot make every request
# a fetch from the issuer). Entra ID publishes a new key well before it signs with it.
KEYS_LIFESPAN_SECONDS = 3600
REFRESH_COOLDOWN_SECONDS = 30


class InvalidOidcToken(Unauthorized):
    code = "invalid_token"


class IssuerUnavailable(ServiceUnavailable):
    code = "issuer_unavailable"


def looks_like_jwt(token: str) -> bool:
    """Whether ``token`` has a JWS's shape (three base64url parts); a personal access token never does."""
    parts = token.split(".")
    return len(parts) == 3 and all(parts[:2])


def unverified_claims(token: str) -> dict[str, Any] | None:
    """What a token claims, before anything is checked: only to pick whom to check it with."""
    try:
        claims = _jwt().decode(token, options={"verify_signature": False})
    except _jwt().PyJWTError:
        return None
    return claims if isinstance(claims, dict) else None


def _fetch_json(url: str) -> Any:
    try:
        with urllib.request.urlopen(url, timeout=FETCH_TIMEOUT_SECONDS) as response:  # noqa: S310 - http(s) checked by the caller
            return json.load(response)
    except (URLError, TimeoutError, OSError, ValueError) as error:
        raise IssuerUnavailable(
            f"The identity provider's keys could not be fetched ({url}): {error}; try again shortly.",
            headers={"Retry-After": "30"},
        ) from None


@dataclass
class _Issuer:
    url: str
    keys: jwt.PyJWKClient
    # The discovery document: the browser sign-in (shared/web/signin.py) takes its endpoints from it.
    discovery: dict[str, Any]


_issuers: dict[str, _Issuer] = {}
_issuers_lock = threading.Lock()


def _issuer(url: str) -> _Issuer:
    """The issuer's key client, built from its discovery document the first time it is needed."""
    with _issuers_lock:
        known = _issuers.get(url)
    if known is not None:
        return known
    discovery = _fetch_json(url.rstrip("/") + "/.well-known/openid-configuration")
    # OpenID Connect Discovery 1.0 §4.3: the document's issuer must be the one asked about, or its
    # keys could be another issuer's.
    if not isinstance(discovery, dict) or discovery.get("issuer") != url:
        raise IssuerUnavailable(
            f"The identity provider at {url} published a discovery document for another issuer."
        )
    jwks_uri = discovery.get("jwks_uri")
    if not isinstance(jwks_uri, str) or not jwks_uri.startswith(("https://", "http://")):
        raise IssuerUnavailable(f"The identity provider at {url} publishes no usable jwks_uri.")
    issuer = _Issuer(
        url,
        _jwt().PyJWKClient(
            jwks_uri,
            lifespan=KEYS_LIFESPAN_SECONDS,
            timeout=FETCH_TIMEOUT_SECONDS,
            cooldown_duration=REFRESH_COOLDOWN_SECONDS,
        ),
        discovery,
    )
    with _issuers_lock:
        return _issuers.setdefault(url, issuer)


def discovery(url: str) -> dict[str, Any]:
    """The issuer's OpenID Connect discovery document (fetched once, as for its keys)."""
    return _issuer(url).discovery


def forget_issuers() -> None:
    """Drop every cached discovery document and key set (tests; a changed setting)."""
    with _issuers_lock:
        _issuers.clear()


def validate(
    token: str, *, issuer: str, audiences: tuple[str, ...], required: tuple[str, ...] = ()
) -> dict[str, Any]:
    """The claims of ``token`` once it is proven to be ``issuer``'s, for one of ``audiences``, and
    current; InvalidOidcToken (401) saying why otherwise, IssuerUnavailable (503) if the issuer's keys
    cannot be fetched."""
    try:
        header = _jwt().get_unverified_header(token)
    except _jwt().PyJWTError as error:
        raise InvalidOidcToken(f"The token is not a valid JWT: {error}.") from None
    algorithm = header.get("alg")
    if algorithm not in ALGORITHMS:
        raise InvalidOidcToken(
            f"The token is signed with '{algorithm}'; only {', '.join(ALGORITHMS)} are accepted."
        )
    claimed = (unverified_claims(token) or {}).get("iss")
    if claimed != issuer:
        raise InvalidOidcToken(
            f"The token was issued by '{claimed}', not by '{issuer}', the issuer trusted here."
        )
    kid = header.get("kid")
    if not isinstance(kid, str) or not kid:
        raise InvalidOidcToken("The token names no signing key (no 'kid' in its header).")
    keys = _issuer(issuer).keys
    try:
        key = keys.get_signing_key(kid)
    except (_jwt().PyJWKClientConnectionError, _jwt().PyJWKSetError, ValueError) as error:
        # Unreachable, or answering something that is no key set: the issuer's trouble, not the token's.
        raise IssuerUnavailable(
            f"The identity provider's keys could not be fetched: {error}; try again shortly.",
            headers={"Retry-After": "30"},
        ) from None
    except _jwt().PyJWKClientError:
        raise InvalidOidcToken(
            f"The token is signed with key '{kid}', which the issuer does not publish (now)."
        ) from None
    try:
        return _jwt().decode(
            token,
            key,
            # A key is bound to its own algorithm (PyJWK): a token cannot choose another for it.
            algorithms=list(ALGORITHMS),
            audience=list(audiences),
            issuer=issuer,
            leeway=LEEWAY_SECONDS,
            options={
                "require": ["iss", "iat", "exp", "aud", *required],
                "verify_nbf": True,
                "verify_iat": True,
            },
        )
    except _jwt().ExpiredSignatureError:
        raise InvalidOidcToken("The token has expired; get a new one.") from None
    except _jwt().ImmatureSignatureError:
        raise InvalidOidcToken("The token is not valid yet (its 'nbf' or 'iat' is in the future).") from None
    except _jwt().InvalidAudienceError:
        raise InvalidOidcToken(
            f"The token is for another audience; this service accepts {', '.join(audiences)}."
        ) from None
    except _jwt().InvalidIssuerError:
        raise InvalidOidcToken(f"The token was not issued by '{issuer}'.") from None
    except _jwt().MissingRequiredClaimError as error:
        raise InvalidOidcToken(f"The token lacks the '{error.claim}' claim.") from None
    except _jwt().PyJWTError as error:
        raise InvalidOidcToken(f"The token's signature or claims are not valid: {error}.") from None
