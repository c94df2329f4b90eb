"""Project pages of feeds with upstreams, at handler level: the merge, confusion protection, failures."""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Iterator

import pytest

from functions.packages_api import package_upstreaming
from functions.simple import project_detail, project_list
from shared.roles import Role
from shared.upstream.sources import STALE_HEADER, UNAVAILABLE_HEADER
from tests.support.dists import make_sdist, make_wheel
from tests.support.http import json_of
from tests.support.publish import call, json_page, publish_wheel
from tests.support.upstream_server import FakeIndex, Reply, SilentServer, html_reply
from tests.support.upstreams import ScriptedIndex, index, new_feed, sha256, user

pytestmark = pytest.mark.usefixtures("upstream_settings")
JSON_ACCEPT = {"Accept": "application/vnd.pypi.simple.v1+json"}


@pytest.fixture
def upstream() -> Iterator[ScriptedIndex]:
    with FakeIndex() as fake:
        yield ScriptedIndex(fake)


@pytest.fixture
def second() -> Iterator[ScriptedIndex]:
    with FakeIndex() as fake:
        yield ScriptedIndex(fake)


def page(feed: str, project: str, *, token: str | None = None, headers: dict[str, str] | None = None):
    kwargs = {"token": token} if token else {}
    return call(
        project_detail,
        "GET",
        f"/{feed}/simple/{project}/",
        feed=feed,
        project=project,
        headers=headers,
        **kwargs,
    )


def files_of(feed: str, project: str, **kwargs) -> dict[str, dict]:
    response = page(feed, project, headers=JSON_ACCEPT, **kwargs)
    assert response.status_code == 200, response.get_body()
    return {f["filename"]: f for f in json.loads(response.get_body())["files"]}


def upstreaming(feed: str, project: str, method: str = "GET", body=None, token: str | None = None):
    kwargs = {"token": token} if token else {}
    response = call(
        package_upstreaming,
        "PUT" if body is not None else method,
        f"/api/feeds/{feed}/packages/{project}/upstreaming",
        json_body=body,
        feed=feed,
        project=project,
        **kwargs,
    )
    return response.status_code, json_of(response)


def test_a_project_only_upstream_gets_a_page_with_the_feeds_own_urls_and_the_upstreams_facts(upstream):
    wheel, wheel_bytes = make_wheel("Up.Lib", "1.0")
    sdist, sdist_bytes = make_sdist("up-lib", "1.0")
    metadata = upstream.metadata(wheel, b"Metadata-Version: 2.1\nName: up-lib\nVersion: 1.0\n\n")
    upstream.project(
        "up-lib",
        [
            upstream.entry(
                wheel,
                wheel_bytes,
                **{
                    "requires-python": ">=3.9",
                    "core-metadata": metadata,
                    "size": len(wheel_bytes),
                    "upload-time": "2024-05-01T10:00:00.123456Z",
                },
            ),
            upstream.entry(sdist, sdist_bytes, yanked="broken build"),
        ],
    )
    feed = new_feed([index(upstream.url)])

    doc = json_page(feed, "up-lib")
    assert doc["name"] == "up-lib" and doc["versions"] == ["1.0"]
    by_name = {f["filename"]: f for f in doc["files"]}
    assert by_name[wheel] == {
        "filename": wheel,
        "url": f"../../files/up-lib/{wheel}",
        "hashes": {"sha256": sha256(wheel_bytes)},
        "requires-python": ">=3.9",
        "core-metadata": metadata,
        "dist-info-metadata": metadata,
        "yanked": False,
        "size": len(wheel_bytes),
        "upload-time": "2024-05-01T10:00:00.123456Z",
    }
    assert by_name[sdist]["yanked"] == "broken build"
    assert "size" not in by_name[sdist] and by_name[sdist]["core-metadata"] is False
    assert upstream.fake.url not in json.dumps(doc)

    html = page(feed, "up-lib").get_body().decode()
    assert f'href="../../files/up-lib/{wheel}#sha256={sha256(wheel_bytes)}"' in html
    assert 'data-requires-python="&gt;=3.9"' in html and 'data-yanked="broken build"' in html
    assert f'data-core-metadata="sha256={metadata["sha256"]}"' in html
    assert upstream.fake.url not in html


