"""Download counts: per file and per version of a project, the total downloads and the last download;
per feed, the totals. Retention reads ``last_downloads``; the package and feed APIs show the rest.

A download must not get slower or cost a storage write, so it only adds to a counter in this
process's memory (``record``: no storage request). Each instance writes what it gathered (``flush``):

- after any request (functions/http.py), once FEEDHOUSE_DOWNLOAD_COUNT_FLUSH_SECONDS have passed
  since its last flush, on a background thread of its own. A thread starts with an empty context, so
  its storage requests are not counted to the request that started it (shared.storage.counting), and
  the request does not wait for it; a failed flush is logged and its counts kept for the next one.
- by a timer every minute (functions/maintenance.py); Functions runs a timer on one instance only,
  so an idle instance's counts wait for its next request.

So counts lag by up to the flush interval on an instance that keeps serving, and longer on one that
goes idle; counts an instance held when it stopped or crashed before flushing are lost. Memory is
bounded: past ``MAX_PENDING_FILES`` distinct files gathered and not yet written, further downloads
of other files go uncounted (and logged).

Table Storage has no atomic increment, so a flush reads a project's count rows and writes them back
in one transaction conditioned on their ETags (inserting rows not there yet), rereading and retrying
when another instance's flush got there first. File and version counts of a project are written in
one transaction (so they agree); the feed's totals row is merged the same way after them. Only GETs
of a file the feed holds count (a HEAD, a Range request resuming a download, a core metadata file
or an upstream file passed through without being saved do not); in redirect mode the redirect
counts, since the client then reads the blob directly.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from shared import settings
from shared.keys import (
    DOWNLOADS_TABLE,
    FEED_COUNT_ROW,
    count_row_of,
    feed_counts_partition,
    file_count_row,
    project_counts_partition,
    version_count_row,
)
from shared.packages import format_time, parse_time
from shared.storage import RecordChanged, RecordExists, Storage, get_storage

logger = logging.getLogger("feedhouse")

# Distinct files one instance holds counts of between flushes (a few MB at most).
MAX_PENDING_FILES = 50_000
# Files of one project written in one transaction: a file row and its version's row each, at most
# 100 operations.
_FILES_PER_TRANSACTION = 50
# Conditional writes tried before a flush gives up (its counts kept for the next one).
_ATTEMPTS = 12


@dataclass(frozen=True)
class Count:
    total: int = 0
    last_download: datetime | None = None

    def plus(self, other: Count) -> Count:
        moments = [m for m in (self.last_download, other.last_download) if m is not None]
        return Count(self.total + other.total, max(moments) if moments else None)

    def to_json(self) -> dict[str, Any]:
        last = format_time(self.last_download) if self.last_download is not None else None
        return {"total": self.total, "last_download": last}


@dataclass(frozen=True)
class ProjectCounts:
    files: dict[str, Count]  # by file name
    versions: dict[str, Count]  # by canonical version

    def file(self, filename: str) -> Count:
        return self.files.get(filename, Count())

    def version(self, version_key: str) -> Count:
        return self.versions.get(version_key, Count())


def _count_of(record: dict[str, Any] | None) -> Count:
    if record is None:
        return Count()
    total = record.get("Total", 0)
    # The SDK reads a number past 32 bits back as an EntityProperty.
    total = int(getattr(total, "value", total))
    last = record.get("LastDownload")
    return Count(total, parse_time(last) if last else None)


def _row(partition: str, row: str, count: Count, stored: dict[str, Any] | None) -> dict[str, Any]:
    last = format_time(count.last_download) if count.last_download is not None else None
    return {
        **(stored or {}),
        "PartitionKey": partition,
        "RowKey": row,
        "Total": count.total,
        "LastDownload": last,
    }


# Reading -------------------------------------------------------------------------------------------


def project_counts(storage: Storage, feed_key: str, project: str) -> ProjectCounts:
    """What has been flushed of a project's downloads: one query."""
    files: dict[str, Count] = {}
    versions: dict[str, Count] = {}
    for record in storage.partition(DOWNLOADS_TABLE, project_counts_partition(feed_key, project)):
        match count_row_of(record["RowKey"]):
            case ("file", filename):
                files[filename] = _count_of(record)
            case ("version", version_key):
                versions[version_key] = _count_of(record)
    return ProjectCounts(files, versions)


