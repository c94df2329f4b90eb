"""Access tokens from a deployment's identity provider: `feedhouse login --device-code` signs in with
the device authorization grant (RFC 8628), and the keyring backend hands pip, uv and twine a current
access token from what that login kept.

msal (Microsoft's library) runs the grant and keeps the tokens in its cache. It is given the
deployment's issuer as ``oidc_authority``, so it takes the endpoints from the issuer's discovery
document: Entra ID's v2.0 issuer (``https://login.microsoftonline.com/<tenant>/v2.0``) and any other
OpenID Connect provider that offers the grant (tests: a local one) go through the same code.

What login keeps (in the system keyring, or the 0600 credentials file, in place of a personal access
token) is a JSON document: the deployment's sign-in settings and msal's serialized cache, whose refresh
token gets new access tokens while the provider lets it (Entra ID: 90 days, renewed with each use).
A personal access token never starts with ``{``, so the two cannot be taken for each other.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

# Seconds msal waits for each request to the provider: a stalled provider must not hang pip.
TIMEOUT_SECONDS = 15


class SigninError(Exception):
    """The provider did not sign in, or answered what msal could not use."""


def is_signin(stored: str) -> bool:
    """Whether a stored credential is a sign-in (else it is a token, used as it is)."""
    return stored.startswith("{")


def _app(signin: dict[str, Any], cache: Any) -> Any:
    import msal

    try:
        return msal.PublicClientApplication(
            signin["client_id"], oidc_authority=signin["issuer"], token_cache=cache, timeout=TIMEOUT_SECONDS
        )
    except (ValueError, OSError) as error:  # discovery failed, or an issuer msal cannot use
        raise SigninError(f"the identity provider {signin['issuer']} cannot be used: {error}") from None


def _stored(signin: dict[str, Any], cache: Any) -> str:
    return json.dumps({"signin": signin, "cache": cache.serialize()})


def device_login(signin: dict[str, Any], show: Callable[[str], None]) -> tuple[str, str]:
    """Sign in with a device code: ``show`` the provider's instructions (a URL and a code to enter
    there), wait until the person has signed in; the access token and what to store."""
    import msal

    cache = msal.SerializableTokenCache()
    app = _app(signin, cache)
    flow = app.initiate_device_flow(scopes=list(signin["scopes"]))
    if "user_code" not in flow:
        raise SigninError(_reason(flow))
    show(flow["message"])
    result = app.acquire_token_by_device_flow(flow)
    if "access_token" not in result:
        raise SigninError(_reason(result))
    return result["access_token"], _stored(signin, cache)


def access_token(stored: str) -> tuple[str | None, str | None]:
    """A current access token from a stored sign-in (msal's cached one, or a new one for its refresh
    token), and the sign-in to store back when that changed it (a provider may rotate refresh tokens);
    (None, None) when it no longer signs anyone in (run login again)."""
    import msal

    try:
        document = json.loads(stored)
        signin, serialized = document["signin"], document["cache"]
    except (ValueError, KeyError, TypeError):
        return None, None
    cache = msal.SerializableTokenCache()
    cache.deserialize(serialized)
    try:
        app = _app(signin, cache)
    except SigninError:
        return None, None
    accounts = app.get_accounts()
    result = app.acquire_token_silent(list(signin["scopes"]), account=accounts[0]) if accounts else None
    token = result.get("access_token") if isinstance(result, dict) else None
    return token, (_stored(signin, cache) if cache.has_state_changed else None)


def _reason(answer: dict[str, Any]) -> str:
    return str(answer.get("error_description") or answer.get("error") or answer)
