"""The web UI at handler level: sessions and their cookies, CSRF, the security headers, refusals with
the API's messages, hostile input shown as text, and where browsers are sent from clients' URLs.
(tests/e2e/test_web_ui.py drives the same pages in a real browser.)"""

from __future__ import annotations

import logging
import re
import secrets
from datetime import UTC, datetime, timedelta

import pytest

from functions import simple, web
from shared import feeds, packages, roles, tokens
from shared.auth import ADMIN
from shared.keys import SESSION_ROW, SESSIONS_TABLE, session_partition
from shared.roles import Role
from shared.tokens import Scope
from shared.web import security, sessions
from tests.conftest import ADMIN_TOKEN
from tests.support.coldstart import loaded_at_cold_start
from tests.support.dists import make_wheel
from tests.support.publish import publish, publish_wheel
from tests.support.stored import key_of
from tests.support.web import admin_browser, text, user_browser, visit

CSP = (
    "default-src 'none'; style-src 'self'; script-src 'self'; img-src 'self' data:; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)


def _session_row(storage, session_id: str):
    import hashlib

    digest = hashlib.sha256(session_id.encode()).hexdigest()
    return storage.get(SESSIONS_TABLE, session_partition(digest), SESSION_ROW)


def _signin_cookie(response) -> str:
    match = re.search(rf"{security.SIGNIN_COOKIE}=([^;]+)", response.headers["Set-Cookie"])
    assert match, response.headers.get("Set-Cookie")
    return match.group(1)


def _sign_in_form(storage, token: str, **request):
    """GET the sign-in page, then post its form with ``token``, as a browser does."""
    shown = visit(web.web_signin, "GET", "/-/signin")
    secret = _signin_cookie(shown)
    assert f'value="{secret}"' in text(shown)
    headers = dict(request.pop("headers", {}))
    cookies = [f"{security.SIGNIN_COOKIE}={secret}", *([headers["Cookie"]] if "Cookie" in headers else [])]
    headers["Cookie"] = "; ".join(cookies)
    return visit(
        web.web_signin,
        "POST",
        "/-/signin",
        form={"signin": secret, "token": token},
        csrf="",
        headers=headers,
        **request,
    )


# Security headers -----------------------------------------------------------------------------------


def test_every_ui_answer_carries_the_security_headers_and_is_never_stored(storage, feed_name):
    browser = admin_browser(storage)
    answers = [
        visit(web.web_home, "GET", "/"),
        visit(web.web_home, "GET", "/", browser=browser),
        visit(web.web_signin, "GET", "/-/signin"),
        visit(web.web_feed, "GET", f"/-/feeds/{feed_name}/", feed=feed_name),  # a redirect to sign in
        visit(web.web_feed, "GET", "/-/feeds/nope/", browser=browser, feed="nope"),  # 404 page
        visit(web.web_feed, "GET", f"/-/feeds/{feed_name}/", browser=browser, feed=feed_name),
        visit(web.web_tokens, "GET", "/-/tokens", browser=browser, params={"user": "alice"}),
    ]
    assert [a.status_code for a in answers] == [200, 200, 200, 303, 404, 200, 200]
    for answer in answers:
        assert answer.headers["Content-Security-Policy"] == CSP
        assert answer.headers["X-Frame-Options"] == "DENY"
        assert answer.headers["X-Content-Type-Options"] == "nosniff"
        assert answer.headers["Referrer-Policy"] == "same-origin"
        assert answer.headers["Cache-Control"] == "private, no-store"


def test_pages_use_no_inline_script_or_style(storage, feed_name):
    """The CSP forbids them; a page that used one would break in the browser."""
    browser = admin_browser(storage)
    publish_wheel(feed_name, "plain-pkg", "1.0")
    for page in (
        visit(web.web_home, "GET", "/", browser=browser),
        visit(web.web_feed, "GET", f"/-/feeds/{feed_name}/", browser=browser, feed=feed_name),
        visit(web.web_package, "GET", "/", browser=browser, feed=feed_name, project="plain-pkg"),
        visit(web.web_feed_settings, "GET", "/", browser=browser, feed=feed_name),
    ):
        html = text(page)
        assert "<script>" not in html and " style=" not in html and "<style" not in html
        assert re.search(r"<script src=\"/-/static/copy\.js\?v=[0-9a-f]{16}\" defer></script>", html)


def test_static_files_cost_no_storage_request_even_with_a_session(storage, caplog):
    browser = admin_browser(storage)
    cost = _storage_requests(caplog, visit, web.web_static, "GET", "/", browser=browser, name="style.css")
    assert cost == 0


def test_static_files_are_cached_for_good_under_their_hash(storage):
    page = text(visit(web.web_home, "GET", "/"))
    url = re.search(r'href="(/-/static/style\.css\?v=([0-9a-f]+))"', page)
    hashed = visit(web.web_static, "GET", "/-/static/style.css", params={"v": url.group(2)}, name="style.css")
    assert hashed.status_code == 200
    assert hashed.headers["Content-Type"] == "text/css; charset=utf-8"
    assert hashed.headers["Cache-Control"] == "public, max-age=31536000, immutable"
    old = visit(web.web_static, "GET", "/-/static/style.css", params={"v": "0" * 16}, name="style.css")
    assert old.headers["Cache-Control"] == "public, max-age=300"
    for name in ("../shared/keys.py", "templates", ".hidden.css", "base.html"):
        assert visit(web.web_static, "GET", f"/-/static/{name}", name=name).status_code == 404


# Signing in ------------------------------------------------------------------------------------------


def test_signing_in_makes_a_session_whose_cookie_holds_only_its_id(storage):
    _, secret = tokens.create_token(storage, user="cookie-user", name="t", scope=Scope.READ)
    response = _sign_in_form(storage, secret, params={"next": "/-/tokens"})
    assert response.status_code == 303
    assert response.headers["Location"] == "/-/tokens"
    cookie = response.headers["Set-Cookie"]
    session_id = re.match(rf"{security.SESSION_COOKIE}=([^;]+)", cookie).group(1)
    attributes = [a.strip() for a in cookie.split(";")[1:]]
    assert set(attributes) == {
        "Path=/",
        f"Max-Age={24 * 3600}",
        "HttpOnly",
        "SameSite=Strict",
    }  # http: no Secure
    secret_part = secret.removeprefix(tokens.TOKEN_PREFIX).partition("_")[2]  # the part after the id
    assert secret not in cookie and secret_part not in cookie
    row = _session_row(storage, session_id)
    assert row["User"] == "cookie-user" and row["Kind"] == "token"
    assert not any(secret in str(v) or secret_part in str(v) for v in row.values())
    # The session is the token's user, with the token's scope.
    home = visit(web.web_home, "GET", "/", headers={"Cookie": cookie.split(";")[0]})
    assert "Signed in as <strong>cookie-user</strong>" in text(home)


@pytest.mark.parametrize(
    ("url", "headers"),
    [
        ("https://feeds.example.com/-/signin", {}),
        ("http://feeds.example.com/-/signin", {"X-Forwarded-Proto": "https"}),
    ],
)
def test_cookies_are_secure_when_the_browser_came_over_https(storage, url, headers):
    response = _sign_in_form(storage, ADMIN_TOKEN, url=url, headers=headers)
    assert response.status_code == 303
    assert "Secure" in [a.strip() for a in response.headers["Set-Cookie"].split(";")]


def test_a_sign_in_form_from_elsewhere_is_refused(storage):
    """Login CSRF: another site cannot sign a browser in (the form's secret must match its cookie)."""
    before = len(storage.partitions_with_prefix(SESSIONS_TABLE, "session:"))
    for headers, field in [({}, "forged"), ({"Cookie": f"{security.SIGNIN_COOKIE}=one"}, "other"), ({}, "")]:
        response = visit(
            web.web_signin,
            "POST",
            "/-/signin",
            form={"signin": field, "token": ADMIN_TOKEN},
            csrf="",
            headers=headers,
        )
        assert response.status_code == 403
        assert "sign-in form had expired or did not come from this site" in text(response)
        assert security.SESSION_COOKIE not in response.headers["Set-Cookie"]
    assert len(storage.partitions_with_prefix(SESSIONS_TABLE, "session:")) == before


def test_a_wrong_token_is_refused_with_the_apis_message(storage):
    response = _sign_in_form(storage, "fhpat_0123456789abcdef_nope")
    assert response.status_code == 401
    assert "The token is not valid: it is unknown, revoked or expired." in text(response)
    assert security.SESSION_COOKIE not in response.headers["Set-Cookie"]
    assert "WWW-Authenticate" not in response.headers  # no browser password dialog


@pytest.mark.parametrize(
    "target", ["//evil.example/x", "https://evil.example/", "/\\evil.example", "javascript:x"]
)
def test_signing_in_never_sends_the_browser_to_another_site(storage, target):
    response = _sign_in_form(storage, ADMIN_TOKEN, params={"next": target})
    assert response.headers["Location"] == "/?done=signed-in"


def test_signing_in_again_ends_the_browsers_earlier_session(storage):
    earlier = admin_browser(storage)
    _, secret = tokens.create_token(storage, user="switcher", name="t", scope=Scope.READ)
    response = _sign_in_form(storage, secret, headers={"Cookie": earlier.cookie})
    assert response.status_code == 303
    assert _session_row(storage, earlier.session_id) is None


def test_signing_out_ends_the_session_for_good(storage):
    browser = admin_browser(storage)
    response = visit(web.web_signout, "POST", "/-/signout", browser=browser, form={})
    assert response.status_code == 303
    assert response.headers["Set-Cookie"].startswith(f"{security.SESSION_COOKIE}=;")
    assert "Max-Age=0" in response.headers["Set-Cookie"]
    assert _session_row(storage, browser.session_id) is None
    again = visit(web.web_tokens, "GET", "/-/tokens", browser=browser)
    assert again.status_code == 303 and "why=ended" in again.headers["Location"]


def test_signing_out_needs_the_sessions_csrf_secret(storage):
    browser = admin_browser(storage)
    response = visit(web.web_signout, "POST", "/-/signout", browser=browser, form={}, csrf="forged")
    assert response.status_code == 403
    assert _session_row(storage, browser.session_id) is not None


# Sessions end with their token, and by time ------------------------------------------------------------


def test_a_session_ends_when_its_token_is_revoked(storage, feed_name):
    browser, _ = user_browser(storage, "revoked-user")
    roles.grant(storage, key_of(feed_name), "revoked-user", Role.READER)
    assert visit(web.web_feed, "GET", "/", browser=browser, feed=feed_name).status_code == 200
    tokens.revoke(storage, "revoked-user", browser.principal.token.id)
    response = visit(web.web_feed, "GET", f"/-/feeds/{feed_name}/", browser=browser, feed=feed_name)
    assert response.status_code == 303
    assert response.headers["Location"] == f"/-/signin?next=%2F-%2Ffeeds%2F{feed_name}%2F&why=ended"
    assert response.headers["Set-Cookie"].startswith(f"{security.SESSION_COOKIE}=;")  # cleared
    assert _session_row(storage, browser.session_id) is None


def test_a_session_ends_when_its_token_expires(storage):
    expires = datetime.now(UTC) + timedelta(seconds=2)
    browser, _ = user_browser(storage, "expiring-user", expires=expires)
    assert visit(web.web_tokens, "GET", "/-/tokens", browser=browser).status_code == 200
    import time

    time.sleep(2.5)
    assert visit(web.web_tokens, "GET", "/-/tokens", browser=browser).status_code == 303


@pytest.mark.parametrize(
    ("created_ago", "seen_ago", "alive"),
    [
        (timedelta(hours=23), timedelta(hours=7), True),
        (timedelta(hours=23), timedelta(hours=8, seconds=1), False),  # idle
        (timedelta(hours=24, seconds=1), timedelta(minutes=1), False),  # absolute
    ],
)
def test_a_session_ends_after_8_hours_idle_or_24_hours_in_all(storage, created_ago, seen_ago, alive):
    browser = admin_browser(storage)
    row = _session_row(storage, browser.session_id)
    now = datetime.now(UTC)
    storage.merge(
        SESSIONS_TABLE,
        {
            **row,
            "Created": packages.format_time(now - created_ago),
            "Seen": packages.format_time(now - seen_ago),
        },
    )
    resumed = sessions.resume(storage, browser.session_id, admin_token=ADMIN_TOKEN)
    assert (resumed is not None) is alive
    assert (_session_row(storage, browser.session_id) is not None) is alive


def test_the_sweep_removes_sessions_that_ended_unseen(storage):
    ended, live = admin_browser(storage), admin_browser(storage)
    row = _session_row(storage, ended.session_id)
    storage.merge(
        SESSIONS_TABLE, {**row, "Seen": packages.format_time(datetime.now(UTC) - timedelta(hours=9))}
    )
    assert sessions.sweep(storage, now=datetime.now(UTC)) >= 1
    assert _session_row(storage, ended.session_id) is None
    assert _session_row(storage, live.session_id) is not None


def test_admin_sessions_end_when_the_admin_token_changes(storage, monkeypatch):
    from shared import settings

    browser = admin_browser(storage)
    assert sessions.resume(storage, browser.session_id, admin_token=ADMIN_TOKEN).principal == ADMIN
    row = _session_row(storage, browser.session_id)
    assert ADMIN_TOKEN not in str(row.values())
    monkeypatch.setenv("FEEDHOUSE_ADMIN_TOKEN", "fh_" + secrets.token_urlsafe(24))
    settings.load.cache_clear()
    try:
        assert visit(web.web_tokens, "GET", "/-/tokens", browser=browser).status_code == 303
    finally:
        monkeypatch.undo()
        settings.load.cache_clear()


# Forms: CSRF, stale sessions, and the API's refusals ----------------------------------------------------


def _release(storage, feed_name: str, project: str, version: str):
    return packages.read_project(storage, key_of(feed_name), project).releases.get(version)


@pytest.mark.parametrize("csrf", ["", "forged", "ünïcode"])
def test_a_form_without_the_sessions_csrf_secret_changes_nothing(storage, feed_name, csrf):
    publish_wheel(feed_name, "csrf-pkg", "1.0")
    browser = admin_browser(storage)
    response = visit(
        web.web_yank,
        "POST",
        "/",
        browser=browser,
        form={"reason": "forged"},
        csrf=csrf or "\u200b",
        feed=feed_name,
        project="csrf-pkg",
        version="1.0",
    )
    assert response.status_code == 403
    assert "security token is missing or out of date" in text(response)
    assert "Nothing was changed" in text(response)
    assert (
        _release(storage, feed_name, "csrf-pkg", "1.0") is None
        or not _release(storage, feed_name, "csrf-pkg", "1.0").yanked
    )


def test_a_form_from_another_sessions_page_is_refused(storage, feed_name):
    mine, other = admin_browser(storage), admin_browser(storage)
    response = visit(
        web.web_permissions,
        "POST",
        "/",
        browser=mine,
        form={"user": "mallory", "role": "owner"},
        csrf=other.csrf,
        feed=feed_name,
    )
    assert response.status_code == 403
    assert roles.role_of(storage, key_of(feed_name), "mallory") is None


def test_a_form_sent_after_the_session_ended_changes_nothing_and_says_so(storage, feed_name):
    browser = admin_browser(storage)
    sessions.end(storage, browser.session_id)
    response = visit(
        web.web_permissions,
        "POST",
        "/",
        browser=browser,
        form={"user": "late", "role": "owner"},
        feed=feed_name,
        headers={"Referer": f"http://localhost:7071/-/feeds/{feed_name}/permissions"},
    )
    assert response.status_code == 303
    assert response.headers["Location"] == (
        f"/-/signin?next=%2F-%2Ffeeds%2F{feed_name}%2Fpermissions&why=ended-form"
    )
    assert roles.role_of(storage, key_of(feed_name), "late") is None
    shown = visit(web.web_signin, "GET", "/-/signin", params={"why": "ended-form"})
    assert "Your session had ended, so nothing was changed." in text(shown)


def test_a_user_without_the_role_is_refused_with_the_apis_message(storage, feed_name):
    publish_wheel(feed_name, "role-pkg", "1.0")
    browser, _ = user_browser(storage, "just-a-reader")
    roles.grant(storage, key_of(feed_name), "just-a-reader", Role.READER)
    response = visit(
        web.web_yank,
        "POST",
        "/",
        browser=browser,
        form={"reason": "x"},
        feed=feed_name,
        project="role-pkg",
        version="1.0",
    )
    assert response.status_code == 403
    assert (
        f"User &#39;just-a-reader&#39; lacks the &#39;publish&#39; permission on feed &#39;{feed_name}&#39;: "
        "it needs the contributor role (or higher) and the user has reader." in text(response)
    )
    assert _release(storage, feed_name, "role-pkg", "1.0") is None
    # The page offers no yank form to a reader in the first place.
    page = visit(web.web_package, "GET", "/", browser=browser, feed=feed_name, project="role-pkg")
    assert page.status_code == 200 and "/yank" not in text(page)


def test_a_read_scope_token_is_refused_writes_with_the_apis_message(storage, feed_name):
    browser, _ = user_browser(storage, "read-scoped", scope=Scope.READ)
    roles.grant(storage, key_of(feed_name), "read-scoped", Role.OWNER)
    response = visit(web.web_tokens, "GET", "/-/tokens", browser=browser)
    assert response.status_code == 403
    assert (
        "This token&#39;s scope is &#39;read&#39;; &#39;manage tokens&#39; needs a token with scope"
        in text(response)
    )


def test_deleting_a_feed_needs_its_name_typed(storage, feed_name):
    browser = admin_browser(storage)
    wrong = visit(
        web.web_delete_feed,
        "POST",
        "/",
        browser=browser,
        form={"confirm": feed_name.upper() + "x"},
        feed=feed_name,
    )
    assert wrong.status_code == 400
    assert f"type its name, {feed_name}, exactly to confirm" in text(wrong)
    assert feeds.find_feed(storage, feed_name) is not None
    done = visit(
        web.web_delete_feed, "POST", "/", browser=browser, form={"confirm": feed_name}, feed=feed_name
    )
    assert done.status_code == 303 and done.headers["Location"] == "/?done=feed-deleted"
    assert feeds.find_feed(storage, feed_name) is None


def test_a_deleted_feed_is_listed_to_its_owners_and_restored_or_purged_from_the_ui(storage, feed_name):
    owner = "bin-owner-" + secrets.token_hex(3)
    roles.grant(storage, key_of(feed_name), owner, Role.OWNER)
    browser, _ = user_browser(storage, owner)
    other, _ = user_browser(storage, "bin-other-" + secrets.token_hex(3))
    settings_page = text(visit(web.web_feed_settings, "GET", "/", browser=browser, feed=feed_name))
    assert "for 30 days" in settings_page and "restore it as it was" in settings_page

    deleted = visit(
        web.web_delete_feed, "POST", "/", browser=browser, form={"confirm": feed_name}, feed=feed_name
    )
    assert deleted.status_code == 303
    assert "moved to the recycle bin" in text(
        visit(web.web_home, "GET", "/", browser=browser, params={"done": "feed-deleted"})
    )
    listing = text(visit(web.web_deleted_feeds, "GET", "/-/recycle-bin", browser=browser))
    assert feed_name in listing and f"/-/recycle-bin/{feed_name}/restore" in listing
    assert feed_name in text(visit(web.web_deleted_feeds, "GET", "/", browser=admin_browser(storage)))
    assert feed_name not in text(visit(web.web_deleted_feeds, "GET", "/", browser=other))
    refused = visit(web.web_restore_feed, "POST", "/", browser=other, form={}, feed=feed_name)
    assert refused.status_code == 403

    restored = visit(web.web_restore_feed, "POST", "/", browser=browser, form={}, feed=feed_name)
    assert (
        restored.status_code == 303
        and restored.headers["Location"] == f"/-/feeds/{feed_name}/?done=feed-restored"
    )
    assert feeds.find_feed(storage, feed_name) is not None
    # The UI records as the API does: who, from which browser.
    from shared import history

    recorded, _ = history.feed_changes(
        storage, key_of(feed_name), order=history.ORDERS["newest"], continuation=None, limit=2
    )
    assert [(c.action, c.user) for c in recorded] == [
        (history.FEED_RESTORE, owner),
        (history.FEED_DELETE, owner),
    ]
    again = visit(web.web_restore_feed, "POST", "/", browser=browser, form={}, feed=feed_name)
    assert again.status_code == 409 and "not in the recycle bin" in text(again)

    visit(web.web_delete_feed, "POST", "/", browser=browser, form={"confirm": feed_name}, feed=feed_name)
    purged = visit(web.web_purge_feed, "POST", "/", browser=browser, form={}, feed=feed_name)
    assert purged.status_code == 303 and purged.headers["Location"] == "/-/recycle-bin?done=feed-purged"
    assert feeds.find_feed_even_deleted(storage, feed_name) is None
    assert feed_name not in text(visit(web.web_deleted_feeds, "GET", "/", browser=browser))


def test_a_signed_out_visitor_is_sent_to_sign_in_for_private_pages_and_learns_nothing(storage, feed_name):
    for feed in (feed_name, "no-such-feed-" + secrets.token_hex(3)):
        response = visit(web.web_feed, "GET", f"/-/feeds/{feed}/", feed=feed)
        assert response.status_code == 303
        assert response.headers["Location"] == f"/-/signin?next=%2F-%2Ffeeds%2F{feed}%2F&why=needed"
    home = text(visit(web.web_home, "GET", "/"))
    assert feed_name not in home


def test_a_public_feed_is_shown_to_anyone(storage):
    name = "pub-" + secrets.token_hex(4)
    feeds.create_feed(storage, feeds.parse_new_feed({"name": name, "visibility": "public"}))
    publish_wheel(name, "open-pkg", "2.0")
    assert name in text(visit(web.web_home, "GET", "/"))
    page = visit(web.web_feed, "GET", f"/-/feeds/{name}/", feed=name)
    assert page.status_code == 200 and "open-pkg" in text(page)
    package = visit(web.web_package, "GET", "/", feed=name, project="open-pkg")
    assert package.status_code == 200
    assert f"pip install --index-url http://localhost:7071/{name}/simple/ open-pkg==2.0" in text(package)
    # The Connect panel offers the as-of index of today (issue 15): a build pinned to the feed as it is.
    today = datetime.now(UTC).date().isoformat()
    assert f"http://__token__@localhost:7071/{name}/as-of/{today}/simple/" in text(page)


# Hostile input is shown as text --------------------------------------------------------------------------

HOSTILE = '<script>alert("x")</script><img src=x onerror=alert(1)>'


def test_hostile_feed_descriptions_yank_reasons_and_metadata_are_shown_as_text(storage):
    name = "hostile-" + secrets.token_hex(3)
    feeds.create_feed(storage, feeds.parse_new_feed({"name": name, "description": HOSTILE}))
    metadata = (
        "Metadata-Version: 2.1\nName: hostile-pkg\nVersion: 1.0\n"
        f"Summary: {HOSTILE}\nAuthor: {HOSTILE}\n"
        "Project-URL: Docs, javascript:alert(document.cookie)\n"
        "Project-URL: Home, https://example.com/\n"
        f"Requires-Dist: requests; extra == '{HOSTILE}'\n\n"
    )
    filename, data = make_wheel("hostile-pkg", "1.0", metadata=metadata)
    assert publish(name, filename, data, "hostile-pkg", "1.0").status_code == 200
    browser = admin_browser(storage)
    yank = visit(
        web.web_yank,
        "POST",
        "/",
        browser=browser,
        form={"reason": HOSTILE},
        feed=name,
        project="hostile-pkg",
        version="1.0",
    )
    assert yank.status_code == 303
    pages = [
        visit(web.web_home, "GET", "/", browser=browser),
        visit(web.web_feed, "GET", "/", browser=browser, feed=name),
        visit(web.web_package, "GET", "/", browser=browser, feed=name, project="hostile-pkg"),
    ]
    for page in pages:
        html = text(page)
        assert "<script>alert" not in html and "<img src=x" not in html
        assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in html
    package = text(pages[2])
    assert 'href="javascript:' not in package
    assert '<a href="https://example.com/" rel="nofollow noopener">Home</a>' in package


@pytest.mark.parametrize(
    ("content_type", "description", "expected", "absent"),
    [
        (
            "text/markdown",
            "# Title\n\n<script>alert(1)</script>\n\n[x](javascript:alert(1)) <img src=y onerror=alert(2)>",
            [
                '<h1 id="user-content-title">',
                "&lt;script&gt;alert(1)&lt;/script&gt;",
                '<a rel="nofollow">x</a>',
                '<img src="y">',
            ],
            ["<script>", "javascript:", "onerror"],
        ),
        (
            "text/markdown; variant=CommonMark",
            "| a | b |\n|---|---|\n| 1 | 2 |",
            ["<table>"],  # rendered as GFM, as Warehouse does whatever the variant
            [],
        ),
        (
            None,
            "Title\n=====\n\n.. raw:: html\n\n   <script>alert(1)</script>",
            [
                "Title<br>=====",
                "&lt;script&gt;alert(1)&lt;/script&gt;",
                "did not render in its declared format",
            ],
            ["<script>"],
        ),
        ("text/x-rst", "Heading\n=======\n\nSome *text*.", ["<em>text</em>"], []),
        ("text/plain", "a <b>bold</b>\nline", ["<pre>a &lt;b&gt;bold&lt;/b&gt;<br>line</pre>"], ["<b>bold"]),
    ],
)
def test_descriptions_are_rendered_as_pypi_renders_them(
    storage, feed_name, content_type, description, expected, absent
):
    lines = ["Metadata-Version: 2.1", "Name: described", "Version: 1.0"]
    if content_type:
        lines.append(f"Description-Content-Type: {content_type}")
    filename, data = make_wheel("described", "1.0", metadata="\n".join(lines) + "\n\n" + description)
    assert publish(feed_name, filename, data, "described", "1.0").status_code == 200
    page = text(
        visit(
            web.web_package, "GET", "/", browser=admin_browser(storage), feed=feed_name, project="described"
        )
    )
    readme = page[
        page.index('<div class="readme') : page.index("</section>", page.index('<div class="readme'))
    ]
    for fragment in expected:
        assert fragment in readme or fragment in page
    for fragment in absent:
        assert fragment not in readme


# Packages, versions and yanks ------------------------------------------------------------------------------


def test_the_package_page_lists_versions_newest_first_with_yanks_and_each_files_facts(storage, feed_name):
    for version in ("1.0", "1.10", "1.2", "2.0rc1"):
        publish_wheel(feed_name, "Versioned.Pkg", version, requires_python=">=3.9", requires=("six>=1.16",))
    browser = admin_browser(storage)
    visit(
        web.web_yank,
        "POST",
        "/",
        browser=browser,
        form={"reason": "broken"},
        feed=feed_name,
        project="versioned-pkg",
        version="1.10",
    )
    page = text(visit(web.web_package, "GET", "/", browser=browser, feed=feed_name, project="versioned-pkg"))
    listed = re.findall(r'<a href="/-/feeds/[^"]+/packages/versioned-pkg/([^/"]+)/"', page)
    assert listed[:4] == ["2.0rc1", "1.10", "1.2", "1.0"]
    assert "Versioned.Pkg" in page
    # PyPI's choice: the newest final release not yanked.
    assert '<span class="version">1.2</span>' in page
    assert "broken" in page
    assert "versioned_pkg-1.2-py3-none-any.whl" in page and "Requires Python &gt;=3.9" in page
    assert "six&gt;=1.16" in page and "by admin" in page and "published" in page
    redirected = visit(web.web_package, "GET", "/", browser=browser, feed=feed_name, project="Versioned.Pkg")
    assert redirected.status_code == 301
    assert redirected.headers["Location"] == f"/-/feeds/{feed_name}/packages/versioned-pkg/"
    missing = visit(
        web.web_version, "GET", "/", browser=browser, feed=feed_name, project="versioned-pkg", version="9"
    )
    assert (
        missing.status_code == 404
        and "No version &#39;9&#39; of project &#39;versioned-pkg&#39;." in text(missing)
    )


def test_feed_search_matches_normalized_substrings(storage, feed_name):
    for name in ("Alpha_Tools", "beta.tools", "gamma"):
        publish_wheel(feed_name, name, "1.0")
    browser = admin_browser(storage)
    page = text(visit(web.web_feed, "GET", "/", browser=browser, params={"q": "A-TOOLS"}, feed=feed_name))
    assert "Alpha_Tools" in page and "beta.tools" in page and ">gamma<" not in page
    assert "2 packages whose name contains" in page


@pytest.mark.parametrize("number", ["9" * 5000, "²", "-1", "0", "x", ""])
def test_a_search_page_number_that_is_not_one_shows_the_first_page(storage, feed_name, number):
    publish_wheel(feed_name, "numbered", "1.0")
    browser = admin_browser(storage)
    params = {"q": "numbered", "page": number}
    response = visit(web.web_feed, "GET", "/", browser=browser, params=params, feed=feed_name)
    assert response.status_code == 200 and ">numbered<" in text(response)


def test_feed_pages_follow_the_storage_continuation(storage, feed_name, monkeypatch):
    monkeypatch.setattr(web, "PROJECTS_PER_PAGE", 2)
    for name in ("p-a", "p-b", "p-c"):
        publish_wheel(feed_name, name, "1.0")
    browser = admin_browser(storage)
    first = text(visit(web.web_feed, "GET", "/", browser=browser, feed=feed_name))
    after = re.search(r'href="[^"]+\?after=([^"]+)">Next', first).group(1)
    from urllib.parse import unquote

    second = text(
        visit(web.web_feed, "GET", "/", browser=browser, params={"after": unquote(after)}, feed=feed_name)
    )
    assert ">p-a<" in first and ">p-b<" in first and ">p-c<" not in first
    assert ">p-c<" in second and ">p-a<" not in second
    bad = visit(web.web_feed, "GET", "/", browser=browser, params={"after": "forged"}, feed=feed_name)
    assert bad.status_code == 400


# Where clients send people -------------------------------------------------------------------------------

BROWSER = {
    "Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
    "Sec-Fetch-Mode": "navigate",
    "Sec-Fetch-Dest": "document",
    "Sec-Fetch-Site": "none",
}


def test_a_browser_opening_a_simple_page_is_sent_to_the_package_page(storage, feed_name):
    publish_wheel(feed_name, "nav-pkg", "1.0")
    detail = visit(
        simple.project_detail,
        "GET",
        f"/{feed_name}/simple/Nav_Pkg/",
        headers=BROWSER,
        feed=feed_name,
        project="Nav_Pkg",
    )
    assert detail.status_code == 303
    assert detail.headers["Location"] == f"/-/feeds/{feed_name}/packages/nav-pkg/"
    assert detail.headers["Cache-Control"] == "no-store"
    listing = visit(simple.project_list, "GET", f"/{feed_name}/simple/", headers=BROWSER, feed=feed_name)
    assert listing.status_code == 303 and listing.headers["Location"] == f"/-/feeds/{feed_name}/"


@pytest.mark.parametrize(
    "headers",
    [
        {
            "Accept": "application/vnd.pypi.simple.v1+json, application/vnd.pypi.simple.v1+html; q=0.1, "
            "text/html; q=0.01"
        },
        {"Accept": "text/html"},
        {},
        {**BROWSER, "Sec-Fetch-Dest": "empty", "Sec-Fetch-Mode": "cors"},  # a page's own fetch()
    ],
)
def test_installers_get_the_simple_page_itself(storage, feed_name, headers):
    publish_wheel(feed_name, "inst-pkg", "1.0")
    from tests.conftest import ADMIN_TOKEN as token
    from tests.support.http import basic

    response = visit(
        simple.project_detail,
        "GET",
        f"/{feed_name}/simple/inst-pkg/",
        headers={**headers, **basic(token)},
        feed=feed_name,
        project="inst-pkg",
    )
    assert response.status_code == 200
    assert "inst_pkg-1.0-py3-none-any.whl" in text(response)


def test_format_parameter_shows_a_browser_the_simple_page(storage, feed_name):
    from tests.support.http import basic

    response = visit(
        simple.project_list,
        "GET",
        f"/{feed_name}/simple/",
        headers={**BROWSER, **basic(ADMIN_TOKEN)},
        params={"format": "text/html"},
        feed=feed_name,
    )
    assert response.status_code == 200


def test_the_url_hatch_prints_after_publishing_leads_to_the_package_page():
    response = visit(
        web.upload_page, "GET", "/team/upload/My_Pkg/1.0/", feed="team", project="My_Pkg", version="1.0"
    )
    assert response.status_code == 303
    assert response.headers["Location"] == "/-/feeds/team/packages/my-pkg/1.0/"
    assert visit(web.upload_page, "GET", "/", feed="team", project="+simple", version="x").status_code == 404


# The cold start --------------------------------------------------------------------------------------------


def test_the_app_starts_without_importing_the_uis_template_and_markup_libraries():
    """Jinja2 and readme-renderer (docutils, comrak, Pygments, nh3) load on a UI page's first request,
    never on a cold start that serves pip."""
    assert loaded_at_cold_start("jinja2", "readme_renderer", "docutils", "pygments", "nh3", "comrak") == []


# What a page costs ------------------------------------------------------------------------------------


def _storage_requests(caplog, handler, *args, **kwargs) -> int:
    """The storage requests one call of a handler made, from its access line."""
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="feedhouse.access"):
        response = handler(*args, **kwargs)
    assert response.status_code == 200, text(response)[:300]
    (line,) = [r.getMessage() for r in caplog.records if r.name == "feedhouse.access"]
    return int(re.search(r" storage=(\d+) ", line).group(1))


