"""What every UI handler shares: the browser's session, its CSRF check, forms, and HTML responses with
the security headers (shared/web/security.py).

A handler is ``@page``: it takes a ``Page`` (the request, and who the browser is signed in as) and
returns a response. Errors become pages: a ``FeedhouseError`` shows its message (the API's own, for
every refusal ``auth.authorize`` makes) with its status; a page that needs signing in sends an
anonymous visitor to the sign-in page, which brings them back. Every response carries the security
headers and ``Cache-Control: private, no-store``.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from http.cookies import CookieError, SimpleCookie
from typing import Any
from urllib.parse import quote, urlencode, urlsplit

import azure.functions as func

from functions.http import FeedAccess, access_feed, base_url, html_errors, identified, request_path
from shared import auth, settings
from shared.auth import ANONYMOUS, Permission, Principal
from shared.errors import FeedhouseError, Forbidden, Unauthorized
from shared.storage import Storage, get_storage
from shared.web import security, sessions

# What a redirect after a change may announce (?done=<code>): fixed texts only, so a link from
# elsewhere cannot make a page say anything else.
NOTICES = {
    "signed-in": "You are signed in.",
    "signed-out": "You are signed out.",
    "feed-created": "The feed was created.",
    "feed-saved": "The feed's settings were saved.",
    "feed-deleted": "The feed was moved to the recycle bin: restore it from Deleted feeds.",
    "feed-restored": "The feed was restored as it was deleted.",
    "feed-purged": "The feed was purged: it and its files are gone for good, and its name is free.",
    "role-granted": "The role was granted.",
    "role-revoked": "The role was taken away.",
    "token-revoked": "The token was revoked, and every token created with it.",
    "yanked": "The version was yanked: installers skip it unless it is pinned.",
    "unyanked": "The version is no longer yanked.",
    "promoted": "The version was promoted: its view lists it now.",
    "version-deleted": "The version was moved to the recycle bin.",
    "file-deleted": "The file was moved to the recycle bin.",
    "restored": "The version was restored from the recycle bin.",
    "purged": "The version was purged: its files are gone for good.",
}
# Why the sign-in page is shown (?why=<code>), for the same reason fixed texts only.
SIGN_IN_REASONS = {
    "needed": "Sign in to see that page.",
    "ended": "Your session has ended (it expired, you signed out elsewhere, or its token was revoked "
    "or expired). Sign in again.",
    "ended-form": "Your session had ended, so nothing was changed. Sign in again, then repeat what "
    "you were doing.",
}


class StaleForm(Forbidden):
    code = "stale_form"


class Page:
    """One request to the UI: the request, the browser's session and the storage behind both."""

    def __init__(self, req: func.HttpRequest) -> None:
        self.req = req
        self.storage: Storage = get_storage()
        self._cookies = _cookies(req)
        self.session_id = self._cookies.get(security.SESSION_COOKIE)
        self.session = (
            sessions.resume(self.storage, self.session_id, admin_token=settings.load().admin_token)
            if self.session_id
            else None
        )
        # The browser presented a session that has ended: its cookie is cleared with this response.
        self.session_ended = self.session_id is not None and self.session is None
        self.principal: Principal = identified(self.session.principal if self.session else ANONYMOUS)
        self.base_url = base_url(req)

    def cookie(self, name: str) -> str | None:
        return self._cookies.get(name)

    # Who is asking ---------------------------------------------------------------------------

    @property
    def signed_in(self) -> bool:
        return self.principal.authenticated

    @property
    def secure(self) -> bool:
        """Whether the browser reached us over https (directly, or through Azure's front end)."""
        forwarded = self.req.headers.get("X-Forwarded-Proto", "").split(",")[0].strip().lower()
        return urlsplit(self.req.url).scheme == "https" or forwarded == "https"

    def feed(self, permission: Permission, name: str | None = None) -> FeedAccess:
        """The feed of the route (or ``name``), once the visitor holds ``permission`` on it: the API's
        check, so the API's refusal."""
        return access_feed(self.principal, name or self.req.route_params["feed"], permission)

    def require(self, permission: Permission) -> Principal:
        """The visitor, if they hold ``permission`` outside any feed (creating feeds, managing tokens)."""
        auth.authorize(self.storage, self.principal, None, permission)
        return self.principal

    def may(self, access: FeedAccess, permission: Permission) -> bool:
        return auth.may(self.storage, self.principal, access.feed, permission)

    # Forms -----------------------------------------------------------------------------------

    @functools.cached_property
    def form(self) -> dict[str, str]:
        """The submitted form, one value per field (the last, as for a repeated field anywhere)."""
        try:
            form = self.req.form
        except ValueError:
            return {}
        return {key: form.getlist(key)[-1] for key in form}

    def field(self, name: str) -> str:
        return self.form.get(name, "")

    def check_form(self) -> Principal:
        """Before any change: a signed-in visitor, and the form's CSRF secret that of their session.
        Unauthorized (shown as the sign-in page) or StaleForm otherwise; nothing is changed either way."""
        if self.session is None:
            raise Unauthorized("Sign in first.")
        if not security.same_secret(self.form.get(security.CSRF_FIELD), self.session.csrf):
            raise StaleForm(
                "This form was refused: its security token is missing or out of date (it may come from "
                "an older session or another site). Nothing was changed. Reload the page and try again."
            )
        return self.principal

    # Answers ---------------------------------------------------------------------------------

    def context(self) -> dict[str, Any]:
        return {
            "principal": self.principal,
            "signed_in": self.signed_in,
            "csrf": self.session.csrf if self.session else "",
            "csrf_field": security.CSRF_FIELD,
            "may_create_feeds": auth.may_create_feeds(self.principal),
            "base_url": self.base_url,
            "path": request_path(self.req),
            "notice": NOTICES.get(self.req.params.get("done", "")),
        }

    def render(self, template: str, status: int = 200, **context: Any) -> func.HttpResponse:
        from shared.web.render import render

        body = render(template, {**self.context(), **context})
        return self.respond(
            func.HttpResponse(body, status_code=status, mimetype="text/html", charset="utf-8")
        )

    def redirect(self, location: str, done: str | None = None) -> func.HttpResponse:
        """See Other: after a change, the page to show (with a notice), so a reload repeats nothing."""
        if done is not None:
            location += ("&" if "?" in location else "?") + urlencode({"done": done})
        return self.respond(func.HttpResponse(status_code=303, headers={"Location": location}))

    def sign_in_first(self, why: str) -> func.HttpResponse:
        target = request_path(self.req) if self.req.method == "GET" else _came_from(self.req)
        return self.redirect("/-/signin?" + urlencode({"next": target, "why": why}))

    def respond(self, response: func.HttpResponse, cookie: str | None = None) -> func.HttpResponse:
        """``response`` with the headers every UI response carries; ``cookie`` a Set-Cookie value.

        At most one cookie per response: the Functions worker passes one Set-Cookie header on as it is.
        """
        for name, value in security.PAGE_HEADERS.items():
            response.headers[name] = value
        response.headers["Cache-Control"] = security.NO_STORE
        if cookie is None and self.session_ended:
            cookie = security.cookie(security.SESSION_COOKIE, "", secure=self.secure, max_age=0)
        if cookie is not None:
            response.headers["Set-Cookie"] = cookie
        return response

    def error(self, error: FeedhouseError) -> func.HttpResponse:
        if isinstance(error, Unauthorized) and not self.signed_in:
            if self.req.method == "GET":
                return self.sign_in_first("ended" if self.session_ended else "needed")
            return self.sign_in_first("ended-form")
        return self.render("error.html", error.status, error=error)


