"""The timer wrapper around the recycle-bin purge."""

from functions.maintenance import PURGE_SCHEDULE, purge_recycle_bin
from shared import settings
from tests.support.publish import publish_wheel


def test_timer_purges_what_is_past_the_retention(feed_name, storage, monkeypatch):
    from datetime import UTC, datetime

    from shared import lifecycle
    from shared.packages import read_project

    publish_wheel(feed_name, "timed", "1.0")
    lifecycle.delete_version(storage, feed_name.lower(), "timed", "1.0", by="admin", now=datetime.now(UTC))
    monkeypatch.setenv("FEEDHOUSE_RECYCLE_BIN_DAYS", "0")
    settings.load.cache_clear()
    try:
        purge_recycle_bin(None)
    finally:
        monkeypatch.undo()
        settings.load.cache_clear()
    (row,) = read_project(storage, feed_name.lower(), "timed").files
    assert row.state == "purged"
    assert lifecycle.list_recycle_bin(storage, feed_name.lower()) == []


def test_schedule_is_daily():
    fields = PURGE_SCHEDULE.split()
    assert len(fields) == 6 and all(f.isdigit() for f in fields[:3]) and fields[3:] == ["*", "*", "*"]