def test_pages_cost_no_more_storage_requests_than_the_api_calls_they_stand_for(storage, feed_name, caplog):
    """Signed in with a token, a page's session stands in for the API's token check. Each is counted
    on a warm instance (its second call), as the API's budgets are: what the first call reads into
    this instance's memory (the feed, grants, token) would otherwise count against whichever ran first."""
    from functions import feeds_api, packages_api, pypi_json
    from tests.support.publish import call

    for version in ("1.0", "1.1"):
        publish_wheel(feed_name, "budget-pkg", version)
    browser, secret = user_browser(storage, "budget-user")
    roles.grant(storage, key_of(feed_name), "budget-user", Role.OWNER)
    route = {"feed": feed_name, "project": "budget-pkg"}

    def api(handler, **params):
        _storage_requests(caplog, call, handler, "GET", "/", token=secret, **params)
        return _storage_requests(caplog, call, handler, "GET", "/", token=secret, **params)

    def page(handler, **params):
        _storage_requests(caplog, visit, handler, "GET", "/", browser=browser, **params)
        return _storage_requests(caplog, visit, handler, "GET", "/", browser=browser, **params)

    package_page = page(web.web_package, **route)
    assert package_page <= api(packages_api.package_item, **route) + api(pypi_json.project_json, **route)
    feed_page = page(web.web_feed, feed=feed_name)
    assert feed_page <= api(feeds_api.feed_item, feed=feed_name) + api(
        packages_api.packages_collection, feed=feed_name
    )
    assert page(web.web_home) <= api(feeds_api.feeds_collection)


