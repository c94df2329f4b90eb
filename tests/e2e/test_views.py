"""Views end to end (issue 14): pip and uv install from ``/{feed}@release/simple/`` and get only the
promoted versions; a feed whose upstream is another feed's ``@release`` does too."""

from __future__ import annotations

import pytest

from tests.e2e.api import call, create_feed, installed, unique
from tests.support.publish import publish_wheel

pytestmark = pytest.mark.e2e


def _anonymous_url(server, name: str) -> str:
    return f"{server.url}/{name}/simple/"


@pytest.fixture
def team(server) -> tuple[str, str]:
    """A private feed with a library at 1.0 (promoted into @release, which is public) and 2.0 (not)."""
    feed = create_feed(server, visibility="private")
    project = unique("fh-viewed")
    for version in ("1.0", "2.0"):
        publish_wheel(feed, project, version)
    status, body = call(
        server, "POST", f"/api/feeds/{feed}/packages/{project}/versions/1.0/views", {"view": "release"}
    )
    assert status == 200, body
    status, body = call(server, "PATCH", f"/api/feeds/{feed}/views/release", {"visibility": "public"})
    assert status == 200, body
    return feed, project


def _dist_info(project: str, version: str) -> str:
    return f"{project.replace('-', '_')}-{version}.dist-info"


def test_pip_and_uv_install_only_promoted_versions_from_a_view(server, team, clients, tmp_path):
    feed, project = team
    index = _anonymous_url(server, f"{feed}@release")  # the view is public, the feed is not
    clients.pip_install(index, tmp_path / "pip", project)
    assert _dist_info(project, "1.0") in installed(tmp_path / "pip")
    clients.uv_install(index, tmp_path / "uv", project)
    assert _dist_info(project, "1.0") in installed(tmp_path / "uv")
    for install in (clients.pip_install, clients.uv_install):
        refused = install(index, tmp_path / "no", f"{project}==2.0", check=False)
        assert refused.returncode != 0
    # The feed itself stays private.
    assert install(_anonymous_url(server, feed), tmp_path / "private", project, check=False).returncode != 0


def test_a_feed_with_another_feeds_release_view_as_upstream(server, team, clients, tmp_path):
    feed, project = team
    consumer = create_feed(
        server, visibility="public", upstreams=[{"type": "feed", "feed": f"{feed}@release"}]
    )
    app = unique("fh-consumer-app")
    publish_wheel(consumer, app, "1.0", requires=(project,))
    index = _anonymous_url(server, consumer)
    clients.pip_install(index, tmp_path / "pip", app)
    assert {_dist_info(app, "1.0"), _dist_info(project, "1.0")} <= installed(tmp_path / "pip")
    clients.uv_install(index, tmp_path / "uv", app)
    assert {_dist_info(app, "1.0"), _dist_info(project, "1.0")} <= installed(tmp_path / "uv")
    refused = clients.pip_install(index, tmp_path / "no", f"{project}==2.0", check=False)
    assert refused.returncode != 0
