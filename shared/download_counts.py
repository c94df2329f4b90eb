"""Stand-in for the download counts of issue 14 (engineer "downloads" provides the real module with
this signature): until counts are recorded, no version has a last download."""

from __future__ import annotations

from datetime import datetime

from shared.storage import Storage


def last_downloads(storage: Storage, feed_key: str, project: str) -> dict[str, datetime]:
    """Canonical version → when a file of it was last downloaded; versions never downloaded are absent."""
    return {}
