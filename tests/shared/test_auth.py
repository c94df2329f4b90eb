import base64

import pytest

from shared.auth import (
    is_admin_token,
    token_from_authorization,
)


def basic(value: str) -> str:
    return "Basic " + base64.b64encode(value.encode()).decode()


@pytest.mark.parametrize(
    ("header", "token"),
    [
        (None, None),
        ("", None),
        ("Bearer abc", "abc"),
        ("bearer   abc ", "abc"),
        (basic("__token__:abc"), "abc"),
        (basic("alice:a:b"), "a:b"),
        (basic("alice:"), None),
        (basic("nocolon"), None),
        ("Basic !!!", None),
        ("Digest abc", None),
    ],
)
def test_token_from_authorization(header, token):
    assert token_from_authorization(header) == token


def test_admin_token_comparison():
    assert is_admin_token("secret", "secret")
    assert not is_admin_token("secret", "Secret")
    assert not is_admin_token("secret", None)
    assert not is_admin_token(None, "secret")
    assert not is_admin_token("", "")
