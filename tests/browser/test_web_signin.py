"""Signing in through the OpenID Connect issuer in a real browser (issue 15): headless Chromium, the
app on the local host, and a local provider whose authorization page approves at once. The provider is
named ``localhost`` and the app ``127.0.0.1``: two sites, as a real provider and a deployment are, so
the way back is a cross-site navigation that the SameSite cookies must survive."""

from __future__ import annotations

import secrets

import pytest
from playwright.sync_api import expect

from tests.support.oidc import LocalIssuer, app_settings

AUDIENCE = "api://feedhouse-browser"


@pytest.fixture
def provider(server, monkeypatch):
    with LocalIssuer(host="localhost") as issuer:
        issuer.user = {
            "oid": secrets.token_hex(4) + "-1111-2222-3333-" + secrets.token_hex(6),
            "sub": "pairwise",
            "name": "Grace Hopper",
        }
        with app_settings(
            monkeypatch,
            FEEDHOUSE_OIDC_ISSUER=issuer.url,
            FEEDHOUSE_OIDC_AUDIENCE=AUDIENCE,
            FEEDHOUSE_OIDC_CLIENT_ID=issuer.client_id,
        ):
            yield issuer


def test_a_person_signs_in_through_the_identity_provider(new_context, server, provider, screenshot):
    page = new_context().new_page()
    page.goto("/-/tokens")  # a page that needs signing in: the sign-in page, which brings them back
    screenshot(page, "10-sign-in-with-provider")
    page.get_by_role("button", name="Sign in with localhost").click()
    # The way back is a page that forwards to the target (a meta refresh, see functions/web.py): it
    # shows the person signed in already, so wait for the forward rather than for the name.
    expect(page).to_have_url(f"{server.url}/-/tokens")
    expect(page.locator(".who")).to_contain_text("Signed in as Grace Hopper")
    expect(page.get_by_role("heading", level=1)).to_have_text("Your tokens")
    screenshot(page, "11-signed-in-with-provider")
    # The session holds on other pages, and signing out ends it.
    page.goto("/")
    expect(page.locator(".who")).to_contain_text("Grace Hopper")
    page.get_by_role("button", name="Sign out").click()
    expect(page.locator(".who")).to_have_count(0)


def test_a_refusal_from_the_provider_is_shown_and_signs_no_one_in(new_context, provider):
    provider.authorize_error = "access_denied"
    page = new_context().new_page()
    page.goto("/-/signin")
    page.get_by_role("button", name="Sign in with localhost").click()
    expect(page.get_by_role("alert")).to_contain_text("access_denied")
    expect(page.locator(".who")).to_have_count(0)