def test_merge_order_local_then_upstreams_in_order_and_a_file_name_appears_once(upstream, second):
    feed = new_feed([index(upstream.url), index(second.url)])
    local_name, local_bytes = publish_wheel(feed, "merged", "1.0")
    upstream_local_clash = upstream.entry(local_name, b"other bytes")
    one, one_bytes = make_wheel("merged", "2.0")
    two, two_bytes = make_wheel("merged", "3.0")
    upstream.project("merged", [upstream_local_clash, upstream.entry(one, one_bytes)])
    second.project("merged", [second.entry(one, b"second's different bytes"), second.entry(two, two_bytes)])
    # Local files are published here, so upstream versions are hidden until the owner allows them.
    assert list(files_of(feed, "merged")) == [local_name]
    assert upstreaming(feed, "merged", body={"allow_external_versions": True})[0] == 200

    files = files_of(feed, "merged")
    assert list(files) == [local_name, one, two]
    assert files[local_name]["hashes"]["sha256"] == sha256(local_bytes)
    assert files[one]["hashes"]["sha256"] == sha256(one_bytes)  # the first upstream's
    assert json_page(feed, "merged")["versions"] == ["1.0", "2.0", "3.0"]


def test_upstream_files_without_a_sha256_are_not_listed(upstream):
    wheel, data = make_wheel("nohash", "1.0")
    upstream.entry(wheel, data)
    upstream.answer("nohash", html_reply(f'<a href="{upstream.fake.url}/files/{wheel}">{wheel}</a>'))
    feed = new_feed([index(upstream.url)])
    assert files_of(feed, "nohash") == {}


def test_html_upstream_pages_are_read_too(upstream):
    wheel, data = make_wheel("htmlish", "1.0")
    upstream.project("htmlish", [upstream.entry(wheel, data)], html=True)
    feed = new_feed([index(upstream.url)])
    assert files_of(feed, "htmlish")[wheel]["hashes"] == {"sha256": sha256(data)}


def test_html_attributes_are_read_as_browsers_read_them(upstream):
    # Some indexes leave '>' unescaped in data-requires-python; the tag does not end there.
    wheel, data = make_wheel("gtattr", "1.0")
    upstream.fake.routes[upstream.file_path(wheel)] = Reply(body=data)
    upstream.answer(
        "gtattr",
        html_reply(
            f'<html><body><a data-requires-python=">=3.8" '
            f'href="{upstream.fake.url}{upstream.file_path(wheel)}#sha256={sha256(data)}">{wheel}</a>'
        ),
    )
    feed = new_feed([index(upstream.url)])
    assert files_of(feed, "gtattr")[wheel]["requires-python"] == ">=3.8"
    assert b'data-requires-python="&gt;=3.8"' in page(feed, "gtattr").get_body()


def test_unknown_projects_are_404_and_the_upstream_was_asked(upstream):
    feed = new_feed([index(upstream.url)])
    response = page(feed, "nowhere")
    assert response.status_code == 404
    assert upstream.page_requests("nowhere") == 1


def test_the_pypi_switch_uses_the_pypi_url_setting(upstream, upstream_settings):
    upstream_settings.setenv("FEEDHOUSE_PYPI_URL", upstream.url)
    wheel, data = make_wheel("from-pypi", "1.0")
    upstream.project("from-pypi", [upstream.entry(wheel, data)])
    feed = new_feed([{"type": "pypi"}])
    assert list(files_of(feed, "from-pypi")) == [wheel]


