"""shared/web/security.py: where a sign-in may lead, form secrets, cookies."""

import pytest

from shared.web import security


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        ("/-/feeds/team/", "/-/feeds/team/"),
        ("/-/tokens?user=alice", "/-/tokens?user=alice"),
        ("//evil.example/", "/"),  # another site, for a browser
        ("/\\evil.example/", "/"),
        ("https://evil.example/", "/"),
        ("javascript:alert(1)", "/"),
        ("/a\r\nSet-Cookie: x=1", "/"),
        ("/ünï", "/"),
        ("", "/"),
        (None, "/"),
    ],
)
def test_sign_in_leads_only_to_a_path_of_this_site(target, expected):
    assert security.local_path(target) == expected


@pytest.mark.parametrize(("sent", "expected"), [("abc", "abc"), ("ü", "ü")])
def test_the_same_secret_matches(sent, expected):
    assert security.same_secret(sent, expected)


@pytest.mark.parametrize(
    ("sent", "expected"), [("", ""), (None, "abc"), ("abc", None), ("abd", "abc"), ("ü", "u")]
)
def test_a_missing_or_other_secret_does_not_match(sent, expected):
    assert not security.same_secret(sent, expected)


def test_cookies_are_http_only_strict_and_secure_over_https():
    assert (
        security.cookie("c", "v", secure=False, max_age=60)
        == "c=v; Path=/; Max-Age=60; HttpOnly; SameSite=Strict"
    )
    assert security.cookie("c", "v", secure=True, max_age=0).endswith("; SameSite=Strict; Secure")
