"""A feed's projects and their files: the records, what they mean, and the blobs they name.

Where each is stored is shared/keys.py: a feed's projects are one partition, a project's files are
one partition. That partition also holds rows that are no file: a release's row, carrying what
belongs to a version rather than a file (its yanked state and the claim on its one sdist), made by
its sdist or its first yank; the owner's choice whether upstream versions of the project may show
(Azure Artifacts' "allow external versions"); and per wheel identity the claim that makes one wheel
file the only one of its version, build tag and tag set, whatever the spelling of its name. Pages do
not read these rows: they read the project's page document, which follows them
(shared/page_documents.py); shared/publishing.py adds files.

Files saved from an upstream have rows like uploaded ones, marked ``Origin = upstream`` with the
upstream's key and label; only files with ``Origin = local`` (or none: rows from before upstreams)
count as published for dependency-confusion protection.

A file row outlives its file: deleting moves it to the recycle bin (State ``deleted``), purging removes
the blobs and leaves the row (State ``purged``) so that its name can never be uploaded again. Blobs
are written before their record, so a record never names a missing blob.
"""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from packaging.utils import canonicalize_version
from packaging.version import InvalidVersion, Version

from shared import memo, untrusted
from shared.errors import BadRequest, NotFound
from shared.keys import (
    FILES_TABLE,
    PROJECTS_TABLE,
    RECYCLE_BIN_TABLE,
    UPSTREAMING_ROW,
    bin_partition,
    feed_blobs_prefix,
    feed_files_prefix,
    files_partition,
    is_file_row,
    projects_partition,
    release_of_row,
    release_row,
)
from shared.names import validate_filename
from shared.storage import Storage

LOCAL = "local"  # Origin of a file published to the feed
UPSTREAM = "upstream"  # Origin of a file saved from one of the feed's upstreams
ACTIVE = "active"
DELETED = "deleted"  # in the recycle bin: hidden, restorable
PURGED = "purged"  # blobs gone; the row stays so the name is never reused


METADATA_CONTENT_TYPE = "text/plain; charset=utf-8"  # a core metadata file is RFC 822 text
PROVENANCE_CONTENT_TYPE = "application/json"  # a PEP 740 provenance object (shared/attestations.py)


def content_type_for(filename: str) -> str:
    """Wheels and .zip sdists are zip archives; the rest are gzipped tars."""
    return "application/gzip" if filename.endswith(".tar.gz") else "application/zip"


class ReleaseNotFound(NotFound):
    code = "version_not_found"


class ProjectNotFound(NotFound):
    code = "project_not_found"


class FileNotFound(NotFound):
    code = "file_not_found"


@dataclass(frozen=True)
class Project:
    name: str  # normalized (PEP 503)
    display_name: str
    created: str | None = None

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> Project:
        return cls(record["RowKey"], record.get("Name", record["RowKey"]), record.get("Created"))


@dataclass(frozen=True)
class StoredFile:
    project: str
    filename: str
    version: str
    filetype: str
    size: int
    sha256: str
    blake2_256: str
    requires_python: str | None
    uploaded: str
    uploader: str
    blob: str
    md5: str | None = None
    python_version: str | None = None
    metadata_blob: str | None = None
    metadata_sha256: str | None = None
    metadata_size: int | None = None
    metadata_served: bool = False
    state: str = ACTIVE
    deleted_at: str | None = None
    deleted_by: str | None = None
    # From the file's release row (or, for a saved file, from its upstream).
    yanked: bool = False
    yanked_reason: str | None = None
    # Where the file came from: LOCAL (published) or UPSTREAM (saved from the upstream named).
    origin: str = LOCAL
    upstream_key: str | None = None
    upstream_label: str | None = None
    saved_at: str | None = None
    # A saved file's yanked state upstream when it was saved (False, True or the reason).
    upstream_yanked: bool | str = False
    # The blob of its PEP 740 provenance, when it was uploaded with attestations (shared/attestations.py).
    provenance_blob: str | None = None

    @property
    def from_upstream(self) -> bool:
        return self.origin == UPSTREAM

    @property
    def content_type(self) -> str:
        return content_type_for(self.filename)

    @property
    def core_metadata_sha256(self) -> str | None:
        """The sha256 of the PEP 658 metadata file, when this file has one to serve."""
        return self.metadata_sha256 if self.metadata_served and self.metadata_blob else None

    @property
    def version_key(self) -> str:
        return version_key(self.version)

    @property
    def attested(self) -> bool:
        """Uploaded with attestations: it has a PEP 740 provenance."""
        return self.provenance_blob is not None

    @property
    def sort_key(self) -> tuple[Any, ...]:
        return (*untrusted.version_order(self.version), self.filename)

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> StoredFile:
        return cls(
            project=record["Project"],
            filename=record["RowKey"],
            version=record["Version"],
            filetype=record["Filetype"],
            size=int(record["Size"]),
            sha256=record["Sha256"],
            blake2_256=record["Blake2b256"],
            requires_python=record.get("RequiresPython"),
            uploaded=record["Uploaded"],
            uploader=record.get("Uploader", ""),
            blob=record["Blob"],
            md5=record.get("Md5"),
            python_version=record.get("PythonVersion"),
            metadata_blob=record.get("MetadataBlob"),
            metadata_sha256=record.get("MetadataSha256"),
            metadata_size=record.get("MetadataSize"),
            metadata_served=bool(record.get("MetadataServed", False)),
            state=record.get("State", ACTIVE),
            deleted_at=record.get("DeletedAt"),
            deleted_by=record.get("DeletedBy"),
            origin=record.get("Origin") or LOCAL,
            upstream_key=record.get("Upstream"),
            upstream_label=record.get("UpstreamLabel"),
            saved_at=record.get("SavedAt"),
            upstream_yanked=(record.get("UpstreamYankedReason") or True)
            if record.get("UpstreamYanked")
            else False,
            provenance_blob=record.get("ProvenanceBlob"),
        )