def test_published_name_hides_upstream_versions_until_the_owner_allows_them(upstream):
    evil, evil_bytes = make_wheel("requests", "99.0")
    upstream.project("requests", [upstream.entry(evil, evil_bytes)])
    feed = new_feed([index(upstream.url)])
    assert list(files_of(feed, "requests")) == [evil]  # not published here: PyPI's requests shows

    ours, _ = publish_wheel(feed, "requests", "0.0.1")
    before = upstream.page_requests("requests")
    assert list(files_of(feed, "requests")) == [ours]
    assert upstream.page_requests("requests") == before  # not even asked
    status, body = upstreaming(feed, "requests")
    assert status == 200
    assert body["published"] is True and body["upstream_versions_visible"] is False
    assert "dependency-confusion" in body["reason"]

    owner = user(feed, Role.OWNER)
    contributor = user(feed, Role.CONTRIBUTOR)
    assert upstreaming(feed, "requests", body={"allow_external_versions": True}, token=contributor)[0] == 403
    status, body = upstreaming(feed, "Requests", body={"allow_external_versions": True}, token=owner)
    assert status == 200, body
    assert body == {
        "project": "requests",
        "allow_external_versions": True,
        "published": True,
        "claimed": False,
        "upstream_versions_visible": True,
        "reason": None,
        "cooldown": {"days": 0, "exceptions": [], "held_back": [], "files_without_upload_time": 0},
    }
    assert list(files_of(feed, "requests")) == [ours, evil]

    assert upstreaming(feed, "requests", body={"allow_external_versions": False}, token=owner)[0] == 200
    assert list(files_of(feed, "requests")) == [ours]


def test_the_switch_can_be_set_before_the_project_exists_and_does_not_make_it_exist(upstream):
    feed = new_feed([index(upstream.url)], claimed_patterns=["acme-*"])
    status, body = upstreaming(feed, "acme-vendored", body={"allow_external_versions": True})
    assert status == 200 and body["claimed"] is True and body["upstream_versions_visible"] is True
    wheel, data = make_wheel("acme-vendored", "1.0")
    upstream.project("acme-vendored", [upstream.entry(wheel, data)])
    assert list(files_of(feed, "acme-vendored")) == [wheel]
    listed = call(project_list, "GET", f"/{feed}/simple/", feed=feed, headers=JSON_ACCEPT)
    assert json.loads(listed.get_body())["projects"] == []
    for method, body in (("PUT", {"allow": True}), ("PUT", {"allow_external_versions": "yes"})):
        response = call(package_upstreaming, method, "/", json_body=body, feed=feed, project="acme-vendored")
        assert response.status_code == 400


def test_a_claimed_pattern_hides_upstream_names_never_published(upstream):
    wheel, data = make_wheel("contoso-internal", "1.0")
    upstream.project("contoso-internal", [upstream.entry(wheel, data)])
    feed = new_feed([index(upstream.url)], claimed_patterns=["Contoso-*"])
    response = page(feed, "contoso-internal")
    assert response.status_code == 404
    assert "claims" in response.get_body().decode()
    assert upstream.page_requests("contoso-internal") == 0
    _status, body = upstreaming(feed, "contoso_internal")
    assert body["claimed"] is True and body["upstream_versions_visible"] is False


def test_a_failing_upstream_leaves_the_local_part_and_says_so(upstream, second):
    feed = new_feed([index(upstream.url), index(second.url)])
    wheel, data = make_wheel("halfway", "2.0")
    second.project("halfway", [second.entry(wheel, data)])
    upstream.answer("halfway", Reply(status=503, body=b"down"))
    response = page(feed, "halfway", headers=JSON_ACCEPT)
    assert response.status_code == 200
    assert [f["filename"] for f in json.loads(response.get_body())["files"]] == [wheel]
    assert response.headers[UNAVAILABLE_HEADER] == f"index {upstream.fake.url}"
    assert STALE_HEADER not in response.headers


@pytest.mark.parametrize(
    "reply",
    [
        Reply(status=500, body=b"oops"),
        Reply(status=502),
        Reply(body=b"{not json", headers={"Content-Type": "application/vnd.pypi.simple.v1+json"}),
        Reply(
            body=b'{"meta": {"api-version": "2.0"}, "files": []}',
            headers={"Content-Type": "application/vnd.pypi.simple.v1+json"},
        ),
        Reply(body=b"[1, 2, 3]", headers={"Content-Type": "application/vnd.pypi.simple.v1+json"}),
        Reply(
            body=b'{"meta": {"api-version": "1.1"}, "files": ' + b"[" * 100_000 + b"]" * 100_000 + b"}",
            headers={"Content-Type": "application/vnd.pypi.simple.v1+json"},
        ),
        Reply(body=b"<html>" + b"<a " * 5000, headers={"Content-Type": "text/html"}),
        Reply(body=b"\xff\xfe\x00garbage", headers={"Content-Type": "text/html; charset=utf-8"}),
        Reply(body=b"plain", headers={"Content-Type": "text/plain"}),
        Reply(status=401),
    ],
    ids=[
        "500",
        "502",
        "broken-json",
        "api-v2",
        "json-list",
        "deeply-nested-json",
        "unclosed-html",
        "undecodable",
        "text",
        "401",
    ],
)
def test_broken_upstreams_never_break_the_local_part(upstream, reply):
    feed = new_feed([index(upstream.url)])
    project = "locallib"
    ours, _ = publish_wheel(feed, project, "1.0")
    upstreaming(feed, project, body={"allow_external_versions": True})
    upstream.answer(project, reply)
    response = page(feed, project, headers=JSON_ACCEPT)
    assert response.status_code == 200, response.get_body()
    assert [f["filename"] for f in json.loads(response.get_body())["files"]] == [ours]
    if reply.status == 200 and b"<a " in reply.body:
        # A page of nothing but broken anchors is a page with no usable files, not a failure.
        assert UNAVAILABLE_HEADER not in response.headers
    else:
        assert response.headers[UNAVAILABLE_HEADER] == f"index {upstream.fake.url}"


