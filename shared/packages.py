"""A feed's projects and their files: the records pages are built from, and the blobs they name.

Keys: a feed's projects are one partition (``projects``, PartitionKey = feed key), a project's files
are one partition (``files``, PartitionKey = ``<feed key>:<project>``), so every simple page is a
single partition query. Blob names are content-addressed (``<feed>/<project>/<sha256>/<filename>``):
two uploads racing on one filename write different blobs, and the insert-only file record decides
which one the feed serves.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from packaging.version import InvalidVersion, Version

from shared.errors import BadRequest, NotFound
from shared.names import validate_filename
from shared.storage import FILES_TABLE, PROJECTS_TABLE, RecordExists, Storage
from shared.upload import ValidatedUpload


def content_type_for(filename: str) -> str:
    """Wheels and .zip sdists are zip archives; the rest are gzipped tars."""
    return "application/gzip" if filename.endswith(".tar.gz") else "application/zip"


class FileExists(BadRequest):
    """Another file already has this name; the prefix 'File already exists' is what clients look for."""

    code = "file_exists"


class ProjectNotFound(NotFound):
    code = "project_not_found"


class FileNotFound(NotFound):
    code = "file_not_found"


@dataclass(frozen=True)
class Project:
    name: str  # normalized (PEP 503)
    display_name: str


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

    @property
    def content_type(self) -> str:
        return content_type_for(self.filename)

    @property
    def sort_key(self) -> tuple[Any, ...]:
        try:
            return (0, Version(self.version), self.filename)
        except InvalidVersion:
            return (1, self.version, self.filename)

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
        )


def files_partition(feed_key: str, project: str) -> str:
    # ':' can appear in neither a feed name nor a normalized project name.
    return f"{feed_key}:{project}"


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def list_projects(storage: Storage, feed_key: str) -> list[Project]:
    records = storage.partition(PROJECTS_TABLE, feed_key)
    return sorted((Project(r["RowKey"], r.get("Name", r["RowKey"])) for r in records), key=lambda p: p.name)


def list_files(storage: Storage, feed_key: str, project: str) -> list[StoredFile]:
    records = storage.partition(FILES_TABLE, files_partition(feed_key, project))
    return sorted((StoredFile.from_record(r) for r in records), key=lambda f: f.sort_key)


def get_file(storage: Storage, feed_key: str, project: str, filename: str) -> StoredFile:
    try:
        validate_filename(filename)
    except BadRequest:
        raise FileNotFound(f"No file '{filename}' in project '{project}'.") from None
    record = storage.get(FILES_TABLE, files_partition(feed_key, project), filename)
    if record is None:
        raise FileNotFound(f"No file '{filename}' in project '{project}'.")
    return StoredFile.from_record(record)


def _same_file(existing: dict[str, Any], upload: ValidatedUpload) -> bool:
    return existing["Sha256"] == upload.sha256 and existing["Blake2b256"] == upload.blake2_256


def _file_exists(upload: ValidatedUpload) -> FileExists:
    return FileExists(
        f"File already exists ('{upload.filename}', with blake2_256 hash '{upload.blake2_256}'). "
        "A file name can be used only once; upload a new version instead."
    )


def _ensure_project(storage: Storage, feed_key: str, upload: ValidatedUpload) -> None:
    with contextlib.suppress(RecordExists):
        storage.insert(
            PROJECTS_TABLE,
            {"PartitionKey": feed_key, "RowKey": upload.project, "Name": upload.name, "Created": _now()},
        )


def add_file(storage: Storage, feed_key: str, upload: ValidatedUpload, *, uploader: str) -> bool:
    """Store a validated upload. True if stored now, False if the identical file was already there.

    Raises FileExists when the name is taken by other bytes. The blob is written before the record,
    so a record never names a missing blob; a crash in between leaves only an unreferenced blob.
    """
    partition = files_partition(feed_key, upload.project)
    existing = storage.get(FILES_TABLE, partition, upload.filename)
    if existing is not None:
        if not _same_file(existing, upload):
            raise _file_exists(upload)
        _ensure_project(storage, feed_key, upload)
        return False

    blob = f"{feed_key}/{upload.project}/{upload.sha256}/{upload.filename}"
    storage.create_blob(
        blob,
        upload.stream,
        length=upload.size,
        content_type=content_type_for(upload.filename),
        metadata={"sha256": upload.sha256},
    )
    record = {
        "PartitionKey": partition,
        "RowKey": upload.filename,
        "Project": upload.project,
        "Version": upload.version,
        "Filetype": upload.filetype,
        "Size": upload.size,
        "Sha256": upload.sha256,
        "Blake2b256": upload.blake2_256,
        "RequiresPython": upload.requires_python,
        "Uploaded": _now(),
        "Uploader": uploader,
        "Blob": blob,
    }
    try:
        storage.insert(FILES_TABLE, record)
    except RecordExists:
        # A concurrent upload of this filename won the race.
        winner = storage.get(FILES_TABLE, partition, upload.filename)
        if winner is not None and _same_file(winner, upload):
            _ensure_project(storage, feed_key, upload)
            return False
        storage.delete_blob(blob)
        raise _file_exists(upload) from None
    _ensure_project(storage, feed_key, upload)
    return True


def delete_feed_contents(storage: Storage, feed_key: str) -> None:
    for project in storage.partition(PROJECTS_TABLE, feed_key):
        storage.delete_records(
            FILES_TABLE, storage.partition(FILES_TABLE, files_partition(feed_key, project["RowKey"]))
        )
        storage.delete(PROJECTS_TABLE, feed_key, project["RowKey"])
    storage.delete_blobs(f"{feed_key}/")
