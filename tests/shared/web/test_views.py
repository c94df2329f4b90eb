"""shared/web/views.py: the settings form's upstream lines, search matching, links from metadata."""

import pytest

from shared.errors import BadRequest
from shared.web import views

UPSTREAMS = [
    {"type": "feed", "feed": "internal"},
    {
        "type": "index",
        "url": "https://mirror.example/simple/",
        "credential": "FEEDHOUSE_UPSTREAM_CREDENTIAL_M",
    },
    {"type": "index", "url": "https://other.example/simple/"},
    {"type": "pypi"},
]


def test_upstream_lines_read_back_as_the_same_upstreams():
    text = views.upstream_lines(UPSTREAMS)
    assert text.splitlines()[0] == "feed internal"
    assert views.parse_upstream_lines(text + "\n\n") == UPSTREAMS


@pytest.mark.parametrize("line", ["pypi extra", "feed", "feed a b", "index", "index a b c", "mirror x"])
def test_a_line_that_is_no_upstream_is_refused_with_its_number(line):
    with pytest.raises(BadRequest, match="line 2"):
        views.parse_upstream_lines("pypi\n" + line)


@pytest.mark.parametrize(
    ("query", "name", "matches"),
    [
        ("TOOLS", "alpha-tools", True),
        ("a_t", "alpha-tools", True),
        ("a..t", "alpha-tools", True),
        ("x", "alpha", False),
    ],
)
def test_search_compares_normalized_names(query, name, matches):
    assert views.project_matches(query, name) is matches


def test_patterns_split_on_lines_commas_and_spaces():
    assert views.pattern_lines("acme-*, corp-*\n internal ") == ["acme-*", "corp-*", "internal"]


@pytest.mark.parametrize(
    ("url", "link"),
    [
        ("https://example.org/x", "https://example.org/x"),
        (" http://example.org ", "http://example.org"),
        ("javascript:alert(1)", None),
        ("JaVaScRiPt:alert(1)", None),
        ("data:text/html,x", None),
        ("http://[::1", None),
    ],
)
def test_only_web_links_from_metadata_become_links(url, link):
    assert views._web_link(url) == link
