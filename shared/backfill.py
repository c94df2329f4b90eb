"""Backfill core metadata for files uploaded before Feedhouse stored it (PEP 658).

For every file row without a metadata blob, read the file, extract its METADATA (wheel) or PKG-INFO
(sdist), store it beside the file and record its hash, size and whether it may be served. Files that
predate the md5 digest get it too. Rows are updated under their ETag, so a run can go alongside live
traffic and be repeated: files already done are skipped, and one that changed meanwhile is reported.
Run it with ``python -m tools.backfill_metadata`` (see README).
"""

from __future__ import annotations

import hashlib
import io
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field

from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion

from shared import feeds, page_documents, untrusted
from shared.distributions import (
    METADATA_MAX_BYTES,
    WHEEL,
    inspect_distribution,
    parse_distribution_filename,
    wheel_dist_info,
)
from shared.errors import BadRequest
from shared.keys import (
    FILES_TABLE,
    PROJECTS_TABLE,
    files_partition,
    is_file_row,
    metadata_blob,
    projects_partition,
)
from shared.metadata import read_metadata_file, serves_as_core_metadata
from shared.packages import ACTIVE, PURGED, metadata_fields, store_metadata_blob
from shared.storage import RecordChanged, Storage


@dataclass
class BackfillReport:
    backfilled: list[str] = field(default_factory=list)  # "<feed>/<filename>"
    skipped: list[tuple[str, str]] = field(default_factory=list)  # ("<feed>/<filename>", why)
    already_done: int = 0


def _wheel_metadata_leniently(data: bytes, filename: str) -> bytes | None:
    """A wheel's METADATA even when the wheel misses what uploads now require (RECORD, WHEEL)."""
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        name = f"{wheel_dist_info(filename)}/METADATA"
        if name not in archive.namelist():
            return None
        with archive.open(name) as member:
            content = member.read(METADATA_MAX_BYTES + 1)
    return content if len(content) <= METADATA_MAX_BYTES else None


def extract_metadata(data: bytes, filename: str) -> bytes | None:
    """The core metadata file inside a stored distribution, or None if it has none to find."""
    dist = parse_distribution_filename(filename)
    try:
        return inspect_distribution(io.BytesIO(data), dist).metadata
    except BadRequest:
        if dist.filetype != WHEEL:
            return None
        try:
            return _wheel_metadata_leniently(data, filename)
        except (zipfile.BadZipFile, OSError, EOFError):
            return None


def _agrees(metadata: bytes, project: str, version: str) -> bool:
    raw = read_metadata_file(metadata)
    try:
        return canonicalize_name(raw.get("name", "")) == project and untrusted.version(
            raw.get("version", "")
        ) == untrusted.version(version)
    except InvalidVersion:
        return False


def backfill_metadata(
    storage: Storage,
    *,
    feed_names: list[str] | None = None,
    dry_run: bool = False,
    progress: Callable[[str], None] = lambda _line: None,
) -> BackfillReport:
    """Backfill every feed (or those named); with ``dry_run``, only report what would be done.

    Each project's page document is rebuilt from its rows afterwards, so the pages offer the new
    metadata files, and a run also repairs any document that is behind its rows."""
    report = BackfillReport()
    if feed_names:
        named = (feeds.find_feed(storage, name) for name in feed_names)
        selected = list({feed.key: feed for feed in named if feed is not None}.values())
    else:
        selected = feeds.list_feeds(storage)
    for feed in selected:
        for project in storage.partition(PROJECTS_TABLE, projects_partition(feed.key)):
            _backfill_project(storage, feed, project["RowKey"], report, dry_run=dry_run, progress=progress)
            if not dry_run:
                page_documents.follow_all(storage, feed.key, project["RowKey"])
    return report


def _backfill_project(
    storage: Storage,
    feed: feeds.Feed,
    project: str,
    report: BackfillReport,
    *,
    dry_run: bool,
    progress: Callable[[str], None],
) -> None:
    for record in storage.partition(FILES_TABLE, files_partition(feed.key, project)):
        filename = record["RowKey"]
        label = f"{feed.name}/{filename}"
        if not is_file_row(filename) or record.get("State", ACTIVE) == PURGED:
            continue
        if record.get("MetadataBlob"):
            report.already_done += 1
            continue
        data = storage.read_blob(record["Blob"])
        try:
            metadata = extract_metadata(data, filename)
        except BadRequest as error:
            report.skipped.append((label, error.message))
            continue
        if metadata is None:
            report.skipped.append((label, "no core metadata file found in the archive"))
            continue
        served = serves_as_core_metadata(read_metadata_file(metadata), record["Filetype"]) and _agrees(
            metadata, record["Project"], record["Version"]
        )
        fields = metadata_fields(metadata_blob(record["Blob"]), metadata, served=served)
        if not record.get("Md5"):
            fields["Md5"] = hashlib.md5(data, usedforsecurity=False).hexdigest()
        if not dry_run:
            store_metadata_blob(storage, fields["MetadataBlob"], metadata)
            try:
                storage.replace(FILES_TABLE, {**record, **fields})
            except RecordChanged:
                report.skipped.append((label, "changed meanwhile; run the backfill again"))
                continue
        report.backfilled.append(label)
        progress(f"{'would backfill' if dry_run else 'backfilled'} {label} (served: {served})")
