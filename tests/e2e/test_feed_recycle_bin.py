"""A deleted feed with real clients: pip cannot install from it while it is in the recycle bin, and
installs from it again once it is restored; its history names twine as the client that published."""

from __future__ import annotations

import pytest

from tests.conftest import ADMIN_TOKEN
from tests.e2e.api import call, index_url, installed, statuses, unique
from tests.support.dists import build_project

pytestmark = pytest.mark.e2e


def test_a_deleted_feed_restored_is_installable_again(server, feed, clients, tmp_path):
    name = unique("fh-binned")
    clients.twine_upload(f"{server.url}/{feed}/upload/", ADMIN_TOKEN, *build_project(tmp_path, name, "1.0"))
    index = index_url(server, feed)
    clients.pip_install(index, tmp_path / "before", name)
    wheel_dir = f"{name.replace('-', '_')}-1.0.dist-info"
    assert installed(tmp_path / "before") == {wheel_dir}

    assert call(server, "DELETE", f"/api/feeds/{feed}")[0] == 204
    server.clear_requests()
    refused = clients.pip_install(index, tmp_path / "deleted", name, check=False)
    assert refused.returncode != 0 and "No matching distribution" in refused.stderr
    assert set(statuses(server, feed)) == {404}  # pip says nothing of a 404 page but that
    status, body = call(server, "POST", "/api/feeds", {"name": feed})
    assert status == 409 and body["error"] == "feed_in_recycle_bin"

    status, restored = call(server, "POST", f"/api/recycle-bin/feeds/{feed}/restore")
    assert status == 200 and restored["name"] == feed
    clients.pip_install(index, tmp_path / "after", name)
    assert installed(tmp_path / "after") == {wheel_dir}

    status, history = call(server, "GET", f"/api/feeds/{feed}/changes?order=oldest")
    assert status == 200
    actions = [(c["action"], (c["agent"] or "").split("/")[0]) for c in history["changes"]]
    assert actions[1:] == [
        ("file.publish", "twine"),
        ("file.publish", "twine"),
        ("feed.delete", "Python-urllib"),
        ("feed.restore", "Python-urllib"),
    ]
