"""ETags, conditional requests and Cache-Control values."""

import pytest

from shared.http_cache import (
    asks_to_revalidate,
    body_etag,
    file_cache_control,
    file_etag,
    http_date,
    if_range_allows,
    none_match,
    page_cache_control,
)


def test_body_etag_is_strong_stable_and_differs_per_encoding():
    etag = body_etag(b"<html/>")
    assert etag == body_etag(b"<html/>")
    assert etag.startswith('"') and etag.endswith('"')
    assert etag != body_etag(b"<html />")
    assert body_etag(b"<html/>", encoding="gzip") not in (etag, body_etag(b"<html />", encoding="gzip"))


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (None, False),
        ("", False),
        ('"abc"', True),
        ('W/"abc"', True),  # If-None-Match compares weakly
        ('"x", "abc"', True),
        ('"x","y"', False),
        ("*", True),
        ('"abc-gzip"', False),
    ],
)
def test_none_match(header, expected):
    assert none_match(header, '"abc"') is expected


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (None, True),
        ('"abc"', True),
        ('"other"', False),
        ('W/"abc"', False),  # If-Range needs a strong match
        ("Tue, 01 Jan 2030 00:00:00 GMT", True),
        ("Tue, 01 Jan 2030 00:00:01 GMT", False),
        ("not a date", False),
    ],
)
def test_if_range(header, expected):
    assert if_range_allows(header, '"abc"', "Tue, 01 Jan 2030 00:00:00 GMT") is expected


def test_cache_control():
    assert page_cache_control(public=True, max_age=600) == "max-age=600, public"
    assert page_cache_control(public=False, max_age=60) == "max-age=60, private"
    assert file_cache_control(public=True) == "max-age=365000000, immutable, public"
    assert file_cache_control(public=False).endswith("private")


def test_file_etag_and_http_date():
    assert file_etag("ab" * 32) == f'"{"ab" * 32}"'
    assert http_date("2030-01-01T00:00:00.123456Z") == "Tue, 01 Jan 2030 00:00:00 GMT"


@pytest.mark.parametrize(
    ("cache_control", "asks"),
    [
        (None, False),
        ("", False),
        ("max-age=0", True),
        ("Max-Age = 0", True),
        ('max-age="0"', True),
        ("no-cache", True),
        ("NO-CACHE", True),
        ("no-store, no-cache", True),
        ("max-age=600", False),
        ("max-age=00x", False),
        ("no-store", False),
        ("only-if-cached", False),
        ("no-cache-please", False),
        (",,,", False),
    ],
)
def test_a_request_asks_to_revalidate_with_no_cache_or_max_age_zero(cache_control, asks):
    assert asks_to_revalidate(cache_control) is asks


PIP_26_1 = 'pip/26.1.1 {"ci":null,"installer":{"name":"pip","version":"26.1.1"}}'


@pytest.mark.parametrize(
    ("cache_control", "user_agent", "asks"),
    [
        ("max-age=0", PIP_26_1, False),  # sent with every page, whatever the user asked
        ("max-age=0", "pip/23.2.1", False),
        ("max-age=0, no-cache", PIP_26_1, True),  # no-cache is never pip's default
        ("no-cache", "pip/18.1", True),
        ("max-age=0", 'pip/26.2 {"ci":null}', True),  # --refresh-package
        ("max-age=0", "pip/27.0", True),
        ("max-age=0", "pip/not-a-version", True),
        ("max-age=0", "uv/0.9.0", True),
        ("max-age=0", "pipx/1.0", True),
        ("max-age=0", None, True),
    ],
)
def test_an_old_pips_max_age_zero_on_every_page_is_no_request_to_revalidate(cache_control, user_agent, asks):
    assert asks_to_revalidate(cache_control, user_agent) is asks