@dataclass(frozen=True)
class Release:
    """What belongs to a version rather than to one of its files."""

    key: str  # canonical version
    version: str
    yanked: bool = False
    yanked_reason: str | None = None
    yanked_at: str | None = None
    yanked_by: str | None = None

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> Release:
        key = release_of_row(record["RowKey"]) or ""
        return cls(
            key=key,
            version=record.get("Version", key),
            yanked=bool(record.get("Yanked", False)),
            yanked_reason=record.get("YankedReason") or None,
            yanked_at=record.get("YankedAt"),
            yanked_by=record.get("YankedBy"),
        )


@dataclass(frozen=True)
class ProjectRecords:
    """Everything one files partition holds: one query answers a project page."""

    project: str
    files: tuple[StoredFile, ...]  # every file row, whatever its state, in version order
    releases: dict[str, Release]  # by canonical version
    records: tuple[dict[str, Any], ...]  # the raw rows, for conditional writes
    allow_external: bool = False  # the owner allowed upstream versions of this project

    @property
    def exists(self) -> bool:
        """Whether the feed has (or had) files of this project; the upstreaming row alone does not count."""
        return bool(self.files or self.releases)

    @property
    def published(self) -> bool:
        """Whether any file of this project was ever published to the feed (deleted ones included)."""
        return any(f.origin == LOCAL for f in self.files)

    @property
    def taken(self) -> frozenset[str]:
        """Every file name this feed has used: a deleted one never comes back from an upstream."""
        return frozenset(f.filename for f in self.files)

    @property
    def active(self) -> list[StoredFile]:
        return [f for f in self.files if f.state == ACTIVE]

    def file_records(self, *, version: str | None = None, state: str | None = None) -> list[dict[str, Any]]:
        key = version_key(version) if version is not None else None
        return [
            r
            for r in self.records
            if is_file_row(r["RowKey"])
            and (key is None or version_key(r["Version"]) == key)
            and (state is None or r.get("State", ACTIVE) == state)
        ]


def version_key(version: str) -> str:
    """The canonical form of a version: 1.0 and 1.0.0 are one release, as on PyPI."""
    try:
        return canonicalize_version(untrusted.version(version))
    except InvalidVersion:
        return version


def parse_version(version: str, project: str) -> Version:
    """A version from a URL; one that cannot exist is simply not found."""
    try:
        return untrusted.version(version)
    except InvalidVersion:
        raise ReleaseNotFound(f"No version '{version}' of project '{project}'.") from None


