"""Numbers and versions from untrusted text: numbers of more than 4,300 digits (which int() refuses with a
plain ValueError) and digits int() does not read are "not a number" or "not a version" everywhere, never
an exception the caller does not expect."""

import json

import pytest
import urllib3
from packaging.version import InvalidVersion, Version

from shared import untrusted
from shared.distributions import InvalidDistributionFilename, parse_distribution_filename
from shared.packages import version_key
from shared.ranges import parse_range
from shared.upstream.client import Download
from shared.upstream.page_parser import MalformedPage, parse_html_page, parse_json_page

HUGE = "1" * 5000


@pytest.mark.parametrize("text", [HUGE, f"1.{HUGE}", f"1.0rc{HUGE}", f"{HUGE}!1", f"1.0+local.{HUGE}", "x"])
def test_a_version_too_long_for_int_is_an_invalid_version(text):
    with pytest.raises(InvalidVersion):
        untrusted.version(text)


def test_versions_parse_as_packaging_parses_them():
    assert untrusted.version("1.0.post1") == Version("1.0.post1")
    assert version_key(HUGE) == HUGE  # not a version: its own key, as any other invalid version


@pytest.mark.parametrize(
    ("text", "number"),
    [("0", 0), ("0042", 42), ("9" * 18, int("9" * 18)), ("9" * 19, None), (HUGE, None), ("", None)]
    + [(text, None) for text in (None, "²", "\u0661\u0660", "+1", "-1", " 1", "1.0", "1_000")],
)
def test_whole_numbers_are_ascii_digits_of_bounded_length(text, number):
    assert untrusted.whole_number(text) == number


@pytest.mark.parametrize(
    "filename",
    [
        f"demo-{HUGE}.tar.gz",
        f"demo-1.{HUGE}-py3-none-any.whl",
        f"demo-1.0-{HUGE}-py3-none-any.whl",  # the build tag is a number too
    ],
)
def test_distribution_filename_with_a_huge_number_is_invalid(filename):
    with pytest.raises(InvalidDistributionFilename, match="Invalid distribution filename"):
        parse_distribution_filename(filename)


@pytest.mark.parametrize("header", [f"bytes={HUGE}-", f"bytes=-{HUGE}", f"bytes=0-{HUGE}", "bytes=٣-٩"])
def test_a_range_with_a_huge_or_non_ascii_position_is_ignored(header):
    assert parse_range(header, 100) is None


@pytest.mark.parametrize("api_version", [f"{HUGE}.0", "².0"])
def test_upstream_json_page_with_an_unreadable_api_version_is_malformed(api_version):
    body = json.dumps({"meta": {"api-version": api_version}, "name": "demo", "files": []}).encode()
    with pytest.raises(MalformedPage, match="no valid api-version"):
        parse_json_page(body, "https://mirror.example/simple/demo/", "demo")


def test_upstream_html_page_with_an_unreadable_size_keeps_the_file_without_it():
    body = b'<a href="demo-1.0.tar.gz#sha256=' + b"ab" * 32 + b'" data-size="\xc2\xb2">demo-1.0.tar.gz</a>'
    page = parse_html_page(body, "https://mirror.example/simple/demo/", "demo")
    assert [(f.filename, f.size) for f in page.files] == [("demo-1.0.tar.gz", None)]


@pytest.mark.parametrize("length", ["²", HUGE])
def test_upstream_download_with_an_unreadable_content_length_has_no_length(length):
    response = urllib3.HTTPResponse(body=b"data", headers={"Content-Length": length}, preload_content=False)
    assert Download(response, "https://mirror.example/f", max_bytes=10, deadline=None).length is None
