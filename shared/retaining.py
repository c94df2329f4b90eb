"""Retention at work: registered lockfiles, owner pins, the preview and the run.

shared/retention.py decides (a pure plan per project); this module reads what the plan needs from
storage and carries it out:

- Lockfiles an owner registers on a feed: a row each in table ``lockfiles`` (partition: the feed key,
  row: the SHA-256 of the registered name), the file as sent and its pins (``Lockfile.to_json``) in
  blobs under ``{feed_key}/_lockfiles/{row}/{sha256}/``, so that registering a name again writes new
  blobs before the row points at them. At most MAX_LOCKFILES per feed: every run reads them all.
- Owner pins: ``Pinned`` on the version's release row (the row its yanked state is on).
- The preview and the run read the same things and make the same plan. The run deletes a version as a
  manual delete does (to the recycle bin, recorded in the history, by ``retention:policy``), and checks
  the plan again on the rows it is about to change, in the same conditional write: a pin landing
  between the check and the write changes the release row the write requires unchanged, so the write
  fails, is retried on fresh rows, and the version stays. A promotion is a row of its own; one that
  lands in the milliseconds between that read and that write is not seen, and leaves its version in the
  recycle bin, from where it is restored as any deleted version.
"""

from __future__ import annotations

import hashlib
import io
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from shared import download_counts, feeds, history, lifecycle, page_documents, views
from shared.errors import Conflict, NotFound
from shared.keys import (
    FILES_TABLE,
    LOCKFILES_TABLE,
    files_partition,
    lockfile_blob,
    lockfile_pins_blob,
    lockfile_row,
    lockfiles_partition,
)
from shared.lockfiles import InvalidLockfile, Lockfile, parse_lockfile
from shared.packages import (
    ACTIVE,
    DELETED,
    ProjectRecords,
    ReleaseNotFound,
    format_time,
    list_projects_page,
    parse_time,
    parse_version,
    read_project,
    release_row_key,
    version_key,
)
from shared.retention import LockfilePins, ProjectPlan, RetentionPolicy, VersionState, plan
from shared.storage import BlobNotFound, RecordChanged, RecordExists, Storage

# Who retention's deletions are by, in the recycle bin and the history.
BY = "retention:policy"
MAX_LOCKFILES = 100
LOCKFILE_NAME_MAX_LENGTH = 200
_ATTEMPTS = 5


class LockfileNotFound(NotFound):
    code = "lockfile_not_found"


class TooManyLockfiles(Conflict):
    code = "too_many_lockfiles"


@dataclass(frozen=True)
class RegisteredLockfile:
    name: str
    format: str
    pin_count: int
    sha256: str
    registered_by: str
    registered_at: str

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> RegisteredLockfile:
        return cls(
            record["Name"],
            record["Format"],
            int(record["PinCount"]),
            record["Sha256"],
            record.get("RegisteredBy", ""),
            record.get("RegisteredAt", ""),
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "format": self.format,
            "pins": self.pin_count,
            "sha256": self.sha256,
            "registered_by": self.registered_by,
            "registered_at": self.registered_at,
        }


def validate_lockfile_name(name: str) -> str:
    if not name or len(name) > LOCKFILE_NAME_MAX_LENGTH or not name.isprintable():
        raise InvalidLockfile(
            f"A lockfile's name is 1 to {LOCKFILE_NAME_MAX_LENGTH} printable characters, such as uv.lock."
        )
    return name


def _blobs(feed_key: str, record: dict[str, Any]) -> tuple[str, str]:
    row = f"{record['RowKey']}/{record['Sha256']}"
    return lockfile_blob(feed_key, row), lockfile_pins_blob(feed_key, row)


