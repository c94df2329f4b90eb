"""Adding files to a feed: uploads, files saved from upstreams, and the owner's allow-external choice.

Each writes its rows in the project's files partition (shared/packages.py says what they hold), then
brings the project's page document up to date (shared/page_documents.py), and lists a new project in
the feed's index.

An upload of a new file into a listed project costs five storage requests: the page document (a
conditional read: 304 on a warm instance), the file's blob, its metadata blob, one transaction
with the file's row and the claim on its identity, and the document written back. The document
answers what used to need a read of the whole partition (is the name taken, does another spelling
hold its identity, does the release have a row) and never decides alone: the transaction's inserts
do, so a document that is behind (another instance's upload in flight) costs a retry, never a
second file.

Blobs are written before the rows that name them, so a row never names a missing blob; a crash in
between leaves only unreferenced blobs.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from shared import history, page_documents
from shared.distributions import SDIST, WHEEL, parse_distribution_filename
from shared.errors import BadRequest, Conflict
from shared.keys import (
    FILES_TABLE,
    PROJECTS_TABLE,
    UPSTREAMING_ROW,
    file_blob,
    files_partition,
    metadata_blob,
    projects_partition,
    provenance_blob,
    wheel_claim_row,
)
from shared.packages import (
    ACTIVE,
    PROVENANCE_CONTENT_TYPE,
    FileNotFound,
    Project,
    StoredFile,
    content_type_for,
    format_time,
    metadata_fields,
    now_text,
    parse_time,
    release_row_key,
    store_metadata_blob,
    version_key,
)
from shared.page_documents import ProjectDocument, Snapshot
from shared.storage import Record, RecordChanged, RecordExists, Storage
from shared.upload import ValidatedUpload

# A claim whose upload never stored its file is void after this (uploads end within 230 s). Claims
# are written in one transaction with their file's row now; older uploads wrote them first.
CLAIM_TIMEOUT = timedelta(minutes=10)
FILE_NAME_REUSE_HELP = "A file name can be used only once, even after its file is deleted."
_ATTEMPTS = 3


class FileExists(BadRequest):
    """Another file already has this name; the prefix 'File already exists' is what clients look for."""

    code = "file_exists"


class FilenameReused(BadRequest):
    code = "filename_reused"


class OneSdistPerRelease(BadRequest):
    code = "sdist_exists"


def _same_file(existing: Record, upload: ValidatedUpload) -> bool:
    return existing["Sha256"] == upload.sha256 and existing["Blake2b256"] == upload.blake2_256


_SAME_DISTRIBUTION = {
    SDIST: "the release's one sdist",
    WHEEL: "the same project, version, build tag and tags",
}


def _another_spelling(upload: ValidatedUpload, holder: str | None) -> str:
    if holder is None or holder == upload.filename:
        return ""
    return f" It is another spelling of '{holder}' ({_SAME_DISTRIBUTION[upload.filetype]})."


def _file_exists(upload: ValidatedUpload, holder: str | None = None) -> FileExists:
    return FileExists(
        f"File already exists ('{upload.filename}', with blake2_256 hash '{upload.blake2_256}')."
        f"{_another_spelling(upload, holder)} {FILE_NAME_REUSE_HELP} Upload a new version instead."
    )


def _filename_reused(upload: ValidatedUpload, holder: str | None = None) -> FilenameReused:
    return FilenameReused(
        "This filename was previously used by a file that has since been deleted. Use a different "
        f"version.{_another_spelling(upload, holder)} {FILE_NAME_REUSE_HELP}"
    )


def _identity_taken(upload: ValidatedUpload, holder: str, active: bool) -> BadRequest:
    """Why ``upload`` cannot be stored when ``holder``, another name, holds its identity."""
    if not active:
        return _filename_reused(upload, holder)
    if upload.filetype == SDIST:
        return OneSdistPerRelease("Only one sdist may be uploaded per release.")
    return _file_exists(upload, holder)


# The feed's project list ----------------------------------------------------------------------


def ensure_project_row(storage: Storage, feed_key: str, project: str, display_name: str) -> Project:
    """List the project in the feed's index (a no-op when it is listed already); the project as listed
    (with the name it was first published under)."""
    record = {
        "PartitionKey": projects_partition(feed_key),
        "RowKey": project,
        "Name": display_name,
        "Created": now_text(),
    }
    try:
        storage.insert(PROJECTS_TABLE, record)
    except RecordExists:
        record = storage.get(PROJECTS_TABLE, projects_partition(feed_key), project) or record
    return Project.from_record(record)


Apply = Callable[[ProjectDocument, bool], ProjectDocument]


def _follow(
    storage: Storage,
    feed_key: str,
    project: str,
    apply: Apply,
    *,
    start: Snapshot | None = None,
    rows_after_start: bool = False,
    list_as: str | None = None,
) -> None:
    """Bring the project's document up to date with ``apply`` (see page_documents.update) and, with
    ``list_as`` (its display name), list the project in the feed's index first unless the document
    says it is: its row, then the list's document, then ``listed`` in its own document, so that a
    document that says so never lies, and an upload into a listed project writes neither again."""
    snapshot = start if start is not None else page_documents.current(storage, feed_key, project)
    listing = list_as is not None and not snapshot.document.listed
    if listing:
        assert list_as is not None
        page_documents.add_to_list(storage, feed_key, ensure_project_row(storage, feed_key, project, list_as))

    def applied(document: ProjectDocument, fresh: bool) -> ProjectDocument:
        document = apply(document, fresh)
        return document.now_listed() if listing else document

    page_documents.update(
        storage, feed_key, project, applied, start=snapshot, rows_after_start=rows_after_start
    )


def _rows_as_now(storage: Storage, partition: str, rows: list[str]) -> list[Record]:
    return [r for r in (storage.get(FILES_TABLE, partition, row) for row in rows) if r is not None]


# Uploads ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Claim:
    """Where a distribution's identity is claimed: an sdist's on its release row (a release has one
    sdist), a wheel's on a row of its own keyed by a hash of its identity (a tag set can be longer than
    a RowKey may be). ``holder`` names the field that names the file holding it; ``<holder>Claimed``
    says when it was claimed."""

    row_key: str
    holder: str

    @property
    def claimed(self) -> str:
        return self.holder + "Claimed"


def _claim_of(upload: ValidatedUpload) -> _Claim:
    if upload.filetype == SDIST:
        return _Claim(release_row_key(upload.version), "Sdist")
    return _Claim(wheel_claim_row(upload.identity), "Wheel")


def _identity_of(filename: str) -> str | None:
    with contextlib.suppress(BadRequest):
        return parse_distribution_filename(filename).identity
    return None


def _check_identity(document: ProjectDocument, upload: ValidatedUpload) -> None:
    """Refuse ``upload`` when another name the feed has used holds its identity (``identity`` of
    DistributionFilename): a release's one sdist (Warehouse: 'Only one sdist may be uploaded per
    release'), a wheel's one file per build tag and tag set, whatever the spelling of its name. A
    deleted or purged holder keeps the identity, so a new spelling of a deleted file counts as reusing
    its name. The document knows every name, those stored before claims existed and files saved from
    upstreams (which claim nothing) included; the claim rows settle races (``_insert_rows``)."""
    for name, active in document.names_of_release(version_key(upload.version)):
        if name != upload.filename and _identity_of(name) == upload.identity:
            raise _identity_taken(upload, name, active)


class _StoredAlready(Exception):
    """The file's row is there already (a concurrent upload of the name, or a retry)."""

    def __init__(self, record: Record) -> None:
        self.record = record


