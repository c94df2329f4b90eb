"""Deleting, restoring and purging package files: a feed's recycle bin.

Deleting a version (or one file) hides its files at once and puts them in the feed's recycle bin, where
they stay restorable for FEEDHOUSE_RECYCLE_BIN_DAYS; then ``purge_expired`` (run daily by a timer)
deletes their blobs. Their file rows stay for good (State ``purged``): a file name is never uploaded
twice, as on PyPI.

The file rows are the truth. The bin (table ``recyclebin``, PartitionKey = feed key, RowKey =
``<project>:<canonical version>``) is an index so that listing a feed's bin is one partition query and
the purge finds its work without scanning. Every change to file rows is followed by ``_sync_entry``,
which rebuilds the entry from the rows under an ETag condition, so concurrent changes converge and a
crash leaves at worst an entry that the next sync corrects. Deletion writes the entry first, so a
deleted file is always listed (and therefore purged) even if the process dies halfway.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypeVar

from shared import feeds
from shared.errors import Conflict
from shared.packages import (
    ACTIVE,
    DELETED,
    PURGED,
    FileNotFound,
    ReleaseNotFound,
    format_time,
    parse_time,
    parse_version,
    read_project,
    version_key,
)
from shared.storage import (
    FILES_TABLE,
    RECYCLE_BIN_TABLE,
    RecordChanged,
    RecordExists,
    Storage,
)

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

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> BinEntry:
        files = tuple(BinnedFile(**f) for f in json.loads(record.get("Files") or "[]"))
        return cls(record["Project"], record["Version"], files)


def _entry_key(project: str, version: str) -> str:
    # ':' is in neither a normalized project name nor a version.
    return f"{project}:{version_key(version)}"


def _sync_entry(
    storage: Storage,
    feed_key: str,
    project: str,
    version: str,
    *,
    pending: tuple[BinnedFile, ...] = (),
    drop: frozenset[str] = frozenset(),
) -> None:
    """Make the bin entry of one version list its files in the bin, plus ``pending`` (about to be).

    A purged file stays listed until the purge that deleted its blobs drops it, so that a purge that
    died between marking a row and deleting the blobs is finished by the next run.
    """
    row_key = _entry_key(project, version)
    key = version_key(version)
    for _attempt in range(_ATTEMPTS):
        # The entry is read before the rows: a write landing in between makes ours fail, and we retry.
        entry = storage.get(RECYCLE_BIN_TABLE, feed_key, row_key)
        rows = {f.filename: f for f in read_project(storage, feed_key, project).files}
        binned: dict[str, BinnedFile] = {}
        for listed in BinEntry.from_record(entry).files if entry else ():
            row = rows.get(listed.filename)
            if row is not None and row.state == PURGED and listed.filename not in drop:
                binned[listed.filename] = listed
        for row in rows.values():
            if row.state == DELETED and row.version_key == key:
                binned[row.filename] = BinnedFile(row.filename, row.deleted_at or "", row.deleted_by or "")
        for listed in pending:
            binned.setdefault(listed.filename, listed)
        try:
            if not binned:
                if entry is not None:
                    storage.delete_unchanged(RECYCLE_BIN_TABLE, entry)
                return
            fields = {
                "PartitionKey": feed_key,
                "RowKey": row_key,
                "Project": project,
                "Version": version,
                "Files": json.dumps([vars(f) for f in sorted(binned.values(), key=lambda f: f.filename)]),
            }
            if entry is None:
                storage.insert(RECYCLE_BIN_TABLE, fields)
            else:
                storage.replace(RECYCLE_BIN_TABLE, {**entry, **fields})
            return
        except (RecordChanged, RecordExists):
            continue
    raise Conflict(f"The recycle bin entry of {project} {version} keeps changing; retry.")


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


def _move_to_bin(
    storage: Storage,
    feed_key: str,
    project: str,
    version: str,
    records: list[dict[str, Any]],
    by: str,
    now: datetime,
) -> list[str]:
    when = format_time(now)
    pending = tuple(BinnedFile(r["RowKey"], when, by) for r in records)
    _sync_entry(storage, feed_key, project, version, pending=pending)
    try:
        storage.replace_all(
            FILES_TABLE, [{**r, "State": DELETED, "DeletedAt": when, "DeletedBy": by} for r in records]
        )
    except RecordChanged:
        _sync_entry(storage, feed_key, project, version)
        raise
    _sync_entry(storage, feed_key, project, version)
    return [r["RowKey"] for r in records]


def delete_version(
    storage: Storage, feed_key: str, project: str, version: str, *, by: str, now: datetime
) -> list[str]:
    """Move every file of one version to the recycle bin; the names of the files moved."""
    parse_version(version, project)

    def attempt() -> list[str]:
        records = read_project(storage, feed_key, project).file_records(version=version, state=ACTIVE)
        if not records:
            raise ReleaseNotFound(f"No version '{version}' of project '{project}' to delete.")
        return _move_to_bin(storage, feed_key, project, records[0]["Version"], records, by, now)

    return _retrying(f"The files of {project} {version}", attempt)


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

    return _retrying(f"The files of {project}", attempt)


def list_recycle_bin(storage: Storage, feed_key: str) -> list[BinEntry]:
    """A feed's recycle bin, one entry per version with deleted files: one partition query."""
    entries = [BinEntry.from_record(r) for r in storage.partition(RECYCLE_BIN_TABLE, feed_key)]
    return sorted((e for e in entries if e.files), key=lambda e: (e.project, version_key(e.version)))


