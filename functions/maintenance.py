"""Timer-triggered housekeeping: the daily purge of expired recycle-bin entries, the daily purge of
expired deleted feeds and sweep of purged ones, the daily sweep of browser sessions that ended
without being presented again, the daily retention run, and every minute the flush of download counts.

The work is ``shared.lifecycle.purge_expired``, ``shared.feeds.purge_expired``,
``shared.feeds.sweep_deleted``, ``shared.web.sessions.sweep``, ``shared.retaining.apply_all`` and
``shared.download_counts.flush``,
plain functions the tests call directly; this is only their schedule.
(The local host serves HTTP triggers only, so under ``make run`` none runs.)
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

import azure.functions as func

from shared import download_counts, feeds, lifecycle, retaining, settings
from shared.storage import get_storage
from shared.web import sessions

bp = func.Blueprint()
logger = logging.getLogger("feedhouse")

# Daily at 03:17 UTC (NCRONTAB: second minute hour day month weekday).
PURGE_SCHEDULE = "0 17 3 * * *"
# Daily at 03:47 UTC: a timer of its own, so that one job failing never holds up the other.
SWEEP_SCHEDULE = "0 47 3 * * *"
SESSIONS_SCHEDULE = "0 7 4 * * *"
# Daily at 02:37 UTC: before the recycle-bin purge, so what retention deletes stays restorable the
# full FEEDHOUSE_RECYCLE_BIN_DAYS.
RETENTION_SCHEDULE = "0 37 2 * * *"

# Every minute. Functions runs a timer on one instance, so this flushes that instance's counts only;
# the others flush from their requests (shared/download_counts.py).
DOWNLOAD_COUNTS_SCHEDULE = "0 * * * * *"


@bp.timer_trigger(arg_name="timer", schedule=PURGE_SCHEDULE, run_on_startup=False, use_monitor=True)
def purge_recycle_bin(timer: func.TimerRequest) -> None:
    retention = timedelta(days=settings.load().recycle_bin_days)
    purged = lifecycle.purge_expired(get_storage(), now=datetime.now(UTC), retention=retention)
    for item in purged:
        logger.info("Purged %s from feed %s (project %s)", item.filename, item.feed, item.project)
    logger.info("Recycle bin purge done: %d file(s) purged", len(purged))


@bp.timer_trigger(arg_name="timer", schedule=SWEEP_SCHEDULE, run_on_startup=False, use_monitor=True)
def sweep_deleted_feeds(timer: func.TimerRequest) -> None:
    days = settings.load().feed_recycle_bin_days
    for feed in feeds.purge_expired(get_storage(), now=datetime.now(UTC), days=days):
        logger.info("Purged deleted feed %s (id %s) from the recycle bin", feed.name, feed.key)
    swept = feeds.sweep_deleted(get_storage(), now=datetime.now(UTC))
    for feed in swept:
        logger.info("Swept deleted feed %s (id %s)", feed.name, feed.key)
    logger.info("Deleted-feed sweep done: %d feed(s) swept", len(swept))


@bp.timer_trigger(arg_name="timer", schedule=SESSIONS_SCHEDULE, run_on_startup=False, use_monitor=True)
def sweep_sessions(timer: func.TimerRequest) -> None:
    swept = sessions.sweep(get_storage(), now=datetime.now(UTC))
    logger.info("Session sweep done: %d ended session(s) deleted", swept)


@bp.timer_trigger(arg_name="timer", schedule=RETENTION_SCHEDULE, run_on_startup=False, use_monitor=True)
def apply_retention(timer: func.TimerRequest) -> None:
    deleted = retaining.apply_all(get_storage(), now=datetime.now(UTC))
    for item in deleted:
        logger.info("Retention deleted %s %s from feed %s", item.project, item.version, item.feed)
    logger.info("Retention run done: %d version(s) moved to the recycle bin", len(deleted))


@bp.timer_trigger(
    arg_name="timer", schedule=DOWNLOAD_COUNTS_SCHEDULE, run_on_startup=False, use_monitor=False
)
def flush_download_counts(timer: func.TimerRequest) -> None:
    download_counts.flush(get_storage())