def register_lockfile(
    storage: Storage, feed_key: str, name: str, content: bytes, *, by: str, now: datetime
) -> RegisteredLockfile:
    """Register (or replace) the lockfile ``name``: parsed first, so a malformed one stores nothing."""
    name = validate_lockfile_name(name)
    lockfile = parse_lockfile(content, name)
    partition, row = lockfiles_partition(feed_key), lockfile_row(name)
    record = {
        "PartitionKey": partition,
        "RowKey": row,
        "Name": name,
        "Format": lockfile.format.value,
        "PinCount": len(lockfile.pins),
        "Sha256": hashlib.sha256(content).hexdigest(),
        "RegisteredBy": by,
        "RegisteredAt": format_time(now),
    }
    raw, pins = _blobs(feed_key, record)
    pins_json = json.dumps(lockfile.to_json(), separators=(",", ":")).encode()
    # Content-addressed: blobs written before the row that names them, never over ones in use.
    written = ((raw, content, "text/plain; charset=utf-8"), (pins, pins_json, "application/json"))
    for blob, data, kind in written:
        storage.create_blob(blob, io.BytesIO(data), length=len(data), content_type=kind)
    previous = storage.get(LOCKFILES_TABLE, partition, row)
    if previous is None and len(storage.partition(LOCKFILES_TABLE, partition)) >= MAX_LOCKFILES:
        raise TooManyLockfiles(f"A feed has at most {MAX_LOCKFILES} registered lockfiles; remove one first.")
    storage.upsert(LOCKFILES_TABLE, record)
    if previous is not None and previous["Sha256"] != record["Sha256"]:
        for blob in _blobs(feed_key, previous):
            storage.delete_blob(blob)
    history.record(
        storage, feed_key, history.LOCKFILE_REGISTER, by=by, lockfile=name, pins=len(lockfile.pins)
    )
    return RegisteredLockfile.from_record(record)


def list_lockfiles(storage: Storage, feed_key: str) -> list[RegisteredLockfile]:
    records = storage.partition(LOCKFILES_TABLE, lockfiles_partition(feed_key))
    return sorted((RegisteredLockfile.from_record(r) for r in records), key=lambda f: f.name)


def _lockfile_record(storage: Storage, feed_key: str, name: str) -> dict[str, Any]:
    record = storage.get(LOCKFILES_TABLE, lockfiles_partition(feed_key), lockfile_row(name))
    if record is None:
        raise LockfileNotFound(f"No lockfile named '{name[:LOCKFILE_NAME_MAX_LENGTH]}' is registered.")
    return record


def get_lockfile(storage: Storage, feed_key: str, name: str) -> tuple[RegisteredLockfile, Lockfile]:
    record = _lockfile_record(storage, feed_key, name)
    return RegisteredLockfile.from_record(record), _read_pins(storage, feed_key, record)


def _read_pins(storage: Storage, feed_key: str, record: dict[str, Any]) -> Lockfile:
    return Lockfile.from_json(json.loads(storage.read_blob(_blobs(feed_key, record)[1])))


def unregister_lockfile(storage: Storage, feed_key: str, name: str, *, by: str) -> None:
    record = _lockfile_record(storage, feed_key, name)
    storage.delete(LOCKFILES_TABLE, record["PartitionKey"], record["RowKey"])
    for blob in _blobs(feed_key, record):
        storage.delete_blob(blob)
    history.record(storage, feed_key, history.LOCKFILE_UNREGISTER, by=by, lockfile=record["Name"])


def lockfile_pins(storage: Storage, feed_key: str) -> LockfilePins:
    """What every registered lockfile of the feed pins."""
    for _attempt in range(_ATTEMPTS):
        records = storage.partition(LOCKFILES_TABLE, lockfiles_partition(feed_key))
        try:
            return LockfilePins({r["Name"]: _read_pins(storage, feed_key, r) for r in records})
        except BlobNotFound:
            continue  # registered again or removed since the rows were read: read them again
    raise Conflict("The feed's lockfiles kept changing meanwhile; try again.")


# Owner pins --------------------------------------------------------------------------------------


def set_pinned(
    storage: Storage, feed_key: str, project: str, version: str, *, pinned: bool, by: str, now: datetime
) -> bool:
    """Pin (or unpin) a version with active files against retention, on its release row."""
    parse_version(version, project)
    document = page_documents.current(storage, feed_key, project).document
    files = [f for f in document.files if f.release == version_key(version)]
    if not files:
        raise ReleaseNotFound(f"No version '{version}' of project '{project}'.")
    partition, row = files_partition(feed_key, project), release_row_key(version)
    state = {
        "Pinned": pinned,
        "PinnedBy": by if pinned else None,
        "PinnedAt": format_time(now) if pinned else None,
    }
    for _attempt in range(_ATTEMPTS):
        release = storage.get(FILES_TABLE, partition, row)
        try:
            if release is None:
                record = {"PartitionKey": partition, "RowKey": row, "Version": files[0].version}
                storage.insert(FILES_TABLE, {**record, **state})
            else:
                # Always a write, also when already pinned: it changes the ETag a retention run
                # about to delete the version requires unchanged (module docstring).
                storage.replace(FILES_TABLE, {**release, **state})
        except (RecordExists, RecordChanged):
            continue
        history.record(
            storage,
            feed_key,
            history.PIN if pinned else history.UNPIN,
            by=by,
            project=project,
            version=files[0].version,
        )
        return pinned
    raise Conflict(f"Version {version} of {project} was changed meanwhile; retry.")


