"""Files and their PEP 658 metadata at handler level: HEAD, ETags, ranges, and both download modes."""

import hashlib
import urllib.request

import pytest

from functions.files import download
from shared import feeds
from tests.support.publish import call, publish_sdist, publish_wheel

WHEEL_NAME = "ranged-1.0-py3-none-any.whl"


@pytest.fixture
def wheel(feed_name):
    filename, data = publish_wheel(feed_name, "ranged", "1.0", requires=("six",))
    assert filename == WHEEL_NAME
    return feed_name, data


def get(feed, filename=WHEEL_NAME, method="GET", **headers):
    return call(
        download,
        method,
        f"/{feed}/files/ranged/{filename}",
        headers=headers,
        feed=feed,
        project="ranged",
        filename=filename,
    )


def test_whole_file_with_validators(wheel):
    feed, data = wheel
    response = get(feed)
    assert response.status_code == 200
    assert response.get_body() == data
    assert response.headers["ETag"] == f'"{hashlib.sha256(data).hexdigest()}"'
    assert response.headers["Accept-Ranges"] == "bytes"
    assert response.headers["Content-Length"] == str(len(data))
    assert response.headers["Last-Modified"].endswith(" GMT")
    assert response.headers["Cache-Control"] == "max-age=365000000, immutable, private"
    assert "Content-Encoding" not in get(feed, **{"Accept-Encoding": "gzip"}).headers


def test_head_answers_what_uv_needs_for_range_reads(wheel):
    feed, data = wheel
    head = get(feed, method="HEAD", **{"Accept-Encoding": "identity"})
    assert head.status_code == 200
    assert head.get_body() == b""
    assert head.headers["Accept-Ranges"] == "bytes"
    assert head.headers["Content-Length"] == str(len(data))


def test_if_none_match_gives_304(wheel):
    feed, _data = wheel
    etag = get(feed).headers["ETag"]
    response = get(feed, **{"If-None-Match": etag})
    assert response.status_code == 304
    assert response.get_body() == b""
    assert response.headers["ETag"] == etag


@pytest.mark.parametrize(
    ("header", "start", "end"),
    [
        ("bytes=0-9", 0, 9),
        ("bytes=10-", 10, None),
        ("bytes=-22", -22, None),  # suffix: poetry's first request, the zip's end of central directory
        ("bytes=5-999999", 5, None),
        ("bytes=-999999", 0, None),
    ],
)
def test_ranges(wheel, header, start, end):
    feed, data = wheel
    response = get(feed, Range=header)
    assert response.status_code == 206
    expected = data[start : None if end is None else end + 1]
    assert response.get_body() == expected
    first = start if start >= 0 else len(data) + start
    assert response.headers["Content-Range"] == f"bytes {first}-{first + len(expected) - 1}/{len(data)}"
    assert response.headers["Content-Length"] == str(len(expected))


@pytest.mark.parametrize("header", ["bytes=999999-", "bytes=-0"])
def test_unsatisfiable_range_is_416(wheel, header):
    feed, data = wheel
    response = get(feed, Range=header)
    assert response.status_code == 416
    assert response.headers["Content-Range"] == f"bytes */{len(data)}"


@pytest.mark.parametrize("header", ["bytes=0-1,4-5", "items=0-1", "bytes=9-2"])
def test_ranges_we_do_not_serve_get_the_whole_file(wheel, header):
    feed, data = wheel
    response = get(feed, Range=header)
    assert response.status_code == 200
    assert response.get_body() == data


def test_if_range_resumes_only_the_same_file(wheel):
    feed, data = wheel
    first = get(feed)
    resumed = get(feed, Range="bytes=100-", **{"If-Range": first.headers["ETag"]})
    assert (resumed.status_code, resumed.get_body()) == (206, data[100:])
    by_date = get(feed, Range="bytes=100-", **{"If-Range": first.headers["Last-Modified"]})
    assert by_date.status_code == 206
    changed = get(feed, Range="bytes=100-", **{"If-Range": '"another-file"'})
    assert (changed.status_code, changed.get_body()) == (200, data)


