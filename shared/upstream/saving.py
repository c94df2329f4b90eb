"""Saving an upstream file into a feed: the storage half (the file record is the caller's).

The bytes stream from the upstream into staged blocks that stay invisible until they are checked:
only when the size and every hash the upstream page gave match are they committed, create-only, as
the content-addressed blob ``keys.file_blob`` names (as for uploads). A mismatch leaves no blob. The
file's core metadata (PEP 658) is fetched first when the upstream offers it, checked against its hash
likewise and against the metadata inside the file (a wheel's METADATA, as PEP 658 defines the file),
and stored beside the file (``keys.metadata_blob``).
Only files whose page gives a sha256 are saved: without one there is nothing to check the bytes
against, and no content address.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import logging
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from typing import BinaryIO

from shared import keys
from shared.digests import BLAKE2B_256, Promise, RunningHashes, checked
from shared.distributions import inspect_distribution, parse_distribution_filename
from shared.errors import BadGateway, BadRequest
from shared.names import validate_filename
from shared.packages import content_type_for, store_metadata_blob
from shared.storage import Storage
from shared.upstream.client import UpstreamClient, UpstreamError
from shared.upstream.config import BasicCredential
from shared.upstream.page_parser import UpstreamFile
from shared.upstream.url_safety import display_url

logger = logging.getLogger(__name__)

# How a refusal ends: for a file being saved, and for one passed through.
NOTHING_STORED = "it was refused and nothing was stored"
REFUSED = "it was refused"


def listed(subject: str, *, size: int | None = None, digests: Mapping[str, str], stored: bool) -> Promise:
    """What an upstream page promised about a file (or its metadata file) named ``subject``."""
    return Promise(subject, "its upstream page lists", NOTHING_STORED if stored else REFUSED, size, digests)


class UnverifiableUpstreamFile(BadGateway):
    code = "upstream_file_unverifiable"


class InvalidUpstreamFile(BadGateway):
    code = "invalid_upstream_file"


class MetadataMismatch(BadGateway):
    """The upstream's metadata file for a distribution is not the metadata inside it."""

    code = "upstream_metadata_mismatch"


@dataclass(frozen=True)
class SavedFile:
    """What a file record needs for a file saved from an upstream."""

    project: str
    filename: str
    version: str
    filetype: str
    size: int
    sha256: str
    blake2_256: str
    requires_python: str | None
    upload_time: str | None  # when the upstream says it was uploaded there
    yanked: bool | str  # the upstream's yanked state when it was saved
    blob: str
    metadata_blob: str | None  # PEP 658 core metadata beside the file, when the upstream offered it
    metadata_sha256: str | None
    source_url: str  # where it came from, without credentials or query string
    created: bool  # False when the blob was already there (saved before, or by a concurrent request)


def saved_blob_metadata(sha256: str, hashes: RunningHashes) -> dict[str, str]:
    """The metadata the blob of a file saved from an upstream is committed with."""
    return {"sha256": sha256, BLAKE2B_256: hashes.hexdigest(BLAKE2B_256), "origin": "upstream"}


def _fetch_metadata(
    client: UpstreamClient, entry: UpstreamFile, credential: BasicCredential | None
) -> tuple[bytes, str] | None:
    """The checked core metadata and its sha256, or None if the upstream does not really have it."""
    if not entry.core_metadata:
        return None
    try:
        data = client.fetch_small_file(entry.metadata_url, credential=credential)
    except UpstreamError as exc:
        logger.info("Saving %s without its .metadata: %s", entry.filename, exc.message)
        return None
    expected = entry.core_metadata if isinstance(entry.core_metadata, Mapping) else {}
    promise = listed(f"The core metadata of '{entry.filename}'", digests=expected, stored=True)
    return data, checked(data, promise, "sha256").hexdigest("sha256")