def _insert_rows(
    storage: Storage, partition: str, upload: ValidatedUpload, record: Record, document: ProjectDocument
) -> bool:
    """Insert the file's row with the claim on its identity, in one transaction; True if that made
    the release's row (an sdist's claim is on it).

    The claim is inserted, or, when its row is there (an sdist's release row, or the claim of an
    upload from before claims and rows went together that never stored its file), replaced on its
    ETag, so two uploads racing for one identity under different names cannot both win. _StoredAlready
    when the file's row is there.
    """
    claim = _claim_of(upload)
    claim_row: Record | None = None
    if upload.filetype == SDIST and version_key(upload.version) in document.releases:
        claim_row = storage.get(FILES_TABLE, partition, claim.row_key)
    for _attempt in range(_ATTEMPTS):
        now = datetime.now(UTC)
        held = {claim.holder: upload.filename, claim.claimed: format_time(now)}
        if claim_row is None:
            new_claim = {
                "PartitionKey": partition,
                "RowKey": claim.row_key,
                "Version": upload.version,
                "Created": format_time(now),
                **held,
            }
            operations: dict[str, list[Record]] = {"insert": [record, new_claim], "replace": []}
        else:
            holder = claim_row.get(claim.holder)
            if holder and holder != upload.filename:
                stored = storage.get(FILES_TABLE, partition, holder)
                if stored is not None:
                    raise _identity_taken(upload, holder, stored.get("State", ACTIVE) == ACTIVE)
                claimed = claim_row.get(claim.claimed)
                if claimed is not None and now - parse_time(claimed) < CLAIM_TIMEOUT:
                    raise _identity_taken(upload, holder, True)  # its upload may still be running
            operations = {"insert": [record], "replace": [{**claim_row, **held}]}
        try:
            storage.transact(FILES_TABLE, **operations)
        except (RecordExists, RecordChanged):
            existing = storage.get(FILES_TABLE, partition, upload.filename)
            if existing is not None:
                raise _StoredAlready(existing) from None
            claim_row = storage.get(FILES_TABLE, partition, claim.row_key)
            continue
        return claim_row is None and upload.filetype == SDIST
    raise Conflict(f"Version {upload.version} was changed by another upload meanwhile; retry.")


