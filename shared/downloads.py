"""How package files leave the feed: streamed through the function, or by a 302 to a read-only SAS URL.

A ``Download`` is what a download serves, whatever the source (shared.feed_index makes them). In
redirect mode the URL a client gets is the same for every request within one window of
FEEDHOUSE_DOWNLOAD_URL_SECONDS: pip keys its HTTP cache on the final URL, so a URL that changed on every
request would never hit. Each URL is valid for at least one window after it is handed out.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

STREAM = "stream"
REDIRECT = "redirect"
# Storage's clock may run behind ours; a SAS that starts "in the future" is refused.
CLOCK_SKEW = timedelta(minutes=5)


@dataclass(frozen=True)
class Download:
    """A file, or a file's core metadata file, as a download serves it.

    ``read(offset, length)`` gives the bytes to send: all of them (None, None), or one range. Nothing
    is read before that, so HEAD and revalidation (304) read nothing. ``signed_url(start, expiry,
    cache_control)`` is a URL on the stored blob a redirect can send the client to; None for an
    upstream file passed through, which is no blob.
    """

    size: int
    sha256: str
    content_type: str
    last_modified: str  # ISO 8601, as records store times
    public: bool  # whether shared caches may keep it
    read: Callable[[int | None, int | None], bytes]
    signed_url: Callable[[datetime, datetime, str], str] | None = None
    # The release of a file the feed holds, which its downloads count for (shared/download_counts.py);
    # None for a metadata file, or an upstream file passed through, which nothing counts.
    version_key: str | None = None


def sas_window(now: datetime, seconds: int) -> tuple[datetime, datetime]:
    """Start and expiry of the download URL handed out at ``now``."""
    epoch = int(now.timestamp())
    window_start = epoch - epoch % seconds
    start = datetime.fromtimestamp(window_start, UTC) - CLOCK_SKEW
    expiry = datetime.fromtimestamp(window_start + 2 * seconds, UTC)
    return start, expiry