def check_core_metadata(stream: BinaryIO, filename: str, expected_sha256: str, *, stored: bool) -> None:
    """Refuse a distribution whose own core metadata (a wheel's METADATA, an sdist's PKG-INFO) is not
    the metadata file its upstream serves for it, whose sha256 is ``expected_sha256``.

    PEP 658 makes that file the distribution's metadata, and resolvers read it instead of the file:
    an upstream that serves one thing there and another in the file would have a feed store and serve
    the mismatch for good. Uploads get their metadata file from the archive itself, read the same way
    (shared.distributions.inspect_distribution). ``stored`` says whether the file was being saved.
    """
    dist = parse_distribution_filename(filename)
    outcome = NOTHING_STORED if stored else REFUSED
    try:
        own = inspect_distribution(stream, dist).metadata or b""
    except BadRequest as exc:
        raise InvalidUpstreamFile(
            f"'{filename}' cannot be checked against the core metadata its upstream serves for it "
            f"({exc.message}); {outcome}."
        ) from None
    actual = hashlib.sha256(own).hexdigest()
    if not hmac.compare_digest(actual, expected_sha256):
        inside = "METADATA" if dist.filetype == "bdist_wheel" else "PKG-INFO"
        raise MetadataMismatch(
            f"The core metadata the upstream serves for '{filename}' ({filename}.metadata, sha256 "
            f"{expected_sha256}) is not the {inside} inside the file (sha256 {actual}); {outcome}."
        )


def save_upstream_file(
    storage: Storage,
    client: UpstreamClient,
    *,
    feed_key: str,
    entry: UpstreamFile,
    credential: BasicCredential | None = None,
    max_bytes: int | None = None,
) -> SavedFile:
    """Stream ``entry`` from its upstream into the feed's storage, checked against its hashes.

    Raises HashMismatch (shared.digests; nothing stored), UnverifiableUpstreamFile (no sha256 to check
    against), or the client's UpstreamError subclasses (ResponseTooLarge past ``max_bytes``, ...).
    """
    try:
        validate_filename(entry.filename)
        dist = parse_distribution_filename(entry.filename)
    except BadRequest as exc:
        raise InvalidUpstreamFile(f"Cannot save '{entry.filename[:255]}': {exc.message}") from None
    expected = dict(entry.hashes)
    sha256 = (expected.get("sha256") or "").lower()
    if len(sha256) != 64:
        raise UnverifiableUpstreamFile(
            f"The upstream lists no sha256 for '{entry.filename}', so Feedhouse cannot check and save it."
        )
    limit = client.config.max_file_bytes if max_bytes is None else max_bytes
    if entry.size is not None and entry.size > limit:
        raise UnverifiableUpstreamFile(
            f"'{entry.filename}' is {entry.size} bytes; Feedhouse saves upstream files of at most {limit}."
        )

    metadata = _fetch_metadata(client, entry, credential)

    blob = keys.file_blob(feed_key, dist.name, sha256, entry.filename)
    hashes = RunningHashes(
        "sha256",
        BLAKE2B_256,
        promise=listed(f"'{entry.filename}'", size=entry.size, digests=expected, stored=True),
    )
    upload = storage.start_block_upload(blob)
    # With a metadata file to check, the file is also kept on disk: its metadata is read from the
    # archive's end (a zip's directory), which staged blocks cannot give back before they commit.
    with (
        client.open_file(entry.url, credential=credential, max_bytes=limit) as download,
        tempfile.TemporaryFile() if metadata is not None else contextlib.nullcontext() as spool,
    ):
        source_url = display_url(download.url)
        for chunk in hashes.passing(download.chunks()):
            if spool is not None:
                spool.write(chunk)
            upload.write(chunk)
        hashes.check()
        if metadata is not None:
            check_core_metadata(spool, entry.filename, metadata[1], stored=True)
    created = upload.commit(
        content_type=content_type_for(entry.filename),
        metadata=saved_blob_metadata(sha256, hashes),
    )

    metadata_blob = metadata_sha256 = None
    if metadata is not None:
        data, metadata_sha256 = metadata
        metadata_blob = keys.metadata_blob(blob)
        store_metadata_blob(storage, metadata_blob, data, sha256=metadata_sha256)
    return SavedFile(
        project=dist.name,
        filename=entry.filename,
        version=str(dist.version),
        filetype=dist.filetype,
        size=hashes.size,
        sha256=sha256,
        blake2_256=hashes.hexdigest(BLAKE2B_256),
        requires_python=entry.requires_python,
        upload_time=entry.upload_time,
        yanked=entry.yanked,
        blob=blob,
        metadata_blob=metadata_blob,
        metadata_sha256=metadata_sha256,
        source_url=source_url,
        created=created,
    )
