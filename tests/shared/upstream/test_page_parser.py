import json
import time
from html.parser import HTMLParser

import pytest

from shared.upstream.page_parser import (
    ACCEPT,
    MalformedPage,
    ProjectPage,
    UpstreamFile,
    _tags,
    parse_html_page,
    parse_json_page,
    parse_project_page,
)

PAGE = "https://mirror.example/simple/demo/"
SHA = "ab" * 32
META_SHA = "cd" * 32


def json_page(files, **extra):
    return json.dumps({"meta": {"api-version": "1.1"}, "name": "demo", "files": files, **extra}).encode()


def entry(filename="demo-1.0-py3-none-any.whl", **fields):
    return {"filename": filename, "url": f"../../files/{filename}", "hashes": {"sha256": SHA}, **fields}


def test_accept_prefers_json_and_falls_back_to_html():
    assert ACCEPT.startswith("application/vnd.pypi.simple.v1+json,")
    assert "text/html;q=" in ACCEPT


def test_json_page_with_every_field():
    page = parse_json_page(
        json_page(
            [
                entry(
                    **{
                        "requires-python": ">=3.8",
                        "yanked": "broken build",
                        "core-metadata": {"sha256": META_SHA},
                        "size": 1234,
                        "upload-time": "2024-01-02T03:04:05.123456Z",
                        "provenance": None,
                        "_private": 1,
                    }
                ),
                entry("demo-1.1.tar.gz", yanked=True, **{"dist-info-metadata": True}),
                entry("demo-1.2.zip", yanked=False, hashes={}),
            ],
            versions=["1.0", "1.1", "1.2", "2.0"],
        ),
        PAGE,
        "Demo",
    )
    assert page.project == "demo"
    assert page.versions == ("1.0", "1.1", "1.2", "2.0")
    first, second, third = page.files
    assert first == UpstreamFile(
        filename="demo-1.0-py3-none-any.whl",
        url="https://mirror.example/files/demo-1.0-py3-none-any.whl",
        version="1.0",
        hashes={"sha256": SHA},
        requires_python=">=3.8",
        yanked="broken build",
        core_metadata={"sha256": META_SHA},
        size=1234,
        upload_time="2024-01-02T03:04:05.123456Z",
    )
    assert first.metadata_url == "https://mirror.example/files/demo-1.0-py3-none-any.whl.metadata"
    assert (second.yanked, second.core_metadata, second.size) == (True, True, None)
    assert (third.yanked, third.core_metadata, third.hashes) == (False, False, {})


def test_json_page_reads_the_historic_metadata_key_pypi_still_sends():
    page = parse_json_page(
        json_page([entry(**{"data-dist-info-metadata": {"sha256": META_SHA}})]), PAGE, "demo"
    )
    assert page.files[0].core_metadata == {"sha256": META_SHA}


def test_bad_entries_are_dropped_and_the_rest_kept():
    good = entry()
    page = parse_json_page(
        json_page(
            [
                good,
                "not an object",
                entry("evil-1.0-py3-none-any.whl"),  # another project's file
                entry("demo-1.0.exe"),  # not a distribution Feedhouse handles
                entry("../demo-1.0.tar.gz"),
                entry("demo-1.0%2F..tar.gz"),
                entry("demo-2.0.tar.gz", url="javascript:alert(1)"),
                entry("demo-2.0.tar.gz", url="file:///etc/passwd"),
                entry("demo-2.0.tar.gz", url="https://user:pw@mirror.example/demo-2.0.tar.gz"),
                entry("demo-2.1.tar.gz", hashes={"sha256": "zz" * 32}),
                entry("demo-2.2.tar.gz", hashes="sha256=ab"),
                {"url": "x"},
                entry("demo-1.0-py3-none-any.whl"),  # duplicate filename: the first wins
            ]
        ),
        PAGE,
        "demo",
    )
    assert [f.filename for f in page.files] == ["demo-1.0-py3-none-any.whl"]
    assert page.dropped == 12


def test_unknown_hash_names_are_ignored_and_odd_values_dropped_to_defaults():
    page = parse_json_page(
        json_page(
            [
                entry(
                    hashes={"sha256": SHA.upper(), "whirlpool": "00", "md5": "0" * 32},
                    size=True,
                    **{"requires-python": ">=3.8,<<4", "upload-time": "yesterday", "core-metadata": "yes"},
                )
            ]
        ),
        PAGE,
        "demo",
    )
    (f,) = page.files
    assert f.hashes == {"sha256": SHA, "md5": "0" * 32}
    assert (f.size, f.requires_python, f.upload_time, f.core_metadata) == (None, None, None, False)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"not json", "not valid JSON"),
        (b"[]", "not an object"),
        (b"[" * 100000 + b"]" * 100000, "not valid JSON"),
        (json.dumps({"files": []}).encode(), "'meta'"),
        (json.dumps({"meta": {"api-version": "2.0"}, "files": []}).encode(), "version 2.0"),
        (json.dumps({"meta": {"api-version": 1}, "files": []}).encode(), "api-version"),
        (json.dumps({"meta": {"api-version": "1.0"}, "files": {}}).encode(), "'files' list"),
        (
            json.dumps({"meta": {"api-version": "1.0"}, "name": "other", "files": []}).encode(),
            "another project",
        ),
        (b'{"meta": {"api-version": "1.0"}, "files": [], "size": ' + b"9" * 5000 + b"}", "not valid JSON"),
        (b"\xff\xfe\x00garbage", "not valid JSON"),
    ],
)
def test_malformed_json_pages_raise_a_named_error(body, message):
    with pytest.raises(MalformedPage, match=message) as caught:
        parse_json_page(body, PAGE, "demo")
    assert caught.value.status == 502