def test_an_upstream_that_never_answers_times_out_and_the_page_is_still_served(upstream_settings):
    from shared import settings

    upstream_settings.setenv("FEEDHOUSE_UPSTREAM_READ_TIMEOUT", "1")
    upstream_settings.setenv("FEEDHOUSE_UPSTREAM_PAGE_TIMEOUT", "2")
    settings.load.cache_clear()
    with SilentServer() as silent:
        feed = new_feed([index(f"{silent.url}/simple/")])
        ours, _ = publish_wheel(feed, "patient", "1.0")
        upstreaming(feed, "patient", body={"allow_external_versions": True})
        response = page(feed, "patient", headers=JSON_ACCEPT)
    assert response.status_code == 200
    assert [f["filename"] for f in json.loads(response.get_body())["files"]] == [ours]
    assert UNAVAILABLE_HEADER in response.headers


def test_nothing_local_and_a_failing_upstream_is_a_502_naming_the_upstream_without_its_path(upstream):
    feed = new_feed([index(upstream.fake.url + "/secret-token-123/simple/")])
    upstream.fake.routes["/secret-token-123/simple/ghost/"] = Reply(status=500)
    response = page(feed, "ghost")
    assert response.status_code == 502
    text = response.get_body().decode()
    assert upstream.fake.url in text and "secret-token-123" not in text
    assert "500" in text


def test_a_stale_copy_is_served_with_a_header_when_the_upstream_fails(upstream, upstream_settings):
    upstream_settings.setenv("FEEDHOUSE_UPSTREAM_CACHE_SECONDS", "0")  # every request refreshes
    wheel, data = make_wheel("cached", "1.0")
    upstream.project("cached", [upstream.entry(wheel, data)])
    feed = new_feed([index(upstream.url)])
    first = page(feed, "cached", headers=JSON_ACCEPT)
    assert STALE_HEADER not in first.headers

    upstream.answer("cached", Reply(status=503))
    response = page(feed, "cached", headers=JSON_ACCEPT)
    assert response.status_code == 200
    assert response.headers[STALE_HEADER] == f"index {upstream.fake.url}"
    assert response.get_body() == first.get_body()
    assert response.headers["ETag"] == first.headers["ETag"]


def test_pages_are_cached_so_a_burst_costs_one_upstream_request(upstream):
    wheel, data = make_wheel("popular", "1.0")
    upstream.project("popular", [upstream.entry(wheel, data)])
    feed = new_feed([index(upstream.url)])
    for _ in range(5):
        assert page(feed, "popular").status_code == 200
    assert upstream.page_requests("popular") == 1


def test_the_etag_covers_the_merged_body(upstream, upstream_settings):
    upstream_settings.setenv("FEEDHOUSE_UPSTREAM_CACHE_SECONDS", "0")
    one, one_bytes = make_wheel("growing", "1.0")
    two, two_bytes = make_wheel("growing", "2.0")
    upstream.project("growing", [upstream.entry(one, one_bytes)])
    feed = new_feed([index(upstream.url)])
    first = page(feed, "growing")
    assert page(feed, "growing", headers={"If-None-Match": first.headers["ETag"]}).status_code == 304
    upstream.project("growing", [upstream.entry(one, one_bytes), upstream.entry(two, two_bytes)])
    changed = page(feed, "growing", headers={"If-None-Match": first.headers["ETag"]})
    assert changed.status_code == 200 and changed.headers["ETag"] != first.headers["ETag"]


