"""Deleting, restoring and purging package files: a feed's recycle bin.

Deleting a version (or one file) hides its files at once and puts them in the feed's recycle bin, where
they stay restorable for FEEDHOUSE_RECYCLE_BIN_DAYS; then ``purge_expired`` (run daily by a timer)
deletes their blobs. Their file rows stay for good (State ``purged``): a file name is never uploaded
twice, as on PyPI.

The file rows are the truth: a file is in the bin while its row is ``deleted``. The bin (table
``recyclebin``, PartitionKey = feed key, RowKey = ``<project>:<canonical version>``) only indexes the
versions that may have files there, so that listing a feed's bin and purging find their work without
scanning every project. An entry holds no file list: a version can have hundreds of files, more than
Table Storage takes in one property (64 KiB). Deletion writes the entry before and after marking the
rows, so a deleted file is always indexed, even if the process dies halfway. Only a purge removes an
entry, once none of the version's files is left in the bin, under an ETag condition: a deletion that
rewrote the entry meanwhile keeps it.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypeVar

from shared import feeds, history, page_documents
from shared.errors import Conflict, NotFound
from shared.keys import FILES_TABLE, RECYCLE_BIN_TABLE, bin_partition, bin_row
from shared.packages import (
    ACTIVE,
    DELETED,
    PURGED,
    FileNotFound,
    ProjectRecords,
    ReleaseNotFound,
    StoredFile,
    forget_files,
    format_time,
    parse_time,
    parse_version,
    read_project,
    release_row_key,
    version_key,
)
from shared.storage import RecordChanged, Storage

_ATTEMPTS = 5
T = TypeVar("T")


@dataclass(frozen=True)
class BinnedFile:
    filename: str
    deleted_at: str
    deleted_by: str

    def purge_after(self, retention: timedelta) -> datetime:
        return parse_time(self.deleted_at) + retention

    def to_json(self, retention: timedelta) -> dict[str, Any]:
        return {
            "filename": self.filename,
            "deleted_at": self.deleted_at,
            "deleted_by": self.deleted_by,
            "purge_after": format_time(self.purge_after(retention)),
        }

    @classmethod
    def of(cls, row: StoredFile) -> BinnedFile:
        return cls(row.filename, row.deleted_at or "", row.deleted_by or "")


@dataclass(frozen=True)
class BinEntry:
    """The deleted files of one version of one project."""

    project: str
    version: str
    files: tuple[BinnedFile, ...]

    def to_json(self, retention: timedelta) -> dict[str, Any]:
        return {
            "project": self.project,
            "version": self.version,
            "files": [f.to_json(retention) for f in self.files],
            "purge_after": format_time(min(f.purge_after(retention) for f in self.files)),
        }


def _entry_key(project: str, version: str) -> str:
    return bin_row(project, version_key(version))


def _write_entry(storage: Storage, feed_key: str, project: str, version: str) -> None:
    """Index the version in the bin. Always a write, never "already there": its new ETag tells a purge
    about to drop the entry that the version changed meanwhile."""
    storage.upsert(
        RECYCLE_BIN_TABLE,
        {
            "PartitionKey": bin_partition(feed_key),
            "RowKey": _entry_key(project, version),
            "Project": project,
            "Version": version,
        },
    )


def _retrying(what: str, attempt: Callable[[], T]) -> T:
    """Run a change of file rows again when a concurrent write to them made it fail.

    Each attempt reads the rows afresh: a concurrent change (a metadata backfill, another delete)
    then either leaves work to do, which is done, or leaves none, which the attempt reports as a
    later request would (404). Only a change that keeps losing is a 409.
    """
    for _attempt in range(_ATTEMPTS):
        try:
            return attempt()
        except RecordChanged:
            continue
    raise Conflict(f"{what} kept changing meanwhile; read them again and retry.")


def _documented(storage: Storage, feed_key: str, project: str, change: Callable[[], T]) -> T:
    """Run a change of the project's file rows, then rebuild its page document from all of its rows,
    also when there was nothing to change (a NotFound): doing it again then repairs a document that a
    change which died halfway left behind."""
    try:
        result = change()
    except NotFound:
        page_documents.follow_all(storage, feed_key, project)
        raise
    page_documents.follow_all(storage, feed_key, project)
    return result


def _move_to_bin(
    storage: Storage,
    feed_key: str,
    project: str,
    version: str,
    records: list[dict[str, Any]],
    by: str,
    now: datetime,
    unchanged: tuple[dict[str, Any], ...] = (),
) -> list[str]:
    when = format_time(now)
    _write_entry(storage, feed_key, project, version)
    # RecordChanged (a concurrent write to the rows) reaches _retrying, which reads them again.
    try:
        storage.replace_all(
            FILES_TABLE,
            [*unchanged, *({**r, "State": DELETED, "DeletedAt": when, "DeletedBy": by} for r in records)],
        )
    finally:  # even if it failed part-way: whatever was deleted is no longer downloaded here
        forget_files(feed_key, project, [r["RowKey"] for r in records])
        page_documents.forget(feed_key, project)
    # Again: a purge that read the rows before they changed must not drop the entry.
    _write_entry(storage, feed_key, project, version)
    return [r["RowKey"] for r in records]


class KeptMeanwhile(Conflict):
    code = "kept_meanwhile"


def delete_version(
    storage: Storage,
    feed_key: str,
    project: str,
    version: str,
    *,
    by: str,
    now: datetime,
    still: Callable[[ProjectRecords], bool] | None = None,
) -> list[str]:
    """Move every file of one version to the recycle bin; the names of the files moved.

    ``still`` (retention's) decides again on the project's rows as read for the delete: False keeps
    the version (KeptMeanwhile). The write then also requires the version's release row unchanged, so
    a change of it after that read (an owner's pin) makes the write fail and the decision be taken
    again on fresh rows."""
    parse_version(version, project)

    def attempt() -> list[str]:
        project_records = read_project(storage, feed_key, project)
        records = project_records.file_records(version=version, state=ACTIVE)
        if not records:
            raise ReleaseNotFound(f"No version '{version}' of project '{project}' to delete.")
        unchanged: tuple[dict[str, Any], ...] = ()
        if still is not None:
            if not still(project_records):
                raise KeptMeanwhile(f"Version {version} of {project} is to be kept now.")
            release = release_row_key(version)
            unchanged = tuple(r for r in project_records.records if r["RowKey"] == release)
        return _move_to_bin(storage, feed_key, project, records[0]["Version"], records, by, now, unchanged)

    moved = _documented(
        storage, feed_key, project, lambda: _retrying(f"The files of {project} {version}", attempt)
    )
    history.record(
        storage, feed_key, history.VERSION_DELETE, by=by, project=project, version=version, files=len(moved)
    )
    return moved


def delete_file(
    storage: Storage, feed_key: str, project: str, filename: str, *, by: str, now: datetime
) -> str:
    """Move one file to the recycle bin; the version it belongs to."""

    def attempt() -> str:
        records = read_project(storage, feed_key, project).file_records(state=ACTIVE)
        record = next((r for r in records if r["RowKey"] == filename), None)
        if record is None:
            raise FileNotFound(f"No file '{filename}' in project '{project}'.")
        _move_to_bin(storage, feed_key, project, record["Version"], [record], by, now)
        return record["Version"]

    version = _documented(storage, feed_key, project, lambda: _retrying(f"The files of {project}", attempt))
    history.record(
        storage, feed_key, history.FILE_DELETE, by=by, project=project, version=version, filename=filename
    )
    return version


def list_recycle_bin(storage: Storage, feed_key: str) -> list[BinEntry]:
    """A feed's recycle bin, one entry per version with deleted files: the bin's partition, then the
    files partition of each project in it."""
    indexed: dict[str, list[str]] = {}
    for entry in storage.partition(RECYCLE_BIN_TABLE, bin_partition(feed_key)):
        indexed.setdefault(entry["Project"], []).append(entry["Version"])
    entries = []
    for project, versions in indexed.items():
        deleted = [f for f in read_project(storage, feed_key, project).files if f.state == DELETED]
        for version in versions:
            key = version_key(version)
            files = tuple(BinnedFile.of(f) for f in deleted if f.version_key == key)
            if files:
                entries.append(BinEntry(project, version, files))
    return sorted(entries, key=lambda e: (e.project, version_key(e.version)))


def _not_in_bin(project: str, version: str) -> ReleaseNotFound:
    return ReleaseNotFound(f"Version '{version}' of project '{project}' is not in the recycle bin.")


def restore_version(storage: Storage, feed_key: str, project: str, version: str) -> list[str]:
    """Bring back every file of one version from the recycle bin; the names restored.

    The version's bin entry stays: listing skips it, and the next purge drops it."""
    parse_version(version, project)

    def attempt() -> list[str]:
        records = read_project(storage, feed_key, project).file_records(version=version, state=DELETED)
        if not records:
            raise _not_in_bin(project, version)
        restored = [
            {k: v for k, v in r.items() if k not in ("DeletedAt", "DeletedBy")} | {"State": ACTIVE}
            for r in records
        ]
        storage.replace_all(FILES_TABLE, restored)
        return [r["RowKey"] for r in records]

    names = _documented(
        storage, feed_key, project, lambda: _retrying(f"The files of {project} {version}", attempt)
    )
    history.record(
        storage, feed_key, history.VERSION_RESTORE, project=project, version=version, files=len(names)
    )
    return names


def _delete_blobs(storage: Storage, records: list[dict[str, Any]]) -> None:
    for record in records:
        for blob in (record.get("Blob"), record.get("MetadataBlob"), record.get("ProvenanceBlob")):
            if blob:
                storage.delete_blob(blob)


def _purge(
    storage: Storage, feed_key: str, project: str, version: str, *, now: datetime, retention: timedelta | None
) -> list[str]:
    """Purge the version's binned files (all, or those past ``retention``): rows first, then blobs.
    Once none of the version's files is left in the bin, its entry goes. The page document follows
    the rows, also on a run that finds nothing left to purge (see _documented)."""
    return _documented(
        storage,
        feed_key,
        project,
        lambda: _purge_rows(storage, feed_key, project, version, now=now, retention=retention),
    )


def _purge_rows(
    storage: Storage, feed_key: str, project: str, version: str, *, now: datetime, retention: timedelta | None
) -> list[str]:
    # The entry is read before the rows: a deletion landing in between rewrites it, and it stays.
    entry = storage.get(RECYCLE_BIN_TABLE, bin_partition(feed_key), _entry_key(project, version))
    records = read_project(storage, feed_key, project).file_records(version=version)
    binned = [r for r in records if r.get("State") == DELETED]
    due = [r for r in binned if retention is None or parse_time(r["DeletedAt"]) + retention <= now]
    if due:
        try:
            storage.replace_all(
                FILES_TABLE, [{**r, "State": PURGED, "PurgedAt": format_time(now)} for r in due]
            )
        except RecordChanged:
            # Restored or purged meanwhile: leave it to the next run.
            return []
        _delete_blobs(storage, due)
    if entry is not None and len(due) == len(binned):
        # The entry is what leads a purge to the version: before it goes, delete (again) the blobs of
        # files purged earlier, in case that run died between marking their rows and deleting them.
        purged_now = {r["RowKey"] for r in due}
        earlier = [r for r in records if r.get("State") == PURGED and r["RowKey"] not in purged_now]
        _delete_blobs(storage, earlier)
        with contextlib.suppress(RecordChanged):
            storage.delete_unchanged(RECYCLE_BIN_TABLE, entry)
    if due:
        history.record(
            storage,
            feed_key,
            history.VERSION_PURGE,
            project=project,
            version=version,
            files=len(due),
        )
    return [r["RowKey"] for r in due]


def purge_version(storage: Storage, feed_key: str, project: str, version: str, *, now: datetime) -> list[str]:
    """Purge one version's files from the recycle bin now, whatever their age."""
    parse_version(version, project)

    def purge() -> list[str]:
        records = read_project(storage, feed_key, project).file_records(version=version, state=DELETED)
        if not records:
            raise _not_in_bin(project, version)
        return _purge_rows(storage, feed_key, project, records[0]["Version"], now=now, retention=None)

    return _documented(storage, feed_key, project, purge)


@dataclass(frozen=True)
class PurgedFile:
    feed: str
    project: str
    filename: str


def purge_expired(storage: Storage, *, now: datetime, retention: timedelta) -> list[PurgedFile]:
    """Purge every file, in every feed, that has been in the recycle bin for ``retention`` or longer."""
    purged = []
    for feed in feeds.list_feeds(storage):
        for entry in storage.partition(RECYCLE_BIN_TABLE, bin_partition(feed.key)):
            project, version = entry["Project"], entry["Version"]
            for filename in _purge(storage, feed.key, project, version, now=now, retention=retention):
                purged.append(PurgedFile(feed.name, project, filename))
    return purged