# The upstream cooldown in the settings form (issue 15) ---------------------------------------------


def _settings_form(**fields: str) -> dict[str, str]:
    return {"description": "", "visibility": "private", "upstreams": "", "claimed_patterns": "", **fields}


def test_the_settings_form_sets_the_upstream_cooldown_and_its_exceptions(storage, feed_name):
    browser = admin_browser(storage)
    shown = text(visit(web.web_feed_settings, "GET", "/", browser=browser, feed=feed_name))
    assert 'name="upstream_cooldown_days"' in shown and 'value="0"' in shown
    form = _settings_form(upstream_cooldown_days="14", cooldown_exceptions="Requests\nurllib3==2.2.0")
    saved = visit(web.web_feed_settings, "POST", "/", browser=browser, form=form, feed=feed_name)
    assert saved.status_code == 303
    feed = feeds.get_feed(storage, feed_name).to_json()
    assert feed["upstream_cooldown_days"] == 14
    assert feed["cooldown_exceptions"] == ["requests", "urllib3==2.2"]
    shown = text(visit(web.web_feed_settings, "GET", "/", browser=browser, feed=feed_name))
    assert 'value="14"' in shown and "urllib3==2.2" in shown


@pytest.mark.parametrize(
    ("days", "message"), [("fourteen", "must be a whole number"), ("400", "from 0 (off) to 365")]
)
def test_a_bad_cooldown_in_the_form_is_refused_with_the_apis_message(storage, feed_name, days, message):
    browser = admin_browser(storage)
    form = _settings_form(upstream_cooldown_days=days, cooldown_exceptions="")
    refused = visit(web.web_feed_settings, "POST", "/", browser=browser, form=form, feed=feed_name)
    assert refused.status_code == 400
    assert message in text(refused)
    assert feeds.get_feed(storage, feed_name).to_json()["upstream_cooldown_days"] == 0


