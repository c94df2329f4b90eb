"""Download counts (issue 14) after real pip and uv installs, streamed and redirected to blob storage:
they appear in the package API within the documented lag, the flush interval plus the next request,
with nothing but requests to make the instance flush (no timer runs under the local host)."""

from __future__ import annotations

import time

import pytest

from shared import settings
from tests.conftest import ADMIN_TOKEN
from tests.e2e.api import call, create_feed, installed, unique
from tests.support.dists import build_project

pytestmark = pytest.mark.e2e

FLUSH_SECONDS = 1
# The lag is the interval plus the next request's; the rest is slack for a busy 2-core machine.
WAIT_SECONDS = FLUSH_SECONDS + 20


@pytest.fixture
def quick_flush(app_env, monkeypatch):
    monkeypatch.setenv("FEEDHOUSE_DOWNLOAD_COUNT_FLUSH_SECONDS", str(FLUSH_SECONDS))
    settings.load.cache_clear()
    yield
    monkeypatch.undo()
    settings.load.cache_clear()


def wheel_totals(server, feed: str, project: str) -> dict[str, int]:
    status, body = call(server, "GET", f"/api/feeds/{feed}/packages/{project}")
    assert status == 200, body
    return {
        f["filename"]: f["downloads"]["total"]
        for v in body["versions"]
        for f in v["files"]
        if f["filename"].endswith(".whl")
    }


@pytest.mark.parametrize("mode", ["stream", "redirect"])
def test_pip_and_uv_installs_are_counted_within_the_documented_lag(
    server, clients, tmp_path, quick_flush, mode, request
):
    if mode == "redirect":
        request.getfixturevalue("redirect_downloads")
    feed = create_feed(server, visibility="public")
    dep, app = unique("fh-counted-lib"), unique("fh-counted-app")
    files = build_project(tmp_path, dep, "1.0") + build_project(
        tmp_path, app, "1.0", dependencies=(f"{dep}>=1",)
    )
    clients.twine_upload(f"{server.url}/{feed}/upload/", ADMIN_TOKEN, *files)
    index = f"{server.url}/{feed}/simple/"
    server.clear_requests()
    for install in (clients.pip_install, clients.uv_install):
        target = tmp_path / install.__name__
        install(index, target, app)
        assert len(installed(target)) == 2
    served = {
        status
        for method, path, status in server.requests
        if f"/{feed}/files/" in path and method == "GET" and not path.endswith(".metadata")
    }
    assert served == {302 if mode == "redirect" else 200}

    installed_at = time.monotonic()
    wanted = {project: {f"{project.replace('-', '_')}-1.0-py3-none-any.whl": 2} for project in (app, dep)}
    while {project: wheel_totals(server, feed, project) for project in (app, dep)} != wanted:
        assert time.monotonic() - installed_at < WAIT_SECONDS, (
            {project: wheel_totals(server, feed, project) for project in (app, dep)},
            wanted,
        )
        time.sleep(0.2)
    status, body = call(server, "GET", f"/api/feeds/{feed}")
    assert status == 200, body
    assert body["downloads"]["total"] == 4
