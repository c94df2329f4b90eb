"""Upstream cooldown at handler level (issue 15): young external versions are held back from pages and
downloads, exceptions let urgent fixes through, saved files stay, the package API says what is held
back and until when, and the setting is validated."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from functions.files import download
from functions.packages_api import package_upstreaming
from functions.simple import project_detail, project_detail_as_of
from shared.packages import format_time
from shared.roles import Role
from tests.support.dists import make_wheel
from tests.support.http import json_of
from tests.support.publish import call
from tests.support.upstream_server import FakeIndex
from tests.support.upstreams import ScriptedIndex, index, new_feed, patch_feed, user

pytestmark = pytest.mark.usefixtures("upstream_settings")
JSON_ACCEPT = {"Accept": "application/vnd.pypi.simple.v1+json"}
NOW = datetime.now(UTC)
OLD = format_time(NOW - timedelta(days=30))
YOUNG = format_time(NOW - timedelta(days=2))


@pytest.fixture
def upstream() -> Iterator[ScriptedIndex]:
    with FakeIndex() as fake:
        yield ScriptedIndex(fake)


@pytest.fixture
def releases(upstream) -> dict[str, str]:
    """'fresh' on the upstream: 1.0 a month old, 2.0 two days old (PEP 700 upload-time)."""
    names = {}
    entries = []
    for version, uploaded in (("1.0", OLD), ("2.0", YOUNG)):
        filename, data = make_wheel("fresh", version)
        names[version] = filename
        entries.append(upstream.entry(filename, data, **{"upload-time": uploaded, "size": len(data)}))
    upstream.project("fresh", entries)
    return names


def files_of(feed: str, project: str = "fresh") -> list[str]:
    response = call(
        project_detail, "GET", f"/{feed}/simple/{project}/", feed=feed, project=project, headers=JSON_ACCEPT
    )
    assert response.status_code == 200, response.get_body()
    return [f["filename"] for f in json.loads(response.get_body())["files"]]


def fetch(feed: str, filename: str, token: str | None = None):
    kwargs = {"token": token} if token else {}
    return call(
        download,
        "GET",
        f"/{feed}/files/fresh/{filename}",
        feed=feed,
        project="fresh",
        filename=filename,
        **kwargs,
    )


def upstreaming(feed: str) -> dict:
    response = call(
        package_upstreaming,
        "GET",
        f"/api/feeds/{feed}/packages/fresh/upstreaming",
        feed=feed,
        project="fresh",
    )
    assert response.status_code == 200, response.get_body()
    return json_of(response)


def test_versions_younger_than_the_cooldown_are_held_back_from_pages_and_downloads(upstream, releases):
    feed = new_feed([index(upstream.url)], upstream_cooldown_days=7)
    assert files_of(feed) == [releases["1.0"]]
    assert fetch(feed, releases["2.0"]).status_code == 404
    assert fetch(feed, releases["1.0"]).status_code == 200
    cooldown = upstreaming(feed)["cooldown"]
    assert cooldown["days"] == 7 and cooldown["exceptions"] == []
    [held] = cooldown["held_back"]
    assert held["version"] == "2" and held["upstream"].startswith("index http://127.0.0.1")
    assert held["until"] == format_time(
        datetime.fromisoformat(YOUNG.replace("Z", "+00:00")) + timedelta(days=7)
    )
    # A shorter cooldown lets it through; none is the default.
    assert patch_feed(feed, {"upstream_cooldown_days": 1})[0] == 200
    assert files_of(feed) == [releases["1.0"], releases["2.0"]]
    assert files_of(new_feed([index(upstream.url)])) == [releases["1.0"], releases["2.0"]]


@pytest.mark.parametrize("exception", ["Fresh", "fresh==2.0", "FRESH==2"])
def test_an_exception_lets_a_project_or_a_version_through(upstream, releases, exception):
    feed = new_feed([index(upstream.url)], upstream_cooldown_days=7, cooldown_exceptions=[exception])
    assert files_of(feed) == [releases["1.0"], releases["2.0"]]
    assert upstreaming(feed)["cooldown"]["held_back"] == []


def test_an_exception_for_another_version_does_not(upstream, releases):
    feed = new_feed([index(upstream.url)], upstream_cooldown_days=7, cooldown_exceptions=["fresh==1.0"])
    assert files_of(feed) == [releases["1.0"]]


def test_a_version_saved_into_the_feed_stays_when_a_cooldown_is_turned_on(upstream, releases):
    feed = new_feed([index(upstream.url)])
    collaborator = user(feed, Role.COLLABORATOR)
    assert fetch(feed, releases["2.0"], token=collaborator).status_code == 200  # saves it
    assert patch_feed(feed, {"upstream_cooldown_days": 31})[0] == 200
    assert files_of(feed) == [releases["2.0"]]  # 1.0 is 30 days old: held back a day more
    assert upstreaming(feed)["cooldown"]["held_back"][0]["version"] == "1"


def test_files_without_an_upload_time_show_and_are_counted(upstream):
    filename, data = make_wheel("fresh", "3.0")
    upstream.project("fresh", [upstream.entry(filename, data)], html=True)
    feed = new_feed([index(upstream.url)], upstream_cooldown_days=7)
    assert files_of(feed) == [filename]
    assert upstreaming(feed)["cooldown"]["files_without_upload_time"] == 1


def test_an_as_of_page_applies_the_cooldown_as_of_its_moment(upstream, releases):
    feed = new_feed([index(upstream.url)], upstream_cooldown_days=14)
    moment = format_time(NOW - timedelta(days=20))  # 1.0 was 10 days old then: under the cooldown
    response = call(
        project_detail_as_of, "GET", f"/{feed}/as-of/{moment}/simple/fresh/", feed=feed, moment=moment,
        project="fresh", headers=JSON_ACCEPT,
    )  # fmt: skip
    assert response.status_code == 200, response.get_body()
    assert json.loads(response.get_body())["files"] == []
    moment = format_time(NOW - timedelta(days=1))  # 2.0 was a day old: held back; 1.0 shows
    response = call(
        project_detail_as_of, "GET", f"/{feed}/as-of/{moment}/simple/fresh/", feed=feed, moment=moment,
        project="fresh", headers=JSON_ACCEPT,
    )  # fmt: skip
    assert [f["filename"] for f in json.loads(response.get_body())["files"]] == [releases["1.0"]]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"upstream_cooldown_days": -1}, "from 0 (off) to 365"),
        ({"upstream_cooldown_days": 366}, "from 0 (off) to 365"),
        ({"upstream_cooldown_days": True}, "from 0 (off) to 365"),
        ({"upstream_cooldown_days": "7"}, "from 0 (off) to 365"),
        ({"upstream_cooldown_days": 1.5}, "from 0 (off) to 365"),
        ({"cooldown_exceptions": "requests"}, "must be a list"),
        ({"cooldown_exceptions": ["requests==not a version"]}, "neither a project name nor"),
        ({"cooldown_exceptions": ["-bad-"]}, "neither a project name nor"),
        ({"cooldown_exceptions": ["x" * 300]}, "neither a project name nor"),
        ({"cooldown_exceptions": [f"p{i}" for i in range(101)]}, "at most 100"),
    ],
)
def test_bad_cooldown_settings_are_a_400_and_change_nothing(body, message):
    feed = new_feed(upstream_cooldown_days=3)
    status, answer = patch_feed(feed, body)
    assert status == 400
    assert message in answer["message"]
    status, answer = patch_feed(feed, {"description": "read back"})
    assert answer["upstream_cooldown_days"] == 3 and answer["cooldown_exceptions"] == []


def test_the_setting_is_stored_normalized_and_shown(upstream):
    feed = new_feed([index(upstream.url)])
    status, answer = patch_feed(
        feed,
        {"upstream_cooldown_days": 14, "cooldown_exceptions": ["Requests", "urllib3==2.2.0", "requests"]},
    )
    assert status == 200, answer
    assert answer["upstream_cooldown_days"] == 14
    assert answer["cooldown_exceptions"] == ["requests", "urllib3==2.2"]