HTML = f"""<!DOCTYPE html>
<html><head><meta name="pypi:repository-version" content="1.1"><title>Links for demo</title></head>
<body>
<a href="/files/demo-1.0-py3-none-any.whl#sha256={SHA}" data-requires-python="&gt;=3.8"
   data-core-metadata="sha256={META_SHA}" data-dist-info-metadata="sha256={"00" * 32}"
   >demo-1.0-py3-none-any.whl</a><br/>
<a href="demo-1.1.tar.gz#md5={"0" * 32}&amp;egg=demo" data-yanked="">demo-1.1.tar.gz</a>
<a href="https://cdn.example/d/demo-1.2.zip#whirlpool=00" data-yanked="security issue"
   data-dist-info-metadata="true" data-size="42" data-upload-time="2024-01-02T03:04:05Z">demo-1.2.zip</a>
<a href="demo-1.3.tar.gz#sha256=short">bad hash: dropped</a>
<a>no href</a>
<a href="mailto:x@example.com">mail</a>
<a href="other-1.0.tar.gz">another project</a>
</body></html>
"""


def test_html_page_with_every_attribute():
    page = parse_html_page(HTML.encode(), PAGE, "demo")
    assert [f.filename for f in page.files] == [
        "demo-1.0-py3-none-any.whl",
        "demo-1.1.tar.gz",
        "demo-1.2.zip",
    ]
    first, second, third = page.files
    assert first.url == "https://mirror.example/files/demo-1.0-py3-none-any.whl"
    assert first.hashes == {"sha256": SHA}
    assert first.requires_python == ">=3.8"
    assert first.core_metadata == {"sha256": META_SHA}  # PEP 714: the new name wins
    assert first.yanked is False
    assert second.url == "https://mirror.example/simple/demo/demo-1.1.tar.gz"
    assert (second.hashes, second.yanked) == ({"md5": "0" * 32}, True)
    assert third.url == "https://cdn.example/d/demo-1.2.zip"
    assert (third.hashes, third.yanked, third.core_metadata) == ({}, "security issue", True)
    assert (third.size, third.upload_time) == (42, "2024-01-02T03:04:05Z")
    assert page.versions == ("1.0", "1.1", "1.2")
    assert page.dropped == 4


def test_html_base_href_and_quoted_names():
    body = (
        b'<html><head><base href="https://files.example/pkgs/"></head><body>'
        b'<a href="demo-1.0%2Blocal-py3-none-any.whl">x</a></body></html>'
    )
    page = parse_html_page(body, PAGE, "demo")
    assert page.files[0].url == "https://files.example/pkgs/demo-1.0%2Blocal-py3-none-any.whl"
    assert page.files[0].filename == "demo-1.0+local-py3-none-any.whl"
    assert page.versions == ("1.0+local",)


@pytest.mark.parametrize(
    ("body", "charset", "message"),
    [
        (b'<meta name="pypi:repository-version" content="2.0">', "utf-8", "version 2.0"),
        (b"\xff\xfe<a>", "utf-8", "cannot be decoded"),
        (b"<a>", "rot13", "cannot be decoded"),
    ],
)
def test_malformed_html_pages_raise_a_named_error(body, charset, message):
    with pytest.raises(MalformedPage, match=message):
        parse_html_page(body, PAGE, "demo", charset)


def test_hostile_html_does_not_crash():
    nasty = (
        b"<a href='"
        + b"x" * 100000
        + b"'>"
        + b"<a " * 5000
        + b"<![CDATA["
        + b"</" * 1000
        + b'<a href="demo-1.0.tar.gz"'
    )
    page = parse_html_page(nasty, PAGE, "demo")
    assert isinstance(page, ProjectPage)


def test_a_greater_than_sign_inside_a_quoted_attribute_does_not_end_the_tag():
    # As some indexes write it: '>' unescaped in data-requires-python, before or after href.
    body = (
        f'<a data-requires-python=">=3.8" href="demo-1.0.tar.gz#sha256={SHA}">demo-1.0.tar.gz</a>'
        f"<a href='demo-1.1.tar.gz#sha256={SHA}' data-requires-python='>=3.9,<4' data-yanked='a > b'>x</a>"
    ).encode()
    first, second = parse_html_page(body, PAGE, "demo").files
    assert (first.filename, first.requires_python, first.sha256) == ("demo-1.0.tar.gz", ">=3.8", SHA)
    assert (second.filename, second.requires_python) == ("demo-1.1.tar.gz", ">=3.9,<4")
    assert second.yanked == "a > b"


