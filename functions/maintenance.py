"""Timer-triggered housekeeping: the daily purge of expired recycle-bin entries.

The work is ``shared.lifecycle.purge_expired``, a plain function the tests call directly; this is only
its schedule. (The local host serves HTTP triggers only, so under ``make run`` nothing purges.)
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

import azure.functions as func

from shared import lifecycle, settings
from shared.storage import get_storage

bp = func.Blueprint()
logger = logging.getLogger("feedhouse")

# Daily at 03:17 UTC (NCRONTAB: second minute hour day month weekday).
PURGE_SCHEDULE = "0 17 3 * * *"


@bp.timer_trigger(arg_name="timer", schedule=PURGE_SCHEDULE, run_on_startup=False, use_monitor=True)
def purge_recycle_bin(timer: func.TimerRequest) -> None:
    retention = timedelta(days=settings.load().recycle_bin_days)
    purged = lifecycle.purge_expired(get_storage(), now=datetime.now(UTC), retention=retention)
    for item in purged:
        logger.info("Purged %s from feed %s (project %s)", item.filename, item.feed, item.project)
    logger.info("Recycle bin purge done: %d file(s) purged", len(purged))