def add_file(
    storage: Storage,
    feed_key: str,
    upload: ValidatedUpload,
    *,
    uploader: str,
    uploaded: str | None = None,
    provenance: bytes | None = None,
) -> bool:
    """Store a validated upload. True if stored now, False if the identical file was already there.
    ``uploaded`` is the original upload time of an imported file (see packages.original_upload_time),
    else now. ``provenance`` is the PEP 740 provenance of its attestations (shared/attestations.py),
    stored beside the file (one more request); an identical file already there keeps its own.

    Raises FileExists when the name is taken by other bytes or another spelling of it holds the same
    wheel, FilenameReused when it (or another spelling of it) belonged to a file that was deleted,
    OneSdistPerRelease for a second sdist.
    """
    project = upload.project
    partition = files_partition(feed_key, project)
    # This instance's copy of the document when it has one: the checks below only spare writing blobs
    # that would be refused; the rows' transaction (insert-only file row and identity claim) decides,
    # and the document's conditional write catches a newer one (see _follow).
    snapshot = page_documents.kept_or_current(storage, feed_key, project)
    document = snapshot.document
    if upload.filename in document.taken:
        existing = storage.get(FILES_TABLE, partition, upload.filename)
        if existing is not None:
            return _answer_existing(storage, feed_key, upload, existing, snapshot)
    _check_identity(document, upload)

    blob = file_blob(feed_key, project, upload.sha256, upload.filename)
    written = (
        [blob]
        if storage.create_blob(
            blob,
            upload.stream,
            length=upload.size,
            content_type=content_type_for(upload.filename),
            metadata={"sha256": upload.sha256},
        )
        else []
    )
    record: Record = {
        "PartitionKey": partition,
        "RowKey": upload.filename,
        "Project": project,
        "Version": upload.version,
        "Filetype": upload.filetype,
        "Size": upload.size,
        "Sha256": upload.sha256,
        "Blake2b256": upload.blake2_256,
        "Md5": upload.md5,
        "PythonVersion": upload.python_version,
        "RequiresPython": upload.requires_python,
        "Uploaded": uploaded or now_text(),
        "Uploader": uploader,
        "Blob": blob,
        "State": ACTIVE,
    }
    if upload.metadata is not None:
        metadata = metadata_blob(blob)
        if store_metadata_blob(storage, metadata, upload.metadata):
            written.append(metadata)
        record |= metadata_fields(metadata, upload.metadata, served=upload.metadata_served)
    if provenance is not None:
        attested = provenance_blob(blob, hashlib.sha256(provenance).hexdigest())
        if storage.create_blob(
            attested, io.BytesIO(provenance), length=len(provenance), content_type=PROVENANCE_CONTENT_TYPE
        ):
            written.append(attested)
        record["ProvenanceBlob"] = attested
    try:
        made_release = _insert_rows(storage, partition, upload, record, document)
    except _StoredAlready as stored:
        # A concurrent upload of this filename won the race (or this is a retry): answer as if this
        # one came after it.
        # The blobs this upload wrote that the winner's record (in the recycle bin or not) does not
        # name are nobody's: all of them for other bytes; for the same bytes (the same file and
        # metadata blob names) only a provenance of other attestations.
        named = {stored.record.get(field) for field in ("Blob", "MetadataBlob", "ProvenanceBlob")}
        kept = named if _same_file(stored.record, upload) else set()
        for name in written:
            if name not in kept:
                storage.delete_blob(name)
        return _answer_existing(storage, feed_key, upload, stored.record, snapshot)
    release = version_key(upload.version)
    rows = [upload.filename, release_row_key(upload.version)] if made_release else [upload.filename]

    def apply(document: ProjectDocument, fresh: bool) -> ProjectDocument:
        if fresh:
            return document.with_rows(_rows_as_now(storage, partition, rows))
        document = document.with_release(release) if made_release else document
        return document.with_new_file(record)

    _follow(storage, feed_key, project, apply, start=snapshot, rows_after_start=True, list_as=upload.name)
    history.file_added(
        storage, feed_key, history.PUBLISH, project, upload.version, upload.filename, by=uploader
    )
    return True


