"""The timer wrappers around the recycle-bin purge, the sweep of deleted feeds and that of sessions,
and the retention run."""

from datetime import UTC, datetime, timedelta

import pytest

from functions.maintenance import (
    PURGE_SCHEDULE,
    RETENTION_SCHEDULE,
    SESSIONS_SCHEDULE,
    SWEEP_SCHEDULE,
    purge_recycle_bin,
    sweep_deleted_feeds,
    sweep_sessions,
)
from shared import feeds, roles, settings
from shared.roles import Role
from tests.support.publish import publish_wheel
from tests.support.stored import key_of


def test_timer_purges_what_is_past_the_retention(feed_name, storage, monkeypatch):
    from shared import lifecycle
    from shared.packages import read_project

    publish_wheel(feed_name, "timed", "1.0")
    lifecycle.delete_version(storage, key_of(feed_name), "timed", "1.0", by="admin", now=datetime.now(UTC))
    monkeypatch.setenv("FEEDHOUSE_RECYCLE_BIN_DAYS", "0")
    settings.load.cache_clear()
    try:
        purge_recycle_bin(None)
    finally:
        monkeypatch.undo()
        settings.load.cache_clear()
    (row,) = read_project(storage, key_of(feed_name), "timed").files
    assert row.state == "purged"
    assert lifecycle.list_recycle_bin(storage, key_of(feed_name)) == []


def test_timer_sweeps_deleted_feeds(feed_name, storage, monkeypatch):
    publish_wheel(feed_name, "swept", "1.0")
    key = key_of(feed_name)
    feeds.delete_feed(storage, feed_name, by="admin")
    feeds.purge_feed(storage, feed_name)
    # A grant that read the feed before its delete and wrote after the delete's own sweep.
    roles.grant(storage, key, "straggler", Role.READER)
    monkeypatch.setattr(feeds, "SWEEP_AFTER", timedelta(0))
    sweep_deleted_feeds(None)
    assert roles.grants(storage, key) == []
    assert key not in roles.roles_of_user(storage, "straggler")
    assert feeds.sweep_deleted(storage, now=datetime.now(UTC)) == []  # every tombstone went with it


def test_timer_sweeps_ended_sessions(storage):
    import hashlib

    from shared.auth import ADMIN
    from shared.keys import SESSION_ROW, SESSIONS_TABLE, session_partition
    from shared.packages import format_time
    from shared.web import sessions
    from tests.conftest import ADMIN_TOKEN

    ended, _ = sessions.start(storage, ADMIN, admin_token=ADMIN_TOKEN)
    live, _ = sessions.start(storage, ADMIN, admin_token=ADMIN_TOKEN)
    partition = session_partition(hashlib.sha256(ended.encode()).hexdigest())
    long_ago = format_time(datetime.now(UTC) - timedelta(days=2))
    storage.merge(SESSIONS_TABLE, {"PartitionKey": partition, "RowKey": SESSION_ROW, "Created": long_ago})
    sweep_sessions(None)
    assert storage.get(SESSIONS_TABLE, partition, SESSION_ROW) is None
    assert sessions.resume(storage, live, admin_token=ADMIN_TOKEN) is not None


@pytest.mark.parametrize("schedule", [PURGE_SCHEDULE, SWEEP_SCHEDULE, SESSIONS_SCHEDULE, RETENTION_SCHEDULE])
def test_schedule_is_daily(schedule):
    fields = schedule.split()
    assert len(fields) == 6 and all(f.isdigit() for f in fields[:3]) and fields[3:] == ["*", "*", "*"]


def test_timer_applies_retention_to_the_recycle_bin(feed_name, storage):
    from functions.maintenance import apply_retention
    from shared import lifecycle

    for version in ("1.0", "2.0"):
        publish_wheel(feed_name, "retained", version)
    feeds.update_feed(storage, feed_name, {"retention": {"max_versions": 1}})
    apply_retention(None)
    (entry,) = lifecycle.list_recycle_bin(storage, key_of(feed_name))
    assert (entry.project, entry.version) == ("retained", "1.0")
    assert entry.files[0].deleted_by == "retention:policy"


def test_a_policy_removed_since_the_feed_was_read_deletes_nothing(feed_name, storage):
    from shared import retaining

    for version in ("1.0", "2.0"):
        publish_wheel(feed_name, "unretained", version)
    with_policy = feeds.update_feed(storage, feed_name, {"retention": {"max_versions": 1}})
    feeds.update_feed(storage, feed_name, {"retention": None})
    assert retaining.apply(storage, with_policy, now=datetime.now(UTC)) == []