# Plans -------------------------------------------------------------------------------------------


def version_states(
    records: ProjectRecords, feed_views: views.FeedViews, downloads: dict[str, datetime]
) -> list[VersionState]:
    """What the plan needs of each version of a project that still has files (active or binned)."""
    in_views = views.views_by_release(feed_views, records.records)
    by_version: dict[str, list[Any]] = {}
    for f in records.files:
        if f.state in (ACTIVE, DELETED):
            by_version.setdefault(f.version_key, []).append(f)
    states = []
    for key, files in by_version.items():
        release = records.releases.get(key)
        row = next((r for r in records.records if r["RowKey"] == release_row_key(key)), {})
        states.append(
            VersionState(
                version=files[0].version,  # as published: 1.0, not its canonical 1
                # The latest upload: a file added to a version is as new as the version.
                uploaded=max(parse_time(f.uploaded) for f in files),
                last_downloaded=downloads.get(key),
                views=frozenset(in_views.get(key, ())),
                pinned=bool(row.get("Pinned")),
                yanked=bool(release and release.yanked),
                deleted=all(f.state == DELETED for f in files),
            )
        )
    return states


def plan_project(
    storage: Storage,
    feed: feeds.Feed,
    project: str,
    policy: RetentionPolicy,
    pins: LockfilePins,
    *,
    now: datetime,
    records: ProjectRecords | None = None,
) -> ProjectPlan:
    records = records if records is not None else read_project(storage, feed.key, project)
    downloads = download_counts.last_downloads(storage, feed.key, project)
    return plan(policy, project, version_states(records, feed.views, downloads), pins, now=now)


def preview(
    storage: Storage,
    feed: feeds.Feed,
    policy: RetentionPolicy,
    *,
    continuation: str | None,
    limit: int,
    now: datetime,
) -> tuple[list[ProjectPlan], str | None]:
    """One page of projects with what ``policy`` would delete of each now, and the next page's
    continuation."""
    projects, following = list_projects_page(storage, feed.key, continuation=continuation, limit=limit)
    pins = lockfile_pins(storage, feed.key)
    return [plan_project(storage, feed, p.name, policy, pins, now=now) for p in projects], following


@dataclass(frozen=True)
class Deletion:
    feed: str
    project: str
    version: str


def apply(storage: Storage, feed: feeds.Feed, *, now: datetime) -> list[Deletion]:
    """Apply the feed's policy now: every version its plan deletes goes to the recycle bin, unless a
    fresh read of the version's rows, just before the delete, says it stays. The feed is read again
    first: a policy changed or removed moments ago, or a feed deleted, on another instance counts."""
    stored = feeds.find_feed_even_deleted(storage, feed.name)
    if stored is None or stored.key != feed.key or stored.deleted is not None or stored.retention is None:
        return []
    feed = stored
    policy, pins = feed.retention, lockfile_pins(storage, feed.key)
    deleted = []
    continuation: str | None = None
    while True:
        projects, continuation = list_projects_page(storage, feed.key, continuation=continuation, limit=100)
        for project in projects:
            name = project.name
            for version in plan_project(storage, feed, name, policy, pins, now=now).deletions:
                if _delete_if_still_planned(storage, feed, name, version, policy, pins, now=now):
                    deleted.append(Deletion(feed.name, name, version))
        if continuation is None:
            return deleted


def _delete_if_still_planned(
    storage: Storage,
    feed: feeds.Feed,
    project: str,
    version: str,
    policy: RetentionPolicy,
    pins: LockfilePins,
    *,
    now: datetime,
) -> bool:
    def still_goes(records: ProjectRecords) -> bool:
        fresh = plan_project(storage, feed, project, policy, pins, now=now, records=records)
        return version in fresh.deletions

    try:
        lifecycle.delete_version(storage, feed.key, project, version, by=BY, now=now, still=still_goes)
    except (NotFound, Conflict):
        return False  # deleted, kept or changed meanwhile: the next run sees it afresh
    return True


def apply_all(storage: Storage, *, now: datetime) -> list[Deletion]:
    """Apply every feed's policy (the daily timer)."""
    deleted = []
    for feed in feeds.list_feeds(storage):
        deleted += apply(storage, feed, now=now)
    return deleted