def _answer_existing(
    storage: Storage, feed_key: str, upload: ValidatedUpload, existing: Record, snapshot: Snapshot
) -> bool:
    """An upload of a file name the feed has: False (nothing to do) for the identical active file.

    The document follows the file's row (read after ``snapshot``) here too: if the upload that stored
    it died before updating the document, uploading it again repairs that.
    """
    error: BadRequest | None = None
    if existing.get("State", ACTIVE) != ACTIVE:
        error = _filename_reused(upload)
    elif not _same_file(existing, upload):
        error = _file_exists(upload)

    def apply(document: ProjectDocument, fresh: bool) -> ProjectDocument:
        partition = existing["PartitionKey"]
        return document.with_rows(
            _rows_as_now(storage, partition, [existing["RowKey"]]) if fresh else [existing]
        )

    _follow(
        storage,
        feed_key,
        upload.project,
        apply,
        start=snapshot,
        rows_after_start=True,
        list_as=upload.name if error is None else None,
    )
    if error is not None:
        raise error
    return False


# Files saved from upstreams ---------------------------------------------------------------------


def saved_file_record(
    feed_key: str,
    *,
    project: str,
    filename: str,
    version: str,
    filetype: str,
    size: int,
    sha256: str,
    blake2_256: str,
    requires_python: str | None,
    upload_time: str | None,
    blob: str,
    metadata_blob: str | None,
    metadata_sha256: str | None,
    metadata_size: int | None,
    upstream_key: str,
    upstream_label: str,
    source: str,
    upstream_yanked: bool | str,
    saved_by: str,
    now: datetime,
) -> Record:
    """The row of a file saved from an upstream.

    ``Uploaded`` is when the upstream says the file was uploaded there (PEP 700's upload-time, which
    uv's --exclude-newer compares), else when it was saved; ``SavedAt`` is always the latter.
    """
    saved_at = format_time(now)
    uploaded = saved_at
    if upload_time:
        with contextlib.suppress(ValueError):
            uploaded = format_time(parse_time(upload_time))
    record: Record = {
        "PartitionKey": files_partition(feed_key, project),
        "RowKey": filename,
        "Project": project,
        "Version": version,
        "Filetype": filetype,
        "Size": size,
        "Sha256": sha256,
        "Blake2b256": blake2_256,
        "RequiresPython": requires_python,
        "Uploaded": uploaded,
        "Uploader": f"upstream:{upstream_label}",
        "Blob": blob,
        "State": ACTIVE,
        "Origin": "upstream",
        "Upstream": upstream_key,
        "UpstreamLabel": upstream_label,
        "Source": source,
        "SavedAt": saved_at,
        "SavedBy": saved_by,
        "UpstreamYanked": bool(upstream_yanked),
        "UpstreamYankedReason": upstream_yanked if isinstance(upstream_yanked, str) else None,
    }
    if metadata_blob and metadata_sha256:
        record |= {
            "MetadataBlob": metadata_blob,
            "MetadataSha256": metadata_sha256,
            "MetadataSize": metadata_size,
            "MetadataServed": True,
        }
    return record


def add_saved_file(storage: Storage, feed_key: str, record: Record) -> StoredFile:
    """Insert the row of a saved file (its blobs are stored already); the file the feed now serves.

    Rows are insert-only: when a concurrent download (or an upload) stored the name first, that file
    is the one served, and FileNotFound if it has been deleted meanwhile.
    """
    stored = StoredFile.from_record(record)
    partition, filename = record["PartitionKey"], record["RowKey"]
    try:
        storage.insert(FILES_TABLE, record)
    except RecordExists:
        winner = storage.get(FILES_TABLE, partition, filename)
        if winner is None or winner.get("State", ACTIVE) != ACTIVE:
            raise FileNotFound(f"No file '{filename}' in project '{stored.project}'.") from None
        stored = StoredFile.from_record(winner)
    else:
        history.file_added(
            storage,
            feed_key,
            history.SAVE,
            stored.project,
            stored.version,
            filename,
            by=record["SavedBy"],
            upstream=record["UpstreamLabel"],
        )

    def apply(document: ProjectDocument, _fresh: bool) -> ProjectDocument:
        return document.with_rows(_rows_as_now(storage, partition, [filename]))

    _follow(storage, feed_key, stored.project, apply, list_as=stored.project)
    return stored


# Settings -----------------------------------------------------------------------------------------


def set_allow_external(
    storage: Storage, feed_key: str, project: str, *, allow: bool, by: str, now: datetime
) -> None:
    """Record an owner's choice whether upstream versions of ``project`` may show (last write wins)."""
    partition = files_partition(feed_key, project)
    storage.upsert(
        FILES_TABLE,
        {
            "PartitionKey": partition,
            "RowKey": UPSTREAMING_ROW,
            "AllowExternal": allow,
            "ChangedAt": format_time(now),
            "ChangedBy": by,
        },
    )

    def apply(document: ProjectDocument, _fresh: bool) -> ProjectDocument:
        return document.with_rows(_rows_as_now(storage, partition, [UPSTREAMING_ROW]))

    _follow(storage, feed_key, project, apply)