def format_time(moment: datetime) -> str:
    """How records store a moment: ISO 8601 in UTC with microseconds and a Z (PEP 700's upload-time)."""
    return moment.astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def parse_time(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def original_upload_time(value: str) -> str:
    """The upload time an import keeps (the ``upload_time`` field `feedhouse import` sends with a file
    from another index): ISO 8601 with a time zone, not in the future, stored as records store times."""
    try:
        moment = parse_time(value)
    except ValueError:
        raise BadRequest(
            f"'upload_time' must be an ISO 8601 date and time with a time zone, such as 2024-05-01T12:00:00Z,"
            f" not {value[:40]!r}."
        ) from None
    if moment.tzinfo is None:
        raise BadRequest("'upload_time' needs a time zone, such as 2024-05-01T12:00:00Z.")
    if moment > datetime.now(UTC):
        raise BadRequest("'upload_time' is in the future.")
    return format_time(moment)


def now_text() -> str:
    """This moment, as records store it."""
    return format_time(datetime.now(UTC))


def list_projects_page(
    storage: Storage, feed_key: str, *, continuation: str | None, limit: int
) -> tuple[list[Project], str | None]:
    """One page of a feed's projects in name order, for one request to Table Storage (see
    Storage.partition_page), and the continuation of the next page (None after the last)."""
    records, following = storage.partition_page(
        PROJECTS_TABLE, projects_partition(feed_key), continuation=continuation, limit=limit
    )
    return [Project.from_record(r) for r in records], following


def display_name(storage: Storage, feed_key: str, project: str) -> str | None:
    """A project's name as it was first published to the feed; None if the feed does not list it."""
    record = storage.get(PROJECTS_TABLE, projects_partition(feed_key), project)
    return record.get("Name", project) if record is not None else None


def read_project(storage: Storage, feed_key: str, project: str) -> ProjectRecords:
    """A project's files (all states, yanked state applied) and releases: one partition query."""
    records = storage.partition(FILES_TABLE, files_partition(feed_key, project))
    releases = {
        release.key: release
        for release in (Release.from_record(r) for r in records if release_of_row(r["RowKey"]) is not None)
    }
    files = []
    allow_external = False
    for record in records:
        if record["RowKey"] == UPSTREAMING_ROW:
            allow_external = bool(record.get("AllowExternal", False))
        if not is_file_row(record["RowKey"]):
            continue
        stored = StoredFile.from_record(record)
        release = releases.get(stored.version_key)
        if release is not None and release.yanked:
            stored = replace(stored, yanked=True, yanked_reason=release.yanked_reason)
        elif stored.upstream_yanked:
            reason = stored.upstream_yanked if isinstance(stored.upstream_yanked, str) else None
            stored = replace(stored, yanked=True, yanked_reason=reason)
        files.append(stored)
    files.sort(key=lambda f: f.sort_key)
    return ProjectRecords(project, tuple(files), releases, tuple(records), allow_external)


# Files as downloads and ``.metadata`` find them, by (feed key, project, file name), each kept for at
# most STALE_SECONDS: what a file is (its blobs, size, hashes) never changes, as a file name is never
# reused, but it may be deleted, and another instance's delete is seen here within that bound. Only
# served files are kept: a file published or restored elsewhere is found at once. About 1 KiB each.
_served: memo.Memo[tuple[str, str, str], StoredFile] = memo.Memo(max_size=50_000, seconds=memo.STALE_SECONDS)


def get_file(storage: Storage, feed_key: str, project: str, filename: str) -> StoredFile:
    """A file that is served (not deleted); FileNotFound otherwise (see ``_served``)."""
    try:
        validate_filename(filename)
    except BadRequest:
        raise FileNotFound(f"No file '{filename}' in project '{project}'.") from None

    def load() -> StoredFile:  # raising keeps nothing
        record = None
        if is_file_row(filename):  # release and setting rows share the partition
            record = storage.get(FILES_TABLE, files_partition(feed_key, project), filename)
        if record is None or record.get("State", ACTIVE) != ACTIVE:
            raise FileNotFound(f"No file '{filename}' in project '{project}'.")
        return StoredFile.from_record(record)

    return _served.get((feed_key, project, filename), load)


def forget_files(feed_key: str, project: str, filenames: list[str]) -> None:
    """This instance's next download of these files reads their records again (they were deleted)."""
    for filename in filenames:
        _served.invalidate((feed_key, project, filename))


def release_row_key(version: str) -> str:
    return release_row(version_key(version))


def store_metadata_blob(storage: Storage, name: str, metadata: bytes, *, sha256: str | None = None) -> bool:
    """Write a core metadata blob unless it exists (with its ``sha256`` in the blob's metadata when it
    comes from an upstream, as the file's own blob has); True if written now."""
    return storage.create_blob(
        name,
        io.BytesIO(metadata),
        length=len(metadata),
        content_type=METADATA_CONTENT_TYPE,
        metadata={"sha256": sha256} if sha256 is not None else None,
    )


def metadata_fields(blob: str, metadata: bytes, *, served: bool) -> dict[str, Any]:
    """A file record's fields for its stored core metadata."""
    return {
        "MetadataBlob": blob,
        "MetadataSha256": hashlib.sha256(metadata).hexdigest(),
        "MetadataSize": len(metadata),
        "MetadataServed": served,
    }


def delete_feed_contents(storage: Storage, feed_key: str) -> None:
    storage.delete_records(RECYCLE_BIN_TABLE, storage.partition(RECYCLE_BIN_TABLE, bin_partition(feed_key)))
    # Every files partition of the feed, also those of projects that only have an upstreaming row.
    storage.delete_records(
        FILES_TABLE, storage.partitions_with_prefix(FILES_TABLE, feed_files_prefix(feed_key))
    )
    storage.delete_records(PROJECTS_TABLE, storage.partition(PROJECTS_TABLE, projects_partition(feed_key)))
    storage.delete_blobs(feed_blobs_prefix(feed_key))
