"""What keeps the UI's pages safe in a browser: the headers every page carries, the cookies, CSRF.

- Every UI response carries a Content-Security-Policy that allows only this origin's stylesheet and
  script (no inline script or style, no plugins, no framing, forms only to this origin), and the
  headers older browsers need for the same (X-Frame-Options, nosniff), and sends no Referer elsewhere.
- Pages that depend on who asks are ``private, no-store``: no shared cache keeps them, and no browser
  keeps a copy of a signed-in page on disk. Only the static files are cached.
- The session cookie holds a random id only (shared/web/sessions.py): ``HttpOnly`` (no script reads
  it), ``SameSite=Strict`` (no other site's link or form sends it), ``Secure`` over https, ``Path=/``.
- A sign-in through the issuer keeps the random id of the sign-in under way in a cookie that lives
  for that sign-in only and is ``SameSite=Lax``: the issuer's redirect back is a navigation from
  another site, which a Strict cookie would not be sent with. That is also why the way back answers
  with a page of ours that moves on to the target, not a redirect: a navigation another site started
  does not carry the Strict session cookie, the one our page starts does.
- Every form that changes something carries the session's CSRF secret, compared in constant time. The
  sign-in form, before there is a session, carries a random value that must equal the one in a cookie
  set with the form (a double-submit token), so no other site can sign a browser in as someone else.
"""

from __future__ import annotations

import hmac
import secrets


def content_security_policy(form_action: str = "") -> str:
    """The policy of every page; ``form_action`` adds an origin forms may lead to (the sign-in form's
    redirect to the identity provider: browsers check form-action on a form's redirects too)."""
    return (
        "default-src 'none'; style-src 'self'; script-src 'self'; img-src 'self' data:; "
        f"form-action 'self'{' ' + form_action if form_action else ''}; frame-ancestors 'none'; "
        "base-uri 'none'"
    )


CONTENT_SECURITY_POLICY = content_security_policy()
PAGE_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}
NO_STORE = "private, no-store"

SESSION_COOKIE = "feedhouse_session"
SIGNIN_COOKIE = "feedhouse_signin"
PENDING_SIGNIN_COOKIE = "feedhouse_signin_pending"
# How long a sign-in form stays usable after it was shown.
SIGNIN_FORM_SECONDS = 3600
CSRF_FIELD = "csrf"


def cookie(name: str, value: str, *, secure: bool, max_age: int, same_site: str = "Strict") -> str:
    """A Set-Cookie value. ``max_age`` 0 deletes the cookie."""
    attributes = [f"{name}={value}", "Path=/", f"Max-Age={max_age}", "HttpOnly", f"SameSite={same_site}"]
    if secure:
        attributes.append("Secure")
    return "; ".join(attributes)


def same_secret(sent: str | None, expected: str | None) -> bool:
    """Whether a form's secret is the expected one, in constant time (bytes: compare_digest refuses
    non-ASCII text, and a form may send anything)."""
    if not sent or not expected:
        return False
    return hmac.compare_digest(sent.encode("utf-8"), expected.encode("utf-8"))


def new_form_secret() -> str:
    return secrets.token_urlsafe(32)


def local_path(target: str | None, default: str = "/") -> str:
    """Where to go after signing in: a path of this site only (never ``//host`` or ``/\\host``, which
    browsers take for another site), else ``default``."""
    if not target or not target.startswith("/") or target.startswith(("//", "/\\")):
        return default
    if any(ch in target for ch in "\\\r\n\t") or not target.isascii():
        return default
    return target