def last_downloads(storage: Storage, feed_key: str, project: str) -> dict[str, datetime]:
    """Canonical version → when a file of it was last downloaded (as flushed; see the module's lag),
    for the versions of ``project`` ever downloaded: what retention reads."""
    versions = project_counts(storage, feed_key, project).versions
    return {version: count.last_download for version, count in versions.items() if count.last_download}


def feed_counts(storage: Storage, feed_key: str) -> Count:
    """The feed's totals over all its projects (as flushed)."""
    return _count_of(storage.get(DOWNLOADS_TABLE, feed_counts_partition(feed_key), FEED_COUNT_ROW))


def forget_feed(storage: Storage, feed_key: str) -> None:
    """Delete a purged feed's counts."""
    records = storage.partition(DOWNLOADS_TABLE, feed_counts_partition(feed_key))
    records += storage.partitions_with_prefix(DOWNLOADS_TABLE, project_counts_partition(feed_key, ""))
    for record in records:
        storage.delete(DOWNLOADS_TABLE, record["PartitionKey"], record["RowKey"])


# Gathering and flushing ----------------------------------------------------------------------------


@dataclass
class _Gathered:
    version_key: str
    total: int
    last: datetime


class Aggregator:
    """One instance's counts not yet written. Thread-safe: every worker thread adds to it."""

    def __init__(self, max_files: int = MAX_PENDING_FILES) -> None:
        self._lock = threading.Lock()
        self._flushing = threading.Lock()
        self._max_files = max_files
        # (feed key, project, file name) → what was gathered; feed key → its totals, kept apart so
        # that a failed write of either is kept without counting the other twice.
        self._files: dict[tuple[str, str, str], _Gathered] = {}
        self._feeds: dict[str, Count] = {}
        self._last_flush = time.monotonic()
        self._dropped = 0

    def add(self, feed_key: str, project: str, filename: str, version_key: str, now: datetime) -> None:
        with self._lock:
            if self._add_file((feed_key, project, filename), _Gathered(version_key, 1, now)):
                self._feeds[feed_key] = self._feeds.get(feed_key, Count()).plus(Count(1, now))

    def _add_file(self, key: tuple[str, str, str], gathered: _Gathered) -> bool:
        held = self._files.get(key)
        if held is None:
            if len(self._files) >= self._max_files:
                self._dropped += gathered.total
                return False
            self._files[key] = gathered
        else:
            held.total += gathered.total
            held.last = max(held.last, gathered.last)
        return True

    def due(self, seconds: float) -> bool:
        with self._lock:
            return bool(self._files) and time.monotonic() - self._last_flush >= seconds

    def flush_in_background(self, storage: Storage) -> None:
        """Start a flush on a thread of its own, unless one is running."""
        if not self._flushing.acquire(blocking=False):
            return
        # A new thread starts with an empty context: its storage requests count for no request.
        thread = threading.Thread(
            target=self._flush_held, args=(storage,), name="download-counts", daemon=True
        )
        try:
            thread.start()
        except RuntimeError:  # no thread to be had (the interpreter is shutting down): next time
            self._flushing.release()

    def flush(self, storage: Storage) -> None:
        """Write what was gathered; what cannot be written now is kept for the next flush."""
        with self._flushing:
            self._write(storage)

    def _flush_held(self, storage: Storage) -> None:
        try:
            self._write(storage)
        finally:
            self._flushing.release()

    def _write(self, storage: Storage) -> None:
        with self._lock:
            files, self._files = self._files, {}
            feeds, self._feeds = self._feeds, {}
            dropped, self._dropped = self._dropped, 0
            self._last_flush = time.monotonic()
        if dropped:
            logger.warning("Download counts: %d download(s) not counted, too many files pending", dropped)
        by_project: dict[tuple[str, str], dict[str, _Gathered]] = {}
        for (feed_key, project, filename), gathered in files.items():
            by_project.setdefault((feed_key, project), {})[filename] = gathered
        for (feed_key, project), gathered_files in by_project.items():
            for group in _groups(gathered_files):
                try:
                    _write_files(storage, feed_key, project, group)
                except Exception:
                    logger.exception("Download counts of %s in feed %s not written; kept", project, feed_key)
                    self._give_back_files(feed_key, project, group)
        for feed_key, count in feeds.items():
            try:
                _merge(storage, feed_counts_partition(feed_key), {FEED_COUNT_ROW: count})
            except Exception:
                logger.exception("Download totals of feed %s not written; kept", feed_key)
                with self._lock:
                    self._feeds[feed_key] = self._feeds.get(feed_key, Count()).plus(count)

    def _give_back_files(self, feed_key: str, project: str, group: dict[str, _Gathered]) -> None:
        with self._lock:
            for filename, gathered in group.items():
                self._add_file((feed_key, project, filename), gathered)