def _not_in_bin(project: str, version: str) -> ReleaseNotFound:
    return ReleaseNotFound(f"Version '{version}' of project '{project}' is not in the recycle bin.")


def restore_version(storage: Storage, feed_key: str, project: str, version: str) -> list[str]:
    """Bring back every file of one version from the recycle bin; the names restored."""
    parse_version(version, project)

    def attempt() -> list[str]:
        records = read_project(storage, feed_key, project).file_records(version=version, state=DELETED)
        if not records:
            raise _not_in_bin(project, version)
        restored = [
            {k: v for k, v in r.items() if k not in ("DeletedAt", "DeletedBy")} | {"State": ACTIVE}
            for r in records
        ]
        try:
            storage.replace_all(FILES_TABLE, restored)
        finally:
            _sync_entry(storage, feed_key, project, records[0]["Version"])
        return [r["RowKey"] for r in records]

    return _retrying(f"The files of {project} {version}", attempt)


def _purge(
    storage: Storage, feed_key: str, project: str, version: str, *, now: datetime, retention: timedelta | None
) -> list[str]:
    """Purge the version's binned files (all, or those past ``retention``): rows first, then blobs."""
    records = read_project(storage, feed_key, project).file_records(version=version)
    due = [
        r
        for r in records
        if r.get("State") == DELETED and (retention is None or parse_time(r["DeletedAt"]) + retention <= now)
    ]
    # Rows of files purged by an earlier run that died before deleting their blobs.
    entry = storage.get(RECYCLE_BIN_TABLE, feed_key, _entry_key(project, version))
    listed = {f.filename for f in BinEntry.from_record(entry).files} if entry else set()
    leftovers = [r for r in records if r.get("State") == PURGED and r["RowKey"] in listed]
    if due:
        try:
            storage.replace_all(
                FILES_TABLE, [{**r, "State": PURGED, "PurgedAt": format_time(now)} for r in due]
            )
        except RecordChanged:
            # Restored or purged meanwhile: leave it to the next run.
            return []
    for record in due + leftovers:
        for blob in (record.get("Blob"), record.get("MetadataBlob")):
            if blob:
                storage.delete_blob(blob)
    _sync_entry(storage, feed_key, project, version, drop=frozenset(r["RowKey"] for r in due + leftovers))
    return [r["RowKey"] for r in due]


def purge_version(storage: Storage, feed_key: str, project: str, version: str, *, now: datetime) -> list[str]:
    """Purge one version's files from the recycle bin now, whatever their age."""
    parse_version(version, project)
    records = read_project(storage, feed_key, project).file_records(version=version, state=DELETED)
    if not records:
        raise _not_in_bin(project, version)
    return _purge(storage, feed_key, project, records[0]["Version"], now=now, retention=None)


@dataclass(frozen=True)
class PurgedFile:
    feed: str
    project: str
    filename: str


def purge_expired(storage: Storage, *, now: datetime, retention: timedelta) -> list[PurgedFile]:
    """Purge every file, in every feed, that has been in the recycle bin for ``retention`` or longer."""
    purged = []
    for feed in feeds.list_feeds(storage):
        for entry in storage.partition(RECYCLE_BIN_TABLE, feed.key):
            project, version = entry["Project"], entry["Version"]
            for filename in _purge(storage, feed.key, project, version, now=now, retention=retention):
                purged.append(PurgedFile(feed.name, project, filename))
    return purged
