"""The recycle bin against real storage: expiry, purge, and recovery from a purge or delete cut short."""

from datetime import UTC, datetime, timedelta

import pytest

from shared import lifecycle
from shared.keys import FILES_TABLE, RECYCLE_BIN_TABLE, files_partition
from shared.packages import PURGED, read_project
from shared.storage import RecordChanged
from tests.support.dists import make_wheel
from tests.support.publish import publish, publish_sdist, publish_wheel
from tests.support.stored import key_of

NOW = datetime.now(UTC)
RETENTION = timedelta(days=30)


@pytest.fixture
def binned(feed_name, storage):
    feed = key_of(feed_name)
    wheel, _ = publish_wheel(feed_name, "binned", "1.0")
    sdist, _ = publish_sdist(feed_name, "binned", "1.0")
    publish_wheel(feed_name, "binned", "2.0")
    lifecycle.delete_version(storage, feed, "binned", "1.0", by="alice", now=NOW)
    return feed, {wheel, sdist}


def blob_exists(storage, name):
    try:
        storage.read_blob(name, offset=0, length=1)
    except Exception:
        return False
    return True


def rows(storage, feed):
    return {f.filename: f for f in read_project(storage, feed, "binned").files}


def test_nothing_is_purged_before_the_retention(storage, feed_name, binned):
    feed, _files = binned
    purged = lifecycle.purge_expired(storage, now=NOW + RETENTION - timedelta(seconds=1), retention=RETENTION)
    assert [p for p in purged if p.feed == feed_name] == []
    assert {e.version for e in lifecycle.list_recycle_bin(storage, feed)} == {"1.0"}


def test_purge_after_the_retention_deletes_blobs_and_keeps_tombstones(storage, feed_name, binned):
    feed, files = binned
    before = rows(storage, feed)
    purged = lifecycle.purge_expired(storage, now=NOW + RETENTION, retention=RETENTION)
    assert {p.filename for p in purged if p.feed == feed_name} == files
    after = rows(storage, feed)
    for name in files:
        assert after[name].state == PURGED
        assert not blob_exists(storage, before[name].blob)
        if before[name].metadata_blob:
            assert not blob_exists(storage, before[name].metadata_blob)
    assert after["binned-2.0-py3-none-any.whl"].state == "active"
    assert lifecycle.list_recycle_bin(storage, feed) == []
    with pytest.raises(lifecycle.ReleaseNotFound):
        lifecycle.restore_version(storage, feed, "binned", "1.0")


def test_a_purge_cut_short_is_finished_by_the_next_run(storage, binned):
    feed, files = binned
    wheel = next(f for f in files if f.endswith(".whl"))
    record = storage.get(FILES_TABLE, files_partition(feed, "binned"), wheel)
    # The first run marked the row and died before deleting the blobs.
    storage.replace(FILES_TABLE, {**record, "State": PURGED})
    assert lifecycle.list_recycle_bin(storage, feed)  # still listed ...
    lifecycle.purge_expired(storage, now=NOW + RETENTION, retention=RETENTION)
    assert not blob_exists(storage, record["Blob"])  # ... so its blobs went on the next run
    assert not blob_exists(storage, record["MetadataBlob"])
    assert lifecycle.list_recycle_bin(storage, feed) == []


def test_a_delete_cut_short_leaves_nothing_behind(storage, feed_name):
    feed = key_of(feed_name)
    wheel, _ = publish_wheel(feed_name, "binned", "3.0")
    # The bin entry is written first; say the process died before the row changed.
    storage.insert(
        RECYCLE_BIN_TABLE, {"PartitionKey": feed, "RowKey": "binned:3", "Project": "binned", "Version": "3.0"}
    )
    lifecycle.purge_expired(storage, now=NOW, retention=RETENTION)
    assert rows(storage, feed)[wheel].state == "active"
    assert blob_exists(storage, rows(storage, feed)[wheel].blob)
    assert lifecycle.list_recycle_bin(storage, feed) == []


def test_a_purge_keeps_the_entry_of_a_version_deleted_from_meanwhile(storage, feed_name, monkeypatch):
    """The purge read the rows, found the last binned file of the version due, and meanwhile another
    file of the version was deleted: the entry must stay, or that file would never be listed or
    purged."""
    feed = key_of(feed_name)
    first, data = make_wheel("binned", "4.0")
    second = first.replace("py3-none-any", "py311-none-any")
    for filename, pyversion in ((first, "py3"), (second, "py311")):
        assert publish(feed_name, filename, data, "binned", "4.0", pyversion=pyversion).status_code == 200
    lifecycle.delete_file(storage, feed, "binned", first, by="alice", now=NOW)

    read = lifecycle.read_project
    interleaved = []

    def read_then_delete_the_other(storage, feed_key, project):
        records = read(storage, feed_key, project)
        if feed_key == feed and not interleaved:  # the purge visits every feed
            interleaved.append(second)
            lifecycle.delete_file(storage, feed, "binned", second, by="bob", now=NOW)
        return records

    monkeypatch.setattr(lifecycle, "read_project", read_then_delete_the_other)
    purged = lifecycle.purge_expired(storage, now=NOW + RETENTION, retention=RETENTION)
    assert [p.filename for p in purged if p.feed == feed_name] == [first]
    monkeypatch.undo()
    (entry,) = lifecycle.list_recycle_bin(storage, feed)
    assert [f.filename for f in entry.files] == [second]


def test_restore_then_delete_again_restarts_the_clock(storage, binned):
    feed, files = binned
    lifecycle.restore_version(storage, feed, "binned", "1.0")
    later = NOW + timedelta(days=20)
    lifecycle.delete_version(storage, feed, "binned", "1.0", by="bob", now=later)
    lifecycle.purge_expired(storage, now=NOW + RETENTION, retention=RETENTION)
    (entry,) = lifecycle.list_recycle_bin(storage, feed)
    assert {f.filename for f in entry.files} == files
    assert {f.deleted_by for f in entry.files} == {"bob"}


def test_replace_all_is_all_or_nothing(storage, feed_name):
    feed = key_of(feed_name)
    publish_wheel(feed_name, "atomic", "1.0")
    publish_wheel(feed_name, "atomic", "2.0")
    records = read_project(storage, feed, "atomic").file_records()
    assert len(records) == 2
    storage.replace(FILES_TABLE, {**records[1], "Uploader": "someone else"})  # records[1] is now stale
    with pytest.raises(RecordChanged):
        storage.replace_all(FILES_TABLE, [{**r, "State": "deleted"} for r in records])
    assert {f.state for f in read_project(storage, feed, "atomic").files} == {"active"}
