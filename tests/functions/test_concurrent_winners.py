"""A request that loses a race to a concurrent one answers as it would had it come a moment later.

Each test opens the race's window deterministically: a wrapper around one storage call lets the
"concurrent" change land just before the losing write, as it would under load.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from functions.feeds_api import feed_item
from functions.packages_api import file_item, restore, version_item
from shared.keys import FEEDS_TABLE, FILES_TABLE, files_partition
from shared.storage import get_storage
from tests.support.dists import make_wheel
from tests.support.http import json_of
from tests.support.publish import call, json_page, publish, publish_wheel
from tests.support.stored import key_of
from tests.support.upstreams import new_feed

pytestmark = pytest.mark.usefixtures("app_env")


def _before_first(
    monkeypatch, method: str, table: str, concurrently: Callable[[Any], None], *, row: str | None = None
) -> None:
    """Run ``concurrently`` once, just before the first ``method`` call on ``table`` (on the record
    with RowKey ``row``, if given) goes through. A transaction's records are those it inserts."""
    storage = get_storage()
    original = getattr(storage, method)
    pending = [concurrently]

    def wrapped(table_name: str, *args: Any, **kwargs: Any) -> Any:
        records = args[0] if args else kwargs.get("insert", [])
        first = records[0] if isinstance(records, list) else records
        if table_name == table and pending and row in (None, first["RowKey"]):
            pending.pop()(records)
        return original(table_name, *args, **kwargs)

    monkeypatch.setattr(storage, method, wrapped)


def _file_row(feed: str, project: str, filename: str) -> dict[str, Any]:
    row = get_storage().get(FILES_TABLE, files_partition(key_of(feed), project), filename)
    assert row is not None
    return row


def test_an_upload_that_loses_to_the_same_file_deleted_meanwhile_keeps_its_blob(monkeypatch):
    # The winner stored the same bytes under the same (content-addressed) blob, then was deleted: its
    # blob is the recycle bin's copy and must survive the loser's clean-up, and the loser is told what
    # a later upload would be told.
    feed = new_feed()
    filename, data = make_wheel("racy", "1.0")

    def winner_then_deleted(records: list[dict[str, Any]]) -> None:
        record = records[0]
        get_storage().insert(FILES_TABLE, {**record, "State": "deleted", "DeletedAt": record["Uploaded"]})

    _before_first(monkeypatch, "transact", FILES_TABLE, winner_then_deleted, row=filename)
    response = publish(feed, filename, data, "racy", "1.0")
    assert response.status_code == 400
    assert b"previously used by a file that has since been deleted" in response.get_body()
    assert get_storage().blob_info(_file_row(feed, "racy", filename)["Blob"]) is not None


def _touch(records: Any) -> None:
    """Another writer changes a row meanwhile (as the metadata backfill does), not its state."""
    first = records[0] if isinstance(records, list) else records
    get_storage().merge(
        FILES_TABLE, {"PartitionKey": first["PartitionKey"], "RowKey": first["RowKey"], "Touched": True}
    )


@pytest.mark.parametrize("what", ["version", "file"])
def test_deleting_while_another_writer_changes_the_rows_succeeds(monkeypatch, what):
    feed = new_feed()
    filename, _ = publish_wheel(feed, "busy", "1.0")
    _before_first(monkeypatch, "replace_all", FILES_TABLE, _touch)
    if what == "version":
        response = call(version_item, "DELETE", "/", feed=feed, project="busy", version="1.0")
    else:
        response = call(file_item, "DELETE", "/", feed=feed, project="busy", filename=filename)
    assert response.status_code == 200, json_of(response)
    assert json_of(response)["deleted"] == [filename]
    assert _file_row(feed, "busy", filename)["State"] == "deleted"


def test_restoring_while_another_writer_changes_the_rows_succeeds(monkeypatch):
    feed = new_feed()
    filename, _ = publish_wheel(feed, "busy", "1.0")
    assert call(version_item, "DELETE", "/", feed=feed, project="busy", version="1.0").status_code == 200
    _before_first(monkeypatch, "replace_all", FILES_TABLE, _touch)
    response = call(restore, "POST", "/", feed=feed, project="busy", version="1.0")
    assert response.status_code == 200, json_of(response)
    assert json_of(response)["restored"] == [filename]
    assert _file_row(feed, "busy", filename)["State"] == "active"


def test_a_delete_that_loses_to_the_same_delete_answers_as_a_later_one_would(monkeypatch):
    feed = new_feed()
    publish_wheel(feed, "twice", "1.0")

    def the_same_delete(_records: Any) -> None:
        assert call(version_item, "DELETE", "/", feed=feed, project="twice", version="1.0").status_code == 200

    _before_first(monkeypatch, "replace_all", FILES_TABLE, the_same_delete)
    response = call(version_item, "DELETE", "/", feed=feed, project="twice", version="1.0")
    assert response.status_code == 404, json_of(response)  # not a 409: nothing is left to delete


def test_two_patches_of_a_feed_at_once_both_apply(monkeypatch):
    feed = new_feed()

    def another_patch(_record: Any) -> None:
        response = call(feed_item, "PATCH", "/", feed=feed, json_body={"description": "theirs"})
        assert response.status_code == 200

    # A feed's row is written in a transaction (feeds._save), which the PATCH below races.
    storage = get_storage()
    original = storage.transact
    pending = [another_patch]

    def transact(table: str, **operations: Any) -> None:
        if table == FEEDS_TABLE and operations.get("replace") and pending:
            pending.pop()(operations["replace"])
        original(table, **operations)

    monkeypatch.setattr(storage, "transact", transact)
    response = call(feed_item, "PATCH", "/", feed=feed, json_body={"readers_save": False})
    assert response.status_code == 200, json_of(response)
    body = json_of(call(feed_item, "GET", "/", feed=feed))
    assert body["description"] == "theirs" and body["readers_save"] is False


def test_many_uploads_into_one_project_at_once_all_succeed_and_all_show():
    """Every upload updates the project's page document on its ETag: concurrent uploaders into one
    project must take turns on it rather than give up (a 409) after losing a few times."""
    feed = new_feed(visibility="public")
    wheels = [make_wheel("crowded", f"1.{i}") for i in range(48)]

    def upload(wheel: tuple[str, bytes]) -> int:
        filename, data = wheel
        return publish(feed, filename, data, "crowded", filename.split("-")[1]).status_code

    with ThreadPoolExecutor(16) as pool:
        statuses = list(pool.map(upload, wheels))
    assert statuses == [200] * len(wheels)
    page = json_page(feed, "crowded")
    assert sorted(f["filename"] for f in page["files"]) == sorted(name for name, _ in wheels)