def test_the_package_page_shows_each_versions_views_and_promotes_for_contributors(storage, feed_name):
    for version in ("1.0", "2.0"):
        publish_wheel(feed_name, "viewed-pkg", version)
    name = "viewer-" + secrets.token_hex(3)
    contributor, _ = user_browser(storage, name)
    roles.grant(storage, key_of(feed_name), name, Role.CONTRIBUTOR)
    page = text(
        visit(
            web.web_version,
            "GET",
            "/",
            browser=contributor,
            feed=feed_name,
            project="viewed-pkg",
            version="1.0",
        )
    )
    assert 'action="/-/feeds/' in page and "promote" in page and '<option value="release">@release' in page
    promoted = visit(
        web.web_promote,
        "POST",
        "/",
        browser=contributor,
        form={"view": "release"},
        feed=feed_name,
        project="viewed-pkg",
        version="1.0",
    )
    assert promoted.status_code == 303, text(promoted)
    page = text(visit(web.web_package, "GET", "/", browser=contributor, feed=feed_name, project="viewed-pkg"))
    assert page.count('class="badge badge-view"') == 1 and "@release</span>" in page
    refused = visit(
        web.web_promote,
        "POST",
        "/",
        browser=contributor,
        form={"view": "nosuch"},
        feed=feed_name,
        project="viewed-pkg",
        version="2.0",
    )
    assert refused.status_code == 404 and "No view" in text(refused)
    reader_name = "reader-" + secrets.token_hex(3)
    reader, _ = user_browser(storage, reader_name)
    roles.grant(storage, key_of(feed_name), reader_name, Role.READER)
    as_reader = text(
        visit(
            web.web_version, "GET", "/", browser=reader, feed=feed_name, project="viewed-pkg", version="2.0"
        )
    )
    assert "Promote" not in as_reader
    settings_page = text(
        visit(web.web_feed_settings, "GET", "/", browser=admin_browser(storage), feed=feed_name)
    )
    assert "<code>@release</code>" in settings_page and "<code>@prerelease</code>" in settings_page