# Many upstreams that hang (issue 10, item 8): asked at once, within one deadline, and not asked
# again while they are remembered as not answering. These are hang tests, not performance tests:
# the bounds are generous, and far below what asking one upstream after another costs.


def _silent_feed(stack: contextlib.ExitStack, count: int, *projects: str) -> tuple[str, list, dict[str, str]]:
    """A feed whose ``count`` upstreams accept connections and never answer, with ``projects``
    published and their external versions allowed (so the upstreams are asked): (feed, servers,
    the published file of each project)."""
    servers = [stack.enter_context(SilentServer()) for _ in range(count)]
    feed = new_feed([index(f"{s.url}/simple/") for s in servers])
    ours = {}
    for project in projects:
        ours[project], _ = publish_wheel(feed, project, "1.0")
        upstreaming(feed, project, body={"allow_external_versions": True})
    return feed, servers, ours


def _timed_page(feed: str, project: str):
    started = time.monotonic()
    response = page(feed, project, headers=JSON_ACCEPT)
    return response, time.monotonic() - started


def test_twenty_upstreams_that_never_answer_cost_one_wait_and_the_next_request_none(upstream_settings):
    from shared import settings

    upstream_settings.setenv("FEEDHOUSE_UPSTREAM_READ_TIMEOUT", "1")
    upstream_settings.setenv("FEEDHOUSE_UPSTREAM_PAGE_TIMEOUT", "2")
    settings.load.cache_clear()
    with contextlib.ExitStack() as stack:
        feed, servers, ours = _silent_feed(stack, 20, "patient", "another")
        first, seconds = _timed_page(feed, "patient")
        assert first.status_code == 200
        assert [f["filename"] for f in json.loads(first.get_body())["files"]] == [ours["patient"]]
        assert len(first.headers[UNAVAILABLE_HEADER].split(", ")) == 20
        assert seconds < 10, f"{seconds:.1f} s: one upstream after another takes 20 s"
        connections = sum(len(s._accepted) for s in servers)

        # Another project of the same upstreams: they are not asked again for now.
        second, seconds = _timed_page(feed, "another")
        assert second.status_code == 200
        assert [f["filename"] for f in json.loads(second.get_body())["files"]] == [ours["another"]]
        assert len(second.headers[UNAVAILABLE_HEADER].split(", ")) == 20
        missing = page(feed, "nowhere")  # nothing local: the 502 says why the upstream was not asked
        assert missing.status_code == 502
        assert b"did not answer in time lately" in missing.get_body()
        assert seconds < 5, f"{seconds:.1f} s: the second request waited for the upstreams again"
        assert sum(len(s._accepted) for s in servers) == connections


def test_one_deadline_bounds_a_page_whatever_the_upstreams_timeouts(upstream_settings):
    from shared import settings

    upstream_settings.setenv("FEEDHOUSE_UPSTREAM_READ_TIMEOUT", "10")
    upstream_settings.setenv("FEEDHOUSE_UPSTREAM_PAGE_TIMEOUT", "20")
    upstream_settings.setenv("FEEDHOUSE_UPSTREAM_DEADLINE_SECONDS", "2")
    settings.load.cache_clear()
    with contextlib.ExitStack() as stack:
        feed, servers, ours = _silent_feed(stack, 3, "hurried")
        response, seconds = _timed_page(feed, "hurried")
        assert response.status_code == 200
        assert [f["filename"] for f in json.loads(response.get_body())["files"]] == [ours["hurried"]]
        assert len(response.headers[UNAVAILABLE_HEADER].split(", ")) == 3
        assert seconds < 8, f"{seconds:.1f} s: the 2 s deadline did not hold (one after another: 30 s)"
        connections = sum(len(s._accepted) for s in servers)
        again, seconds = _timed_page(feed, "hurried")  # left out at once until they are asked again
        assert again.status_code == 200 and len(again.headers[UNAVAILABLE_HEADER].split(", ")) == 3
        assert seconds < 5 and sum(len(s._accepted) for s in servers) == connections
