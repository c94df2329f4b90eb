"""Yanking (PEP 592): a yanked version stays downloadable, but installers skip it unless it is pinned.

Yanking belongs to a release, not to a file, so it is stored on the release row in the project's files
partition: every file of the version, including ones uploaded later, is yanked with it. The project's
page document follows the row (shared/page_documents.py), also when the yank was there already, so
yanking again repairs a document that a yank which died halfway left behind.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from shared import history, page_documents
from shared.errors import BadRequest, Conflict
from shared.keys import FILES_TABLE, files_partition
from shared.packages import (
    Release,
    ReleaseNotFound,
    format_time,
    parse_version,
    release_row_key,
    version_key,
)
from shared.storage import RecordChanged, RecordExists, Storage

REASON_MAX_LENGTH = 1000


class InvalidYank(BadRequest):
    code = "invalid_yank"


def parse_reason(body: Any) -> str | None:
    """The reason from a yank request body: none, ``{}`` or ``{"reason": "..."}``."""
    if body is None:
        return None
    if not isinstance(body, dict) or set(body) - {"reason"}:
        raise InvalidYank('Send no body, or a JSON object such as {"reason": "broken on Windows"}.')
    reason = body.get("reason")
    if reason is None:
        return None
    if not isinstance(reason, str):
        raise InvalidYank("'reason' must be a string.")
    if len(reason) > REASON_MAX_LENGTH:
        raise InvalidYank(f"'reason' is at most {REASON_MAX_LENGTH} characters long.")
    return reason.strip() or None


def set_yanked(
    storage: Storage,
    feed_key: str,
    project: str,
    version: str,
    *,
    yanked: bool,
    reason: str | None,
    by: str,
    now: datetime,
) -> Release:
    """Yank or unyank one version (yanking again replaces the reason); the release as it is now."""
    parse_version(version, project)
    document = page_documents.current(storage, feed_key, project).document
    files = [f for f in document.files if f.release == version_key(version)]
    if not files:
        raise ReleaseNotFound(f"No version '{version}' of project '{project}'.")
    partition = files_partition(feed_key, project)
    row_key = release_row_key(version)
    state: dict[str, Any] = {
        "Yanked": yanked,
        "YankedReason": reason if yanked else None,
        "YankedAt": format_time(now) if yanked else None,
        "YankedBy": by if yanked else None,
    }
    for _attempt in range(3):
        release = storage.get(FILES_TABLE, partition, row_key)
        try:
            if release is None:
                record = {"PartitionKey": partition, "RowKey": row_key, "Version": files[0].version, **state}
                storage.insert(FILES_TABLE, record)
            else:
                record = {**release, **state}
                if yanked and release.get("Yanked") and release.get("YankedAt"):
                    # A new reason for a yank is no new yank: as-of pages show it from its first time.
                    record["YankedAt"] = release["YankedAt"]
                storage.replace(FILES_TABLE, record)
        except (RecordExists, RecordChanged):
            continue
        page_documents.follow_rows(storage, feed_key, project, [row_key])
        history.record(
            storage,
            feed_key,
            history.YANK if yanked else history.UNYANK,
            by=by,
            project=project,
            version=files[0].version,
            reason=reason if yanked else None,
        )
        return Release.from_record(record)
    raise Conflict(f"Version {version} of {project} was changed meanwhile; retry.")