def test_links_in_comments_scripts_and_other_text_are_not_files():
    body = (
        b'<!-- <a href="demo-0.1.tar.gz"> --><!--><!---><!-- a -- b --->'
        b'<script>document.write("<a href=demo-0.2.tar.gz>")</script>'
        b'<title>Links for <a href="demo-0.3.tar.gz"></title>'
        b'<style>a[href="<a href=demo-0.4.tar.gz>"]{}</style>'
        b'<p title="<a href=demo-0.5.tar.gz>">'
        b'<A HREF="demo-1.0.tar.gz">upper case</A><abbr href="demo-0.6.tar.gz"></abbr>'
        b"<textarea><a href=demo-0.7.tar.gz></textarea><a href=demo-1.1.tar.gz/ >"
    )
    page = parse_html_page(body, PAGE, "demo")
    assert [f.filename for f in page.files] == ["demo-1.0.tar.gz"]
    assert page.dropped == 1  # 'demo-1.1.tar.gz/': the unquoted value runs to the space, as browsers read it


class _PipParser(HTMLParser):
    """How pip reads a simple page's anchors: html.parser, each <a>'s attributes as a dict."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.anchors: list[dict[str, str | None]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "a":
            self.anchors.append(dict(attrs))


# Pages on which html.parser follows the HTML standard: both must read the same anchors from them.
SAME_AS_PIP = [
    '<a href="x.whl" data-requires-python="&gt;=3.8">x</a>',
    '<a data-requires-python=">=3.8" href="x.whl">x</a>',
    "<a href='a>b' data-yanked='reason \"quoted\"'>x</a><a href=unquoted/x.whl>y</a>",
    '<a\thref="tab"\ndata-yanked\fdata-size = "42" >x</a>',
    '<a href="1"/><a href="2" / ><A HREF="3" Data-Yanked="">',
    "<!DOCTYPE html><html><!-- <a href=commented> --><body><a href=x>x</a><br/></body></html>",
    '<p title="<a href=no>"></p><a href="&quot;&amp;&#62;&#x3e;">x</a>',
    "<script>var a = '<a href=no>';</script><style>a::after{content:'<a>'}</style><a href=yes>",
]


@pytest.mark.parametrize("page", SAME_AS_PIP)
def test_anchors_are_read_as_pip_reads_them(page):
    pip = _PipParser()
    pip.feed(page)
    pip.close()
    assert [attributes for _name, attributes in _tags(page, frozenset({"a"}))] == pip.anchors


def test_content_type_chooses_the_parser():
    assert parse_project_page(json_page([entry()]), "application/vnd.pypi.simple.v1+json", PAGE, "demo").files
    assert parse_project_page(HTML.encode("latin-1"), "text/html; charset=ISO-8859-1", PAGE, "demo").files
    assert parse_project_page(HTML.encode(), "application/vnd.pypi.simple.v1+html", PAGE, "demo").files
    for content_type in (None, "application/json", "text/plain"):
        with pytest.raises(MalformedPage, match="Content-Type"):
            parse_project_page(b"{}", content_type, PAGE, "demo")


def test_stored_form_round_trips():
    page = parse_html_page(HTML.encode(), PAGE, "demo")
    assert ProjectPage.from_json(json.loads(json.dumps(page.to_json()))) == page


HOSTILE_HTML = {
    "unclosed anchors": b"<a " * 1_400_000,
    "lone angle brackets": b"<" * 4_000_000,
    "unclosed comments": b"<!--" * 1_000_000,
    "unterminated quotes": b"<a href='" * 450_000 + b">",
    "one huge tag": b'<a href="demo-1.0.tar.gz" ' + b'x="' * 1_300_000 + b">",
    "entity soup": b'<a href="' + b"&amp;" * 800_000 + b'">',
    "unclosed end tags": b"</a " * 1_000_000,
    "comment of dashes": b"<!--" + b"-" * 4_000_000,
    "tags of no interest": b"<p x=1 y='2'>" * 300_000,
    "unclosed text elements": b"<title>" + b"</titl" * 600_000,
}


@pytest.mark.parametrize("name", HOSTILE_HTML)
def test_hostile_html_is_parsed_in_linear_time(name):
    # html.parser takes seconds on 15 KB of unclosed '<a'; these are ~4 MB each.
    started = time.monotonic()
    page = parse_html_page(HOSTILE_HTML[name], PAGE, "demo")
    assert page.files == ()
    assert time.monotonic() - started < 3


def test_pages_listing_too_many_files_are_refused():
    with pytest.raises(MalformedPage, match="more than 100000 files"):
        parse_html_page(b"<a>" * 100_001, PAGE, "demo")
    with pytest.raises(MalformedPage, match="more than 100000 files"):
        parse_json_page(json_page([0] * 100_001), PAGE, "demo")
