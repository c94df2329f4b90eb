"""Time travel and cooldown end to end (issue 15): real pip and uv against the local Functions host and
Azurite. An as-of index URL resolves the version that was newest then, after a newer one is
published; a feed's upstream cooldown keeps a too-new upstream version from uv; bad moments are 400s."""

from __future__ import annotations

import time
import urllib.error
import urllib.request
from datetime import UTC, datetime, timedelta
from urllib.parse import unquote

import pytest

from shared.packages import format_time
from tests.conftest import ADMIN_TOKEN
from tests.e2e.api import call, create_feed, index_url, installed, unique
from tests.support.dists import make_wheel
from tests.support.publish import publish_wheel
from tests.support.upstream_server import FakeIndex
from tests.support.upstreams import ScriptedIndex

pytestmark = pytest.mark.e2e


def dist_info(name: str, version: str) -> str:
    return f"{name.replace('-', '_')}-{version}.dist-info"


def as_of_url(server, feed: str, moment: str) -> str:
    return index_url(server, feed).replace(f"/{feed}/simple/", f"/{feed}/as-of/{moment}/simple/")


def get(url: str) -> tuple[int, str]:
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})
    try:
        with urllib.request.urlopen(request) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


@pytest.mark.parametrize("installer", ["pip", "uv"])
def test_an_as_of_index_url_resolves_what_was_newest_then(server, clients, tmp_path, installer):
    feed = create_feed(server)
    name = unique("fh-pinned")
    publish_wheel(feed, name, "1.0")
    time.sleep(0.01)
    moment = format_time(datetime.now(UTC))
    time.sleep(0.01)
    publish_wheel(feed, name, "2.0")
    install = clients.pip_install if installer == "pip" else clients.uv_install

    server.clear_requests()
    install(as_of_url(server, feed, moment), tmp_path / "then", name)
    assert installed(tmp_path / "then") == {dist_info(name, "1.0")}
    # The page's relative links led under the as-of path, which served the feed's file (pip quotes
    # the moment's colons there).
    wheel = f"{name.replace('-', '_')}-1.0-py3-none-any.whl"
    assert any(
        unquote(path) == f"/{feed}/as-of/{moment}/files/{name}/{wheel}" and status == 200
        for _method, path, status in server.requests
    )
    install(index_url(server, feed), tmp_path / "now", name)
    assert installed(tmp_path / "now") == {dist_info(name, "2.0")}


def test_uv_skips_an_upstream_version_the_cooldown_holds_back(server, upstream_settings, clients, tmp_path):
    name = unique("fh-fresh")
    now = datetime.now(UTC)
    with FakeIndex() as fake:
        upstream = ScriptedIndex(fake)
        entries = []
        for version, age in (("1.0", timedelta(days=30)), ("2.0", timedelta(days=1))):
            filename, data = make_wheel(name, version)
            entries.append(upstream.entry(filename, data, **{"upload-time": format_time(now - age)}))
        upstream.project(name, entries)
        feed = create_feed(
            server, upstreams=[{"type": "index", "url": upstream.url}], upstream_cooldown_days=7
        )

        clients.uv_install(index_url(server, feed), tmp_path / "cooled", name)
        assert installed(tmp_path / "cooled") == {dist_info(name, "1.0")}
        status, body = call(server, "GET", f"/api/feeds/{feed}/packages/{name}/upstreaming")
        assert status == 200 and [h["version"] for h in body["cooldown"]["held_back"]] == ["2"]

        # An urgent fix: the exception lets 2.0 through at once.
        status, _ = call(server, "PATCH", f"/api/feeds/{feed}", {"cooldown_exceptions": [f"{name}==2.0"]})
        assert status == 200
        clients.uv_install(index_url(server, feed), tmp_path / "excepted", name)
        assert installed(tmp_path / "excepted") == {dist_info(name, "2.0")}


def test_bad_moments_are_400s_with_a_message(server, clients, tmp_path):
    feed = create_feed(server)
    name = unique("fh-bad")
    publish_wheel(feed, name, "1.0")
    base = server.url
    for moment, message in [
        ("not-a-time", "not a date and time"),
        ("1970-01-01", "before 2000-01-01"),
        (format_time(datetime.now(UTC) + timedelta(days=2)), "in the future"),
    ]:
        status, body = get(f"{base}/{feed}/as-of/{moment}/simple/{name}/")
        assert status == 400 and message in body
        status, body = get(f"{base}/{feed}/simple/{name}/?as-of={moment}")
        assert status == 400 and message in body
    # pip fails on it loudly rather than installing anything.
    result = clients.pip_install(as_of_url(server, feed, "yesterday"), tmp_path / "t", name, check=False)
    assert result.returncode != 0
