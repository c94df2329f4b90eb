"""Upstream sources end to end: pip and uv install through one feed URL, with pypiserver (a real,
independent index on 127.0.0.1) as the feed's upstream, the local Functions host and Azurite.

No test reaches beyond 127.0.0.1: FEEDHOUSE_PYPI_URL points the "public PyPI" switch at pypiserver.
"""

from __future__ import annotations

import urllib.error
import urllib.request

import pytest

from shared import storage as storage_module
from shared.keys import FILES_TABLE, files_partition
from shared.upstream.sources import STALE_HEADER, UNAVAILABLE_HEADER
from tests.conftest import ADMIN_TOKEN
from tests.e2e.api import call, create_feed, downloads, index_url, installed, unique
from tests.support.dists import make_wheel
from tests.support.publish import publish_wheel
from tests.support.pypiserver import PypiServer
from tests.support.stored import key_of
from tests.support.upstream_server import FakeIndex, Reply
from tests.support.upstreams import ScriptedIndex, sha256

pytestmark = pytest.mark.e2e


def module(name: str) -> str:
    return name.replace("-", "_")


def dist_info(name: str, version: str) -> str:
    return f"{module(name)}-{version}.dist-info"


def wheel_name(name: str, version: str) -> str:
    return f"{module(name)}-{version}-py3-none-any.whl"


def saved_rows(feed: str, project: str) -> dict[str, dict]:
    records = storage_module.get_storage().partition(FILES_TABLE, files_partition(key_of(feed), project))
    return {r["RowKey"]: r for r in records if r.get("Origin") == "upstream"}


def get_page(server, feed: str, project: str) -> tuple[int, dict[str, str], str]:
    request = urllib.request.Request(
        f"{server.url}/{feed}/simple/{project}/", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}
    )
    try:
        with urllib.request.urlopen(request) as response:
            return response.status, dict(response.headers), response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read().decode()


@pytest.fixture
def pypi(upstream_settings, pypiserver) -> PypiServer:
    """The session's pypiserver standing in for public PyPI behind the feeds' "pypi" switch."""
    upstream_settings.setenv("FEEDHOUSE_PYPI_URL", pypiserver.index_url)
    return pypiserver


def mixed_project(feed: str, upstream: PypiServer) -> dict[str, str]:
    """An app published to the feed that needs a library in the feed and one upstream, which needs
    another upstream library: names by role."""
    names = {role: unique(f"fh-{role}") for role in ("app", "lib", "up", "updep")}
    for role, requires in (("updep", ()), ("up", (f"{names['updep']}>=1",))):
        upstream.add(*make_wheel(names[role], "1.0", requires=requires))
    publish_wheel(feed, names["lib"], "1.0")
    publish_wheel(feed, names["app"], "1.0", requires=(f"{names['lib']}>=1", f"{names['up']}>=1"))
    return names


def expected(names: dict[str, str]) -> set[str]:
    return {dist_info(n, "1.0") for n in names.values()}


@pytest.mark.parametrize("installer", ["pip", "uv"])
def test_install_through_one_feed_url_with_dependencies_in_the_feed_and_upstream(
    server, pypi, clients, tmp_path, installer
):
    feed = create_feed(server, upstreams=[{"type": "pypi"}])
    names = mixed_project(feed, pypi)
    server.clear_requests()
    install = clients.pip_install if installer == "pip" else clients.uv_install
    install(index_url(server, feed), tmp_path / "target", names["app"])
    assert installed(tmp_path / "target") == expected(names)

    # Every file came from the feed's own URLs; the upstream ones were saved into it on the way.
    assert downloads(server, feed) == {wheel_name(n, "1.0") for n in names.values()}
    for role in ("up", "updep"):
        (row,) = saved_rows(feed, names[role]).values()
        assert row["RowKey"] == wheel_name(names[role], "1.0")
        assert row["Uploader"] == "upstream:PyPI" and row["SavedBy"] == "admin"
    assert saved_rows(feed, names["lib"]) == {} and saved_rows(feed, names["app"]) == {}
    status, body = call(server, "GET", f"/api/feeds/{feed}/packages/{names['up']}")
    assert status == 200
    assert body["versions"][0]["files"][0]["origin"] == "upstream"


def test_after_the_upstream_stops_the_saved_copies_still_install(
    server, upstream_settings, clients, tmp_path, tmp_path_factory
):
    upstream_settings.setenv("FEEDHOUSE_UPSTREAM_CACHE_SECONDS", "0")  # every page asks the upstream
    upstream = PypiServer(tmp_path_factory.mktemp("doomed-pypiserver")).start()
    try:
        feed = create_feed(server, upstreams=[{"type": "index", "url": upstream.index_url}])
        names = mixed_project(feed, upstream)
        clients.pip_install(index_url(server, feed), tmp_path / "before", names["app"])
        assert installed(tmp_path / "before") == expected(names)
    finally:
        upstream.stop()

    server.clear_requests()
    clients.pip_install(index_url(server, feed), tmp_path / "pip-after", names["app"])
    clients.uv_install(index_url(server, feed), tmp_path / "uv-after", names["app"])
    assert installed(tmp_path / "pip-after") == installed(tmp_path / "uv-after") == expected(names)
    assert downloads(server, feed) == {wheel_name(n, "1.0") for n in names.values()}

    # The last good copy of the upstream's page was served, and the response said so.
    status, headers, _ = get_page(server, feed, names["up"])
    assert status == 200 and headers[STALE_HEADER] == f"index http://127.0.0.1:{upstream.port}"

    # Even with no cached copy at all (the release deleted upstream, say), the saved files serve.
    storage_module.get_storage().delete_blobs(f"{key_of(feed)}/_upstream/")
    status, headers, page = get_page(server, feed, names["up"])
    assert status == 200 and wheel_name(names["up"], "1.0") in page and UNAVAILABLE_HEADER in headers
    clients.uv_install(index_url(server, feed), tmp_path / "uv-no-cache", names["app"])
    assert installed(tmp_path / "uv-no-cache") == expected(names)


