"""Accept / ?format= / Accept-Encoding negotiation (PEP 691)."""

import pytest

from shared.negotiation import (
    SIMPLE_HTML,
    SIMPLE_JSON,
    TEXT_HTML,
    accepts_gzip,
    choose_simple_format,
    opened_in_browser,
    parse_accept,
)

PIP = "application/vnd.pypi.simple.v1+json, application/vnd.pypi.simple.v1+html; q=0.1, text/html; q=0.01"
UV = "application/vnd.pypi.simple.v1+json, application/vnd.pypi.simple.v1+html;q=0.2, text/html;q=0.01"
POETRY = "application/vnd.pypi.simple.v1+json, */*;q=0.1"
BROWSER = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"


@pytest.mark.parametrize(
    ("accept", "expected"),
    [
        (None, TEXT_HTML),
        ("", TEXT_HTML),
        ("*/*", TEXT_HTML),
        ("garbage", TEXT_HTML),  # an unreadable Accept is ignored, like a missing one
        (PIP, SIMPLE_JSON),
        (UV, SIMPLE_JSON),
        (POETRY, SIMPLE_JSON),
        (BROWSER, TEXT_HTML),
        ("text/html", TEXT_HTML),
        ("text/*", TEXT_HTML),
        ("application/vnd.pypi.simple.v1+html", SIMPLE_HTML),
        ("application/vnd.pypi.simple.latest+json", SIMPLE_JSON),
        ("application/vnd.pypi.simple.latest+html", SIMPLE_HTML),
        ("APPLICATION/VND.PYPI.SIMPLE.V1+JSON", SIMPLE_JSON),
        # q-values decide, whatever the order
        ("text/html;q=0.5, application/vnd.pypi.simple.v1+json;q=0.6", SIMPLE_JSON),
        ("application/vnd.pypi.simple.v1+json;q=0.5, text/html", TEXT_HTML),
        # equal q: the server's preference (HTML first, as PyPI)
        ("application/vnd.pypi.simple.v1+json, text/html", TEXT_HTML),
        # the most specific range decides: q=0 refuses even though */* would accept
        ("text/html;q=0, */*;q=0.5", SIMPLE_HTML),
        ("text/html;q=0, application/vnd.pypi.simple.v1+html;q=0, */*", SIMPLE_JSON),
        # malformed entries are skipped, not fatal
        ("garbage, application/vnd.pypi.simple.v1+json;q=abc, text/html;q=0.3", TEXT_HTML),
        # nothing we serve
        ("application/json", None),
        ("application/vnd.pypi.simple.v42+xml", None),
        ("text/plain", None),
        ("*/*;q=0", None),
        ("text/html;q=0", None),
    ],
)
def test_accept(accept, expected):
    assert choose_simple_format(accept, None) == expected


@pytest.mark.parametrize(
    ("accept", "format_param", "expected"),
    [
        ("text/html", "application/vnd.pypi.simple.v1+json", SIMPLE_JSON),
        (PIP, "text/html", TEXT_HTML),
        (PIP, "application/vnd.pypi.simple.latest+json", SIMPLE_JSON),
        (PIP, "application/vnd.pypi.simple.v42+xml", None),
        (PIP, "json", None),
        (PIP, "  ", SIMPLE_JSON),
    ],
)
def test_format_parameter_wins_over_accept(accept, format_param, expected):
    assert choose_simple_format(accept, format_param) == expected


def test_parse_accept_defaults_q_and_reads_it():
    ranges = parse_accept("text/html; q=0.25 , */*")
    assert [(r.type, r.subtype, r.q) for r in ranges] == [("text", "html", 0.25), ("*", "*", 1.0)]
    assert parse_accept("garbage") == []


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (None, False),
        ("", False),
        ("gzip", True),
        ("gzip, deflate", True),
        ("gzip, deflate, zstd", True),
        ("identity", False),
        ("deflate", False),
        ("*", True),
        ("x-gzip", True),
        ("gzip;q=0", False),
        ("gzip;q=0, *", False),
        ("*;q=0", False),
        ("br;q=1.0, gzip;q=0.8, *;q=0.1", True),
    ],
)
def test_accepts_gzip(header, expected):
    assert accepts_gzip(header) is expected


# opened_in_browser: a person's tab is sent to the UI; no installer ever is --------------------------


@pytest.mark.parametrize(
    ("mode", "dest", "format_param", "browser"),
    [
        ("navigate", "document", None, True),
        ("Navigate", " DOCUMENT ", None, True),
        ("navigate", "document", "json", False),  # ?format= asks for the page itself
        ("navigate", "iframe", None, False),
        ("cors", "empty", None, False),  # a script's fetch()
        (None, None, None, False),  # pip, uv, poetry, pdm, hatch, curl: no Sec-Fetch headers
        ("navigate", None, None, False),
    ],
)
def test_opened_in_browser(mode, dest, format_param, browser):
    assert opened_in_browser(mode, dest, format_param) is browser
