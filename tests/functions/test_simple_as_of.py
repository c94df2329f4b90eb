"""As-of indexes at handler level (issue 15): a feed's pages as they were at a past moment, by path
(``/{feed}/as-of/{moment}/simple/``) and by ``?as-of=``; yank times; bad moments; caching."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta

import pytest

from functions.files import download_as_of
from functions.packages_api import file_item, yank
from functions.simple import project_detail, project_detail_as_of, project_list, project_list_as_of
from shared import page_documents
from shared.keys import FILES_TABLE, files_partition, project_document_blob
from shared.memo import forget_all
from shared.packages import format_time, release_row_key
from shared.storage import get_storage
from tests.support.dists import make_wheel
from tests.support.publish import call, publish
from tests.support.stored import key_of

JSON_ACCEPT = {"Accept": "application/vnd.pypi.simple.v1+json"}
JANUARY, MARCH, JUNE = "2026-01-01T00:00:00Z", "2026-03-01T00:00:00Z", "2026-06-01T00:00:00Z"


def _publish(feed: str, version: str, upload_time: str) -> str:
    filename, data = make_wheel("demo", version)
    response = publish(feed, filename, data, "demo", version, upload_time=upload_time)
    assert response.status_code == 200, response.get_body()
    return filename


@pytest.fixture
def history(feed_name):
    """demo 1.0 uploaded in January, 2.0 in June (original upload times, as an import keeps them)."""
    return feed_name, _publish(feed_name, "1.0", JANUARY), _publish(feed_name, "2.0", JUNE)


def page_as_of(feed: str, moment: str, project: str = "demo", **kwargs):
    return call(
        project_detail_as_of,
        "GET",
        f"/{feed}/as-of/{moment}/simple/{project}/",
        feed=feed,
        moment=moment,
        project=project,
        headers=kwargs.pop("headers", JSON_ACCEPT),
        **kwargs,
    )


def page_with_query(feed: str, moment: str, project: str = "demo"):
    return call(
        project_detail,
        "GET",
        f"/{feed}/simple/{project}/",
        feed=feed,
        project=project,
        params={"as-of": moment},
        headers=JSON_ACCEPT,
    )


def files_of(response) -> dict[str, dict]:
    assert response.status_code == 200, response.get_body()
    return {f["filename"]: f for f in json.loads(response.get_body())["files"]}


def _yank(feed: str, version: str, reason: str) -> None:
    response = call(
        yank,
        "POST",
        f"/api/feeds/{feed}/packages/demo/versions/{version}/yank",
        json_body={"reason": reason},
        feed=feed,
        project="demo",
        version=version,
    )
    assert response.status_code == 200, response.get_body()


def _now() -> str:
    return format_time(datetime.now(UTC))


def test_a_page_as_of_a_moment_lists_the_files_uploaded_by_then(history):
    feed, old, new = history
    assert set(files_of(page_as_of(feed, MARCH))) == {old}
    assert json.loads(page_as_of(feed, MARCH).get_body())["versions"] == ["1.0"]
    assert set(files_of(page_with_query(feed, MARCH))) == {old}
    assert set(files_of(page_as_of(feed, "2026-03-01"))) == {old}  # a date is its start, in UTC
    assert set(files_of(page_as_of(feed, "2026-06-01T02:00:00+02:00"))) == {old, new}  # inclusive
    assert set(files_of(page_as_of(feed, _now()))) == {old, new}
    live = call(
        project_detail, "GET", f"/{feed}/simple/demo/", feed=feed, project="demo", headers=JSON_ACCEPT
    )
    assert set(files_of(live)) == {old, new}


def test_a_project_without_files_by_then_is_not_found(history):
    feed, _, _ = history
    response = page_as_of(feed, "2025-12-31")
    assert response.status_code == 404


def test_the_html_page_as_of_a_moment_links_files_under_the_as_of_path(history):
    feed, old, new = history
    html = page_as_of(feed, MARCH, headers={"Accept": "text/html"}).get_body().decode()
    assert f'href="../../files/demo/{old}#sha256=' in html
    assert new not in html
    # The link resolves under the as-of path, which serves the feed's file.
    response = call(
        download_as_of, "GET", f"/{feed}/as-of/{MARCH}/files/demo/{old}", feed=feed, moment=MARCH,
        project="demo", filename=old,
    )  # fmt: skip
    assert response.status_code == 200
    assert response.get_body()[:2] == b"PK"


def test_yanks_show_from_when_they_were_made_and_a_new_reason_keeps_the_time(history):
    feed, old, _ = history
    before = _now()
    time.sleep(0.01)
    _yank(feed, "1.0", "broken")
    time.sleep(0.01)
    between = _now()
    time.sleep(0.01)
    _yank(feed, "1.0", "broken on Windows")  # a new reason: no new yank
    assert files_of(page_as_of(feed, MARCH))[old]["yanked"] is False
    assert files_of(page_as_of(feed, before))[old]["yanked"] is False
    assert files_of(page_as_of(feed, between))[old]["yanked"] == "broken on Windows"
    assert files_of(page_as_of(feed, _now()))[old]["yanked"] == "broken on Windows"


def _as_stored_before_yank_times(feed: str, *, keep_row_time: bool) -> None:
    """Make the project look as an older version left it: a format 1 document (releases without
    yank times) and, unless ``keep_row_time``, a release row without YankedAt."""
    storage = get_storage()
    key = key_of(feed)
    row = storage.get(FILES_TABLE, files_partition(key, "demo"), release_row_key("1.0"))
    if not keep_row_time:
        storage.replace(FILES_TABLE, {**row, "YankedAt": None})
    blob = project_document_blob(key, "demo")
    state = storage.read_blob_state(blob)
    document = json.loads(state.data)
    document["format"] = 1
    document["releases"] = {k: v[:2] for k, v in document["releases"].items()}
    storage.write_blob(
        blob, json.dumps(document).encode(), content_type="application/json", if_match=state.etag
    )
    forget_all()


def test_a_document_from_before_yank_times_is_rebuilt_with_the_rows_times(history):
    feed, old, _ = history
    _yank(feed, "1.0", "broken")
    _as_stored_before_yank_times(feed, keep_row_time=True)
    assert files_of(page_as_of(feed, MARCH))[old]["yanked"] is False
    stored = json.loads(get_storage().read_blob(project_document_blob(key_of(feed), "demo")))
    assert stored["format"] >= 2 and stored["releases"]["1"][2] is not None
    assert page_documents.read(get_storage(), key_of(feed), "demo").document.outdated is False


def test_a_yank_of_unknown_time_shows_at_every_moment(history):
    feed, old, _ = history
    _yank(feed, "1.0", "broken")
    _as_stored_before_yank_times(feed, keep_row_time=False)
    assert files_of(page_as_of(feed, MARCH))[old]["yanked"] == "broken"


def test_a_file_deleted_since_is_absent(history):
    feed, old, _ = history
    response = call(
        file_item, "DELETE", f"/api/feeds/{feed}/packages/demo/files/{old}", feed=feed, project="demo",
        filename=old,
    )  # fmt: skip
    assert response.status_code == 200, response.get_body()
    assert files_of(page_as_of(feed, MARCH)) == {}


def test_the_project_list_as_of_a_moment_lists_projects_added_by_then(history):
    feed, _, _ = history

    def listed(moment: str) -> list[str]:
        response = call(
            project_list_as_of, "GET", f"/{feed}/as-of/{moment}/simple/", feed=feed, moment=moment,
            headers=JSON_ACCEPT,
        )  # fmt: skip
        assert response.status_code == 200, response.get_body()
        return [p["name"] for p in json.loads(response.get_body())["projects"]]

    assert listed(_now()) == ["demo"]
    assert listed(MARCH) == []  # the project was added to the feed today (its files imported)
    response = call(
        project_list, "GET", f"/{feed}/simple/", feed=feed, params={"as-of": MARCH}, headers=JSON_ACCEPT
    )
    assert json.loads(response.get_body())["projects"] == []


def test_a_page_of_a_settled_moment_is_kept_a_day_and_revalidates(history):
    feed, _, _ = history
    response = page_as_of(feed, MARCH)
    assert response.headers["Cache-Control"] == "max-age=86400, private"
    again = page_as_of(feed, MARCH, headers={**JSON_ACCEPT, "If-None-Match": response.headers["ETag"]})
    assert again.status_code == 304
    recent = page_as_of(feed, _now())
    assert recent.headers["Cache-Control"] == "max-age=600, private"
    assert recent.headers["ETag"] != response.headers["ETag"]


@pytest.mark.parametrize(
    ("moment", "message"),
    [
        ("yesterday", "not a date and time"),
        ("2026-13-01", "not a date and time"),
        ("2026-03-01T00:00:00", "needs a time zone"),
        ("1999-12-31T23:59:59Z", "before 2000-01-01"),
        ("0001-01-01", "before 2000-01-01"),
        ("99999-01-01", "not a date and time"),
        ("2026-03-01T00:00:00 01:00", "%2B"),
        ("x" * 200, "must be a date and time"),
    ],
)
def test_a_bad_moment_is_a_400_with_a_message(history, moment, message):
    feed, _, _ = history
    for response in (page_as_of(feed, moment), page_with_query(feed, moment)):
        assert response.status_code == 400
        assert message in response.get_body().decode()


def test_a_future_moment_is_a_400(history):
    feed, _, _ = history
    tomorrow = format_time(datetime.now(UTC) + timedelta(days=1))
    response = page_as_of(feed, tomorrow)
    assert response.status_code == 400
    assert "in the future" in response.get_body().decode()
    download = call(
        download_as_of, "GET", f"/{feed}/as-of/{tomorrow}/files/demo/x.whl", feed=feed, moment=tomorrow,
        project="demo", filename="x.whl",
    )  # fmt: skip
    assert download.status_code == 400


def test_the_moment_is_given_once(history):
    feed, _, _ = history
    response = call(
        project_detail_as_of, "GET", f"/{feed}/as-of/{MARCH}/simple/demo/", feed=feed, moment=MARCH,
        project="demo", params={"as-of": JUNE},
    )  # fmt: skip
    assert response.status_code == 400
    assert "once" in response.get_body().decode()
