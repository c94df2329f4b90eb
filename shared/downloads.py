"""How package files leave the feed: streamed through the function, or by a 302 to a read-only SAS URL.

In redirect mode the URL a client gets is the same for every request within one window of
FEEDHOUSE_DOWNLOAD_URL_SECONDS: pip keys its HTTP cache on the final URL, so a URL that changed on every
request would never hit. Each URL is valid for at least one window after it is handed out.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

STREAM = "stream"
REDIRECT = "redirect"
# Storage's clock may run behind ours; a SAS that starts "in the future" is refused.
CLOCK_SKEW = timedelta(minutes=5)


def sas_window(now: datetime, seconds: int) -> tuple[datetime, datetime]:
    """Start and expiry of the download URL handed out at ``now``."""
    epoch = int(now.timestamp())
    window_start = epoch - epoch % seconds
    start = datetime.fromtimestamp(window_start, UTC) - CLOCK_SKEW
    expiry = datetime.fromtimestamp(window_start + 2 * seconds, UTC)
    return start, expiry