def test_a_published_requests_hides_upstream_requests_until_an_owner_allows_it(
    server, pypi, clients, tmp_path
):
    # Only this test puts a "requests" into pypiserver, so it is the upstream's one requests.
    pypi.add(*make_wheel("requests", "2.99.0"))
    feed = create_feed(server, upstreams=[{"type": "pypi"}])
    publish_wheel(feed, "requests", "0.0.1")

    clients.pip_install(index_url(server, feed), tmp_path / "hidden", "requests")
    assert installed(tmp_path / "hidden") == {dist_info("requests", "0.0.1")}
    result = clients.uv_install(index_url(server, feed), tmp_path / "hidden-uv", "requests>=2", check=False)
    assert result.returncode != 0

    status, body = call(
        server, "PUT", f"/api/feeds/{feed}/packages/requests/upstreaming", {"allow_external_versions": True}
    )
    assert status == 200 and body["upstream_versions_visible"] is True
    clients.pip_install(index_url(server, feed), tmp_path / "allowed", "requests")
    assert installed(tmp_path / "allowed") == {dist_info("requests", "2.99.0")}


def test_a_claimed_pattern_hides_an_upstream_name_never_published(server, pypi, clients, tmp_path):
    name = unique("contoso")
    pypi.add(*make_wheel(name, "1.0"))
    open_feed = create_feed(server, upstreams=[{"type": "pypi"}])
    clients.pip_install(index_url(server, open_feed), tmp_path / "open", name)
    assert installed(tmp_path / "open") == {dist_info(name, "1.0")}

    guarded = create_feed(server, upstreams=[{"type": "pypi"}], claimed_patterns=["contoso-*"])
    result = clients.pip_install(index_url(server, guarded), tmp_path / "guarded", name, check=False)
    assert result.returncode != 0
    assert "No matching distribution" in result.stderr
    status, _, page = get_page(server, guarded, name)
    assert status == 404 and "claims" in page


def test_a_feed_with_another_feed_as_upstream_and_cycles_refused(server, pypi, clients, tmp_path):
    internal = create_feed(server, visibility="organization")  # so its files are copied into team
    lib, up = unique("fh-internal"), unique("fh-public")
    pypi.add(*make_wheel(up, "1.0"))
    publish_wheel(internal, lib, "1.0", requires=(f"{up}>=1",))
    team = create_feed(server, upstreams=[{"type": "feed", "feed": internal}, {"type": "pypi"}])

    clients.uv_install(index_url(server, team), tmp_path / "target", lib)
    assert installed(tmp_path / "target") == {dist_info(lib, "1.0"), dist_info(up, "1.0")}
    assert set(saved_rows(team, lib)) == {wheel_name(lib, "1.0")}
    assert saved_rows(team, lib)[wheel_name(lib, "1.0")]["UpstreamLabel"] == f"feed '{internal}'"

    status, body = call(
        server, "PATCH", f"/api/feeds/{internal}", {"upstreams": [{"type": "feed", "feed": team}]}
    )
    assert status == 400 and body["error"] == "upstream_cycle"
    assert f"{internal.lower()} -> {team.lower()} -> {internal.lower()}" in body["message"]


def test_failing_and_lying_upstreams_through_the_real_host(server, upstream_settings, clients, tmp_path):
    with FakeIndex() as fake:
        upstream = ScriptedIndex(fake)
        feed = create_feed(server, upstreams=[{"type": "index", "url": upstream.url}])
        ours = unique("fh-ours")
        publish_wheel(feed, ours, "1.0")
        status, _ = call(
            server, "PUT", f"/api/feeds/{feed}/packages/{ours}/upstreaming", {"allow_external_versions": True}
        )
        assert status == 200

        # A broken upstream page: the local part still installs.
        upstream.answer(ours, Reply(body=b"<<<not a page", headers={"Content-Type": "application/json"}))
        clients.pip_install(index_url(server, feed), tmp_path / "local", ours)
        assert installed(tmp_path / "local") == {dist_info(ours, "1.0")}

        # Bytes that do not match the upstream's hash: refused, and not saved.
        liar = unique("fh-liar")
        filename, data = make_wheel(liar, "1.0")
        upstream.project(liar, [upstream.entry(filename, data)])
        fake.routes[upstream.file_path(filename)] = Reply(body=data[:-1] + bytes([data[-1] ^ 1]))
        result = clients.pip_install(index_url(server, feed), tmp_path / "liar", liar, check=False)
        assert result.returncode != 0
        assert any(path.endswith(f"/{filename}") and code == 502 for _m, path, code in server.requests)
        assert saved_rows(feed, liar) == {}
        assert (
            storage_module.get_storage().blob_info(f"{key_of(feed)}/{liar}/{sha256(data)}/{filename}") is None
        )

    # The metadata address is refused when the owner names it.
    status, body = call(
        server,
        "PATCH",
        f"/api/feeds/{feed}",
        {"upstreams": [{"type": "index", "url": "http://169.254.169.254/"}]},
    )
    assert status == 400 and "metadata" in body["message"]
