"""Calling the web UI's handlers in tests as a browser would: with a session cookie, forms with their
CSRF secret, and the pages' text."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlencode

import azure.functions as func

from shared import auth, tokens
from shared.auth import ADMIN, Principal
from shared.tokens import Scope
from shared.web import security, sessions
from tests.conftest import ADMIN_TOKEN
from tests.support.http import request


@dataclass(frozen=True)
class Browser:
    """A signed-in browser: its session's id (the cookie) and the session's CSRF secret."""

    session_id: str
    csrf: str
    principal: Principal

    @property
    def cookie(self) -> str:
        return f"{security.SESSION_COOKIE}={self.session_id}"


def sign_in(storage, principal: Principal) -> Browser:
    session_id, session = sessions.start(storage, principal, admin_token=ADMIN_TOKEN)
    return Browser(session_id, session.csrf, principal)


def admin_browser(storage) -> Browser:
    return sign_in(storage, ADMIN)


def user_browser(storage, user: str, scope: Scope = Scope.MANAGE, **token_fields) -> tuple[Browser, str]:
    """A browser signed in with a new token of ``user``; and the token's secret."""
    _, secret = tokens.create_token(storage, user=user, name="browser", scope=scope, **token_fields)
    principal = auth.authenticate(storage, secret, ADMIN_TOKEN)
    return sign_in(storage, principal), secret


def visit(
    handler: Callable[[func.HttpRequest], func.HttpResponse],
    method: str,
    path: str,
    *,
    browser: Browser | None = None,
    form: dict[str, str] | None = None,
    csrf: str | None = None,
    headers: dict[str, str] | None = None,
    params: dict[str, str] | None = None,
    url: str | None = None,
    **route_params: str,
) -> func.HttpResponse:
    """Call a UI handler. A form is sent with the browser's CSRF secret unless ``csrf`` says otherwise."""
    all_headers = dict(headers or {})
    if browser is not None:
        all_headers["Cookie"] = browser.cookie
    body = b""
    if form is not None:
        secret = csrf if csrf is not None else (browser.csrf if browser else "")
        body = urlencode({**form, security.CSRF_FIELD: secret} if secret else form).encode()
        all_headers["Content-Type"] = "application/x-www-form-urlencoded"
    req = request(method, path, route_params=route_params, body=body, headers=all_headers, params=params)
    if url is not None:
        req = func.HttpRequest(
            method, url, headers=all_headers, params=params or {}, route_params=route_params, body=body
        )
    return handler(req)


def text(response: func.HttpResponse) -> str:
    return response.get_body().decode()