def _groups(files: dict[str, _Gathered]) -> Iterator[dict[str, _Gathered]]:
    names = sorted(files)
    for start in range(0, len(names), _FILES_PER_TRANSACTION):
        yield {name: files[name] for name in names[start : start + _FILES_PER_TRANSACTION]}


def _write_files(storage: Storage, feed_key: str, project: str, files: dict[str, _Gathered]) -> None:
    adds: dict[str, Count] = {}
    for filename, gathered in files.items():
        for row in (file_count_row(filename), version_count_row(gathered.version_key)):
            adds[row] = adds.get(row, Count()).plus(Count(gathered.total, gathered.last))
    _merge(storage, project_counts_partition(feed_key, project), adds)


def _merge(storage: Storage, partition: str, adds: dict[str, Count]) -> None:
    """Add ``adds`` (row → count to add) to the count rows of one partition, atomically: read, add,
    write back on the ETags read (or insert), and on a conflict with another writer read again."""
    for attempt in range(_ATTEMPTS):
        stored = {
            r["RowKey"]: r for r in storage.partition(DOWNLOADS_TABLE, partition) if r["RowKey"] in adds
        }
        insert, replace = [], []
        for row, add in adds.items():
            old = stored.get(row)
            new = _count_of(old).plus(add)
            (insert if old is None else replace).append(_row(partition, row, new, old))
        try:
            storage.transact(DOWNLOADS_TABLE, insert=insert, replace=replace)
            return
        except (RecordChanged, RecordExists):
            if attempt == _ATTEMPTS - 1:
                raise
            # Writers that collided should not collide again at once.
            time.sleep(random.uniform(0, 0.01 * 2 ** min(attempt, 6)))  # noqa: S311 (jitter, not a secret)


_aggregator = Aggregator()


def record(feed_key: str, project: str, filename: str, version_key: str) -> None:
    """Count one download of a file of the feed: in memory, no storage request."""
    _aggregator.add(feed_key, project, filename, version_key, datetime.now(UTC))


def flush_if_due() -> None:
    """Start a flush on a background thread if the flush interval has passed and there is something
    to write (after every request: functions/http.py). Never raises: the request is served."""
    try:
        if _aggregator.due(settings.load().download_count_flush_seconds):
            _aggregator.flush_in_background(get_storage())
    except Exception:
        logger.exception("Download counts: no flush started")


def flush(storage: Storage) -> None:
    """Write this instance's gathered counts now (the timer; tests)."""
    _aggregator.flush(storage)