def test_core_metadata_file(wheel):
    feed, _ = wheel
    response = get(feed, f"{WHEEL_NAME}.metadata")
    assert response.status_code == 200
    metadata = response.get_body()
    assert b"Requires-Dist: six" in metadata
    assert response.headers["ETag"] == f'"{hashlib.sha256(metadata).hexdigest()}"'
    assert response.headers["Content-Length"] == str(len(metadata))
    assert get(feed, f"{WHEEL_NAME}.metadata", method="HEAD").headers["Content-Length"] == str(len(metadata))
    assert get(feed, f"{WHEEL_NAME}.metadata", Range="bytes=0-8").get_body() == metadata[:9]


def test_metadata_of_missing_files_or_files_without_it_is_404(wheel):
    feed, _ = wheel
    sdist, _ = publish_sdist(feed, "ranged", "1.0")  # Metadata-Version 2.1: not served
    for filename in (f"{sdist}.metadata", "ranged-9.0-py3-none-any.whl.metadata", ".metadata", "x.metadata"):
        assert get(feed, filename).status_code == 404, filename


def test_public_feed_files_are_publicly_cacheable(wheel, storage):
    feed, _ = wheel
    feeds.update_feed(storage, feed, {"visibility": "public"})
    assert get(feed).headers["Cache-Control"] == "max-age=365000000, immutable, public"


def test_redirect_downloads_sends_a_stable_read_only_sas_url(wheel, redirect_downloads):
    feed, data = wheel
    response = get(feed)
    assert response.status_code == 302
    assert response.headers["Cache-Control"] == "no-store"
    location = response.headers["Location"]
    assert get(feed).headers["Location"] == location  # the same URL within a window: caches keep hitting
    assert "sp=r" in location and "sig=" in location
    with urllib.request.urlopen(location) as blob:
        assert blob.read() == data
        assert blob.headers["Cache-Control"] == "max-age=365000000, immutable, private"
    # A SAS for reading cannot write.
    put = urllib.request.Request(location, data=b"x", method="PUT", headers={"x-ms-blob-type": "BlockBlob"})
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(put)
    assert refused.value.code == 403
    # Metadata files are small: still streamed.
    assert get(feed, f"{WHEEL_NAME}.metadata").status_code == 200


def test_redirect_downloads_unknown_file_is_still_404(wheel, redirect_downloads):
    feed, _ = wheel
    assert get(feed, "ranged-9.0-py3-none-any.whl").status_code == 404


def test_stream_mode_redirects_what_it_would_hold_past_the_limit(wheel, stream_limit):
    # The Functions worker holds a response body whole: past FEEDHOUSE_STREAM_MAX_BYTES the blob serves it.
    feed, data = wheel
    stream_limit(len(data) - 1)
    for method in ("GET", "HEAD"):
        response = get(feed, method=method)
        assert response.status_code == 302, method
        assert response.headers["Cache-Control"] == "no-store"
        with urllib.request.urlopen(response.headers["Location"]) as blob:
            assert blob.read() == data
    assert get(feed, Range=f"bytes=0-{len(data) - 1}").status_code == 302  # a range asking for too much
    # Ranges within the limit are still served through, and so are answers with no body.
    ranged = get(feed, Range=f"bytes=-{len(data) - 1}")
    assert ranged.status_code == 206 and ranged.get_body() == data[1:]
    etag = get(feed, Range="bytes=0-9").headers["ETag"]
    assert get(feed, **{"If-None-Match": etag}).status_code == 304
    assert get(feed, Range=f"bytes={len(data)}-").status_code == 416
    stream_limit(len(data))
    whole = get(feed)
    assert whole.status_code == 200 and whole.get_body() == data


def test_metadata_files_past_the_limit_are_redirected_too(wheel, stream_limit):
    feed, _data = wheel
    metadata = get(feed, f"{WHEEL_NAME}.metadata").get_body()
    stream_limit(len(metadata) - 1)
    response = get(feed, f"{WHEEL_NAME}.metadata")
    assert response.status_code == 302
    with urllib.request.urlopen(response.headers["Location"]) as blob:
        assert blob.read() == metadata
