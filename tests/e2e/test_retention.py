"""Retention end to end (issue 14): a preview, then a run, on a feed with many versions, with a
lockfile-pinned and a recently downloaded version kept, and pip still installing what remains."""

from __future__ import annotations

import urllib.request
from datetime import UTC, datetime, timedelta

import pytest

from shared import download_counts, feeds, retaining
from shared.storage import get_storage
from tests.conftest import ADMIN_TOKEN
from tests.e2e.api import call, create_feed, installed, unique
from tests.support.publish import publish_wheel

pytestmark = pytest.mark.e2e

VERSIONS = ("1.0", "1.1", "1.2", "1.3", "1.4", "1.5")


def _register(server, feed: str, name: str, content: bytes) -> int:
    request = urllib.request.Request(
        f"{server.url}/api/feeds/{feed}/lockfiles/{name}",
        data=content,
        headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
        method="PUT",
    )
    with urllib.request.urlopen(request) as response:
        return response.status


def test_preview_then_run_and_pip_installs_what_remains(server, clients, tmp_path, monkeypatch):
    feed = create_feed(server, visibility="public")
    project = unique("fh-retained")
    for version in VERSIONS:
        publish_wheel(feed, project, version)
    assert _register(server, feed, "requirements.txt", f"{project}==1.1\n".encode()) == 200
    later = datetime.now(UTC) + timedelta(days=90)
    monkeypatch.setattr(download_counts, "last_downloads", lambda *_: {"1.3": later - timedelta(days=2)})
    status, body = call(
        server, "PATCH", f"/api/feeds/{feed}", {"retention": {"max_versions": 2, "keep_downloaded_days": 30}}
    )
    assert status == 200, body

    # Today every version is too new to judge by its downloads: the preview deletes nothing yet.
    status, preview = call(server, "GET", f"/api/feeds/{feed}/retention/preview")
    assert status == 200, preview
    assert preview["projects"][0]["delete"] == []
    # Without keep_downloaded_days, what a count alone would delete.
    status, preview = call(server, "GET", f"/api/feeds/{feed}/retention/preview?max_versions=2")
    assert preview["projects"][0]["delete"] == ["1.3", "1.2", "1.0"]

    # The run, 90 days on: 1.1 (lockfile) and 1.3 (downloaded) stay with the two newest.
    storage = get_storage()
    deleted = retaining.apply(storage, feeds.get_feed(storage, feed), now=later)
    assert sorted(d.version for d in deleted) == ["1.0", "1.2"]

    index = f"{server.url}/{feed}/simple/"
    clients.pip_install(index, tmp_path / "latest", project)
    assert f"{project.replace('-', '_')}-1.5.dist-info" in installed(tmp_path / "latest")
    for kept in ("1.1", "1.3"):
        clients.pip_install(index, tmp_path / kept, f"{project}=={kept}")
    refused = clients.pip_install(index, tmp_path / "gone", f"{project}==1.2", check=False)
    assert refused.returncode != 0