def _came_from(req: func.HttpRequest) -> str:
    """The page a refused form was on (its Referer, sent same-origin by our Referrer-Policy)."""
    referer = urlsplit(req.headers.get("Referer", ""))
    if referer.netloc and referer.netloc != urlsplit(req.url).netloc:
        return "/"
    return security.local_path(referer.path + (f"?{referer.query}" if referer.query else ""))


def _cookies(req: func.HttpRequest) -> dict[str, str]:
    jar: SimpleCookie = SimpleCookie()
    try:
        jar.load(req.headers.get("Cookie", ""))
    except CookieError:
        return {}
    return {name: morsel.value for name, morsel in jar.items()}


Handler = Callable[[Page], func.HttpResponse]


def page(handler: Handler) -> Callable[[func.HttpRequest], func.HttpResponse]:
    """A UI handler: ``handler(Page)`` answers; its errors become pages (see module docstring)."""

    def serve(req: func.HttpRequest) -> func.HttpResponse:
        visit = Page(req)
        try:
            return handler(visit)
        except FeedhouseError as error:
            return visit.error(error)

    # The Functions worker reads a handler's name and its one parameter, "req": no functools.wraps,
    # which would show it the inner handler's signature.
    serve.__name__ = serve.__qualname__ = handler.__name__
    serve.__doc__ = handler.__doc__
    return html_errors(serve)


def segment(value: str) -> str:
    """One path segment of a UI URL, escaped."""
    return quote(value, safe="")
