"""Page documents: what a project's simple pages (and the upstream merge) need, in one blob, and the
feed's project list in another, so that a page costs one conditional storage read.

A project's files partition holds a row per file, release, claim and setting; a page served from it
queries every row (4,000 entities for 2,000 wheels, each parsed by the SDK). Instead, every change of
those rows also updates the project's *document* (``keys.project_document_blob``): its active files
with what pages show of them, the releases that have a row and their yanks, the owner's
allow-external choice, every file name the feed has used (a deleted or purged name never comes back,
from an upload or an upstream), whether a file was ever published to the feed (dependency-confusion
protection), and whether the feed's project list names the project. The feed's project list has a
document of its own (``keys.project_list_blob``). The rows stay the truth; documents follow them.

**Reading.** An instance keeps the documents it read (and wrote) in memory with their ETags. A reader
trusts the kept one for a while after storage last confirmed it (``read``'s ``trust_for``) and then
asks nothing: pages for ``memo.PAGE_STALE_SECONDS`` (none when the client asks to revalidate),
downloads and ``.metadata`` files, which name a file whose bytes never change, for
``memo.STALE_SECONDS``. Past that it reads the document again with If-None-Match: while it is
unchanged storage answers 304, so a page costs one request and no parsing. So a change made through
another instance shows within that bound, and one made through this instance at once. What is
rendered from a document is kept keyed by its ETag (shared/feed_index.py). A project stored before
documents existed has none: the first read builds it from the rows and stores it.

**Writing.** Every writer of a project's rows (an upload, a file saved from an upstream, a yank or an
unyank, a delete, restore or purge, the allow-external choice, the metadata backfill) updates the
document after its own row writes: it reads the document and its ETag, *then* reads the rows it
changed (or the whole partition), applies them, and writes the document only if it still has that
ETag (If-Match; If-None-Match: * when there is none yet), starting again from the read when another
writer got there first. So the last document written reflects every write that completed before it:
a writer W whose document write succeeds read the document after every earlier successful document
write, and its rows after that; a writer X that changed the same rows and wrote the document before
W wrote those rows before that, so W read X's rows, and X's other changes are in the document W read.
(An upload reads the document before writing its rows, to check names against it, and applies the
rows as it wrote them while that read still holds: as nobody can have written the document in
between, nobody who completed can have changed those new rows.)

A process that dies between its row writes and its document write leaves the document without its
change; the next change of another kind applies only its own rows and does not repair that. Trying
the same operation again does: every writer updates the document also when it finds its rows
written already (an identical re-upload, a second yank, deleting or restoring what already is, a
purge run, setting allow-external again, a backfill run), and then writes it only if it differs. A
file saved from an upstream is the exception: its retry is a download, which finds the file and
does not save it again; until a delete, restore or purge in the project (which rebuild the document
from all of its rows) or a backfill run, its page lists it as its upstream does.
"""

from __future__ import annotations

import bisect
import functools
import json
import math
import random
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from shared import untrusted
from shared.as_of import AsOf
from shared.errors import Conflict
from shared.keys import (
    FILES_TABLE,
    PROJECTS_TABLE,
    UPSTREAMING_ROW,
    files_partition,
    is_file_row,
    project_document_blob,
    project_documents_prefix,
    project_list_blob,
    projects_partition,
    promotion_of_row,
    release_of_row,
)
from shared.memo import Memo
from shared.packages import (
    ACTIVE,
    LOCAL,
    Project,
    Release,
    StoredFile,
)
from shared.storage import UNCHANGED, Record, RecordChanged, RecordExists, Storage

_CONTENT_TYPE = "application/json"
_FORMAT = 1
# Format 2 keeps each yank's time (as-of pages, shared/as_of.py). A format 1 document with a yank
# lacks it: it is rebuilt from its rows when read (``read``); one without yanks loses nothing.
# Format 3 keeps each file's blob (downloads find files in the document): one with a file that lacks
# its blob is rebuilt from its rows when read, whatever its format says (a writer may have written an
# older document's files back unchanged).
_PROJECT_FORMAT = 3
# Writers that keep losing the race for one document give up (a 409) after this many tries, each
# loser waiting a random while, up to twice as long as the last time (within a cap), before the next.
_ATTEMPTS = 20
_BACKOFF_SECONDS = 0.01
_BACKOFF_CAP_SECONDS = 0.5
# Writers of one document in this process take turns (one lock per document, striped): racing on
# its ETag instead, each loser reads, applies and writes the whole document again, and with a big
# document and a few concurrent uploaders nearly every attempt loses. Instances still race each
# other; the backoff spreads those out.
_TURNS = tuple(threading.Lock() for _ in range(64))
# A parsed document takes a few times the bytes of its JSON.
_PARSED_FACTOR = 4


@dataclass(frozen=True)
class _Kept:
    """A document as this instance read (or wrote) it: parsed, with its ETag and stored size, and
    when storage last said it was the blob's content (on the monotonic clock)."""

    parsed: Any
    etag: str
    size: int
    confirmed: float


# What an instance keeps of the documents it read, by blob: no time to live, as a reader trusts one
# only for a while after storage confirmed it (``read``) and otherwise asks whether it is still the
# blob's content (If-None-Match); bounded by (parsed) bytes.
_DOCUMENTS = Memo[str, _Kept](max_size=256 * 1024 * 1024, size_of=lambda kept: kept.size)


class DocumentConflict(Conflict):
    code = "busy"


# A project's document ------------------------------------------------------------------------


@dataclass(frozen=True)
class DocumentFile:
    """An active file as pages show it (shared.pages.PageFile), with what the upstream merge needs."""

    filename: str
    version: str
    release: str  # the canonical version: its release's row key
    sha256: str
    blob: str  # where its bytes are (its core metadata file's: keys.metadata_blob of it)
    requires_python: str | None
    core_metadata_sha256: str | None  # only when the metadata file is served (PEP 658)
    size: int
    uploaded: str
    origin: str  # packages.LOCAL or packages.UPSTREAM
    upstream_yanked: bool | str  # a saved file's yank upstream when it was saved (True or the reason)
    # As pages show it: the release's yank, else a saved file's yank upstream.
    yanked: bool = False
    yanked_reason: str | None = None
    # Uploaded with attestations: pages link its provenance (PEP 740) without reading it.
    attested: bool = False

    @property
    def sort_key(self) -> tuple[Any, ...]:
        return (untrusted.version_order(self.version), self.filename)

    @classmethod
    def of(cls, stored: StoredFile) -> DocumentFile:
        return cls(
            filename=stored.filename,
            version=stored.version,
            release=stored.version_key,
            sha256=stored.sha256,
            blob=stored.blob,
            requires_python=stored.requires_python,
            core_metadata_sha256=stored.core_metadata_sha256,
            size=stored.size,
            uploaded=stored.uploaded,
            origin=stored.origin,
            upstream_yanked=stored.upstream_yanked,
            attested=stored.attested,
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "filename": self.filename,
            "version": self.version,
            "release": self.release,
            "sha256": self.sha256,
            "blob": self.blob,
            "requires_python": self.requires_python,
            "core_metadata_sha256": self.core_metadata_sha256,
            "size": self.size,
            "uploaded": self.uploaded,
            "origin": self.origin,
            "upstream_yanked": self.upstream_yanked,
            "attested": self.attested,
        }

    def yanked_by(self, release: ReleaseState | None) -> DocumentFile:
        """This file with its yank as pages show it, under ``release`` (its release's state)."""
        if release is not None and release.yanked:
            yanked, reason = True, release.reason
        elif self.upstream_yanked:
            yanked, reason = True, self.upstream_yanked if isinstance(self.upstream_yanked, str) else None
        else:
            yanked, reason = False, None
        if (yanked, reason) == (self.yanked, self.yanked_reason):
            return self
        return replace(self, yanked=yanked, yanked_reason=reason)


@dataclass(frozen=True)
class ReleaseState:
    """A release that has a row: whether it is yanked, why, and since when (None: not known)."""

    yanked: bool = False
    reason: str | None = None
    yanked_at: str | None = None


@dataclass(frozen=True)
class ProjectDocument:
    """What the project's pages and the upstream merge need of its rows (see the module docstring)."""

    project: str
    files: tuple[DocumentFile, ...] = ()  # active files, in page order (version, then name)
    retired: Mapping[str, str] = field(default_factory=dict)  # deleted and purged names → release
    releases: Mapping[str, ReleaseState] = field(default_factory=dict)  # by canonical version
    allow_external: bool = False
    published: bool = False  # a file of it was published here (deleted ones included)
    listed: bool = False  # the feed's project list (its row and document) names it
    outdated: bool = False  # read from a format that lacks what this one keeps (see _PROJECT_FORMAT)
    # Releases promoted into each view, by the view's id (shared/views.py); @local is every release.
    promoted: Mapping[str, frozenset[str]] = field(default_factory=dict)

    @property
    def exists(self) -> bool:
        """Whether the feed has (or had) files of this project (the allow-external row alone is none)."""
        return bool(self.files or self.retired or self.releases)

    @property
    def blank(self) -> bool:
        """Whether the project has no rows at all: such a document is not worth storing by itself."""
        return not (self.exists or self.allow_external or self.listed)

    @functools.cached_property
    def taken(self) -> frozenset[str]:
        """Every file name this feed has used."""
        return frozenset(f.filename for f in self.files) | frozenset(self.retired)

    def file(self, filename: str) -> DocumentFile | None:
        """The active file ``filename``, if the document lists it."""
        return self._by_name.get(filename)

    @functools.cached_property
    def _by_name(self) -> dict[str, DocumentFile]:
        return {f.filename: f for f in self.files}

    @functools.cached_property
    def versions(self) -> list[str]:
        """PEP 700 ``versions``: those of the active files, oldest first, one spelling each."""
        unique: dict[str, str] = {}
        for f in self.files:
            unique.setdefault(f.release, f.version)
        return sorted(unique.values(), key=untrusted.version_order)

    def in_view(self, view_id: str) -> ProjectDocument:
        """This document as the view ``view_id`` shows it: the files of releases promoted into it."""
        releases = self.promoted.get(view_id, frozenset())
        return replace(self, files=tuple(f for f in self.files if f.release in releases))

    def names_of_release(self, release: str) -> list[tuple[str, bool]]:
        """The file names used for ``release`` (canonical version), each with whether it is active."""
        active = [(f.filename, True) for f in self.files if f.release == release]
        return active + [(name, False) for name, key in self.retired.items() if key == release]

    # Building and changing ----------------------------------------------------------------------

    @classmethod
    def from_rows(cls, project: str, records: Iterable[Record], *, listed: bool) -> ProjectDocument:
        """The document of a whole files partition (its rows in any order)."""
        document = cls(project, listed=listed)
        return document.with_rows(records)

    def with_rows(self, records: Iterable[Record]) -> ProjectDocument:
        """This document with ``records`` (rows of the project's partition, as they are now) applied."""
        files = {f.filename: f for f in self.files}
        retired = dict(self.retired)
        releases = dict(self.releases)
        allow_external, published = self.allow_external, self.published
        promoted = {view: set(releases) for view, releases in self.promoted.items()}
        for record in records:
            row = record["RowKey"]
            if (promotion := promotion_of_row(row)) is not None:
                promoted.setdefault(promotion[0], set()).add(promotion[1])
            elif row == UPSTREAMING_ROW:
                allow_external = bool(record.get("AllowExternal", False))
            elif (release := release_of_row(row)) is not None:
                state = Release.from_record(record)
                releases[release] = ReleaseState(
                    state.yanked, state.yanked_reason, state.yanked_at if state.yanked else None
                )
            elif is_file_row(row):
                stored = StoredFile.from_record(record)
                published = published or stored.origin == LOCAL
                if stored.state == ACTIVE:
                    files[row] = DocumentFile.of(stored)
                    retired.pop(row, None)
                else:
                    files.pop(row, None)
                    retired[row] = stored.version_key
        ordered = sorted(
            (f.yanked_by(releases.get(f.release)) for f in files.values()), key=lambda f: f.sort_key
        )
        return replace(
            self,
            files=tuple(ordered),
            retired=retired,
            releases=releases,
            allow_external=allow_external,
            published=published,
            promoted={view: frozenset(releases) for view, releases in promoted.items()},
        )

    def with_new_file(self, record: Record) -> ProjectDocument:
        """This document with one new active file row, put in its place in page order without sorting
        the others again (an upload into a project of thousands of files)."""
        stored = StoredFile.from_record(record)
        added = DocumentFile.of(stored).yanked_by(self.releases.get(stored.version_key))
        files = list(self.files)
        bisect.insort(files, added, key=lambda f: f.sort_key)
        return replace(self, files=tuple(files), published=self.published or stored.origin == LOCAL)

    def with_release(self, release: str) -> ProjectDocument:
        """This document knowing that ``release`` has a row (created unyanked by this writer)."""
        if release in self.releases:
            return self
        return replace(self, releases={**self.releases, release: ReleaseState()})

    def now_listed(self) -> ProjectDocument:
        return self if self.listed else replace(self, listed=True)

    def as_of(self, as_of: AsOf) -> ProjectDocument:
        """This document as pages of the moment ``as_of`` show it (shared/as_of.py): the files
        uploaded by then, and the yanks made by then (or at an unknown time)."""
        files = [f for f in self.files if as_of.includes(f.uploaded)]
        shown = {f.release for f in files}
        releases = {
            key: state
            if not state.yanked or state.yanked_at is None or as_of.includes(state.yanked_at)
            else ReleaseState()
            for key, state in self.releases.items()
            if key in shown
        }
        shown_files = tuple(f.yanked_by(releases.get(f.release)) for f in files)
        return replace(self, files=shown_files, releases=releases)

    # Stored form ----------------------------------------------------------------------------------

    def to_bytes(self) -> bytes:
        document = {
            "format": _PROJECT_FORMAT,
            "project": self.project,
            "files": [f.to_json() for f in self.files],
            "retired": self.retired,
            "releases": {
                key: [state.yanked, state.reason, state.yanked_at] for key, state in self.releases.items()
            },
            "allow_external": self.allow_external,
            "published": self.published,
            "listed": self.listed,
        }
        if self.promoted:
            document["promoted"] = {view: sorted(releases) for view, releases in self.promoted.items()}
        return json.dumps(document, separators=(",", ":")).encode()

    @classmethod
    def from_bytes(cls, data: bytes) -> ProjectDocument:
        document = json.loads(data)
        releases = {key: ReleaseState(*state) for key, state in document["releases"].items()}
        files = tuple(
            DocumentFile(**{"blob": "", **entry}).yanked_by(releases.get(entry["release"]))
            for entry in document["files"]
        )
        return cls(
            project=document["project"],
            files=files,
            retired=document["retired"],
            releases=releases,
            allow_external=document["allow_external"],
            published=document["published"],
            listed=document["listed"],
            outdated=(document["format"] < 2 and any(r.yanked for r in releases.values()))
            or any(not f.blob for f in files),
            promoted={view: frozenset(releases) for view, releases in document.get("promoted", {}).items()},
        )


@dataclass(frozen=True)
class Snapshot:
    """A project's document as read, with the ETag it has in storage (None: none is stored)."""

    document: ProjectDocument
    etag: str | None
    blob: str


def _trusted(blob: str, trust_for: float) -> _Kept | None:
    """The document kept for ``blob``, if storage confirmed it less than ``trust_for`` seconds ago."""
    kept = _DOCUMENTS.peek(blob)
    return kept if kept is not None and time.monotonic() - kept.confirmed < trust_for else None


# Confirming a feed's kept documents together. An installer asks for a run's pages in a burst: pip
# one after another (a dozen in 0.2 s), uv a dozen at once. Past their bound each would cost its own
# conditional read, a storage round trip (a few ms in Azure). One listing of the feed's project
# documents gives every one's ETag, so it confirms in one request every document this instance
# keeps that is unchanged. It is asked for
# - when a second page of the feed needs storage within _BURST_SECONDS of another (a lone page costs
#   its one conditional read, as without listings), or
# - at once, when the feed's last listing confirmed more than one document (the next run of an
#   install: its first page costs the listing instead of its conditional read, and the rest nothing);
# and once for all the pages that arrive while it is under way, which wait for it at most
# _LISTING_WAIT_SECONDS. A page whose document changed since this instance read it still reads it
# (two requests), and lists no more while the last listing's confirmations hold. A feed with more
# than _LISTED_MAX documents is not listed (too much to transfer and parse for a few pages) for
# _UNLISTED_SECONDS; neither is one whose listing failed, for _BURST_SECONDS.
_BURST_SECONDS = 1.0
_LISTING_WAIT_SECONDS = 0.5
_LISTED_MAX = 250
_UNLISTED_SECONDS = 300.0


@dataclass(frozen=True)
class _Burst:
    """When a page of a feed last needed storage, when its documents were last listed and whether that
    confirmed more than one, and until when they are not listed."""

    last_miss: float = -math.inf
    listed_at: float = -math.inf
    useful: bool = False
    unlisted_until: float = -math.inf


_BURSTS = Memo[str, _Burst](max_size=10_000)  # by feed key
_LISTINGS: dict[str, threading.Event] = {}  # by feed key: set when the listing under way is done
_LISTINGS_LOCK = threading.Lock()


def _confirmed_together(storage: Storage, feed_key: str, blob: str, trust_for: float) -> _Kept | None:
    """The document kept for ``blob`` if a listing of the feed's documents (one under way, or one
    started here, see above) confirms it; None when the page must ask for its own."""
    if trust_for <= 0 or _DOCUMENTS.peek(blob) is None:
        return None  # nothing kept to confirm, or nothing may be trusted
    now = time.monotonic()
    with _LISTINGS_LOCK:
        under_way = _LISTINGS.get(feed_key)
        if under_way is None:
            burst = _BURSTS.peek(feed_key) or _Burst()
            _BURSTS.put(feed_key, replace(burst, last_miss=now))
            if (
                (now - burst.last_miss > _BURST_SECONDS and not burst.useful)
                or now - burst.listed_at < trust_for
                or now < burst.unlisted_until
            ):
                return None
            _LISTINGS[feed_key] = listing = threading.Event()
    if under_way is not None:
        under_way.wait(_LISTING_WAIT_SECONDS)
        return _trusted(blob, trust_for)
    outcome = _Burst(last_miss=now, unlisted_until=now + _BURST_SECONDS)  # unless it succeeds
    try:
        asked = time.monotonic()
        etags = storage.blob_etags(project_documents_prefix(feed_key), limit=_LISTED_MAX)
        if etags is None:
            outcome = _Burst(last_miss=now, unlisted_until=asked + _UNLISTED_SECONDS)
        else:
            confirmed = 0
            for name, etag in etags.items():
                kept = _DOCUMENTS.peek(name)
                if kept is not None and kept.etag == etag and kept.confirmed < asked:
                    _DOCUMENTS.replace(name, kept, replace(kept, confirmed=asked))
                    confirmed += 1
            outcome = _Burst(last_miss=now, listed_at=asked, useful=confirmed > 1)
    finally:
        with _LISTINGS_LOCK:
            _BURSTS.put(feed_key, outcome)
            del _LISTINGS[feed_key]
        listing.set()
    return _trusted(blob, trust_for)


def _read_stored(storage: Storage, blob: str, parse: Callable[[bytes], Any]) -> tuple[Any, str] | None:
    """The parsed document stored as ``blob`` and its ETag, from memory while storage says it is
    unchanged; None when none is stored."""
    kept = _DOCUMENTS.peek(blob)
    asked = time.monotonic()  # what storage answers is at least as recent as this
    state = storage.read_blob_state(blob, unless_etag=kept.etag if kept is not None else None)
    if state is UNCHANGED:
        assert kept is not None
        _DOCUMENTS.replace(blob, kept, replace(kept, confirmed=asked))
        return kept.parsed, kept.etag
    if state is None:
        _DOCUMENTS.invalidate(blob)
        return None
    parsed = parse(state.data)
    # Not over a document this instance wrote (or read) meanwhile, which may be newer.
    _DOCUMENTS.put_unless_changed(
        blob, kept, _Kept(parsed, state.etag, len(state.data) * _PARSED_FACTOR, asked)
    )
    return parsed, state.etag


def _write(storage: Storage, blob: str, data: bytes, etag: str | None, parsed: Any) -> str:
    """Write a document on ``etag`` (If-None-Match: * for None), keep it in memory; its new ETag.
    RecordChanged or RecordExists when another writer got there first."""
    asked = time.monotonic()
    new_etag = storage.write_blob(blob, data, content_type=_CONTENT_TYPE, if_match=etag)
    _DOCUMENTS.put(blob, _Kept(parsed, new_etag, len(data) * _PARSED_FACTOR, asked))
    return new_etag


def _rebuilt(storage: Storage, feed_key: str, project: str, *, listed: bool) -> ProjectDocument:
    records = storage.partition(FILES_TABLE, files_partition(feed_key, project))
    return ProjectDocument.from_rows(project, records, listed=listed)


def _turn(blob: str) -> threading.Lock:
    return _TURNS[hash(blob) % len(_TURNS)]


def _back_off(attempt: int) -> None:
    # Jitter, not a secret: any generator spreads writers out.
    time.sleep(random.uniform(0, min(_BACKOFF_CAP_SECONDS, _BACKOFF_SECONDS * 2**attempt)))  # noqa: S311


def current(storage: Storage, feed_key: str, project: str) -> Snapshot:
    """The document as stored now, or, without one, built from the rows (and not stored): what a
    writer starts from."""
    blob = project_document_blob(feed_key, project)
    stored = _read_stored(storage, blob, ProjectDocument.from_bytes)
    if stored is not None:
        return Snapshot(stored[0], stored[1], blob)
    return Snapshot(_rebuilt(storage, feed_key, project, listed=False), None, blob)


def kept_or_current(storage: Storage, feed_key: str, project: str) -> Snapshot:
    """The document as this instance last read or wrote it, without asking storage; else ``current``.
    For a writer whose conditional write of the document catches a newer one (and whose rows are
    insert-only or conditional, so a stale start decides nothing): an upload spares a request."""
    blob = project_document_blob(feed_key, project)
    kept = _DOCUMENTS.peek(blob)
    if kept is not None:
        return Snapshot(kept.parsed, kept.etag, blob)
    return current(storage, feed_key, project)


def read(storage: Storage, feed_key: str, project: str, *, trust_for: float = 0.0) -> Snapshot:
    """A project's document for a reader: the one this instance keeps, without asking storage, if
    storage confirmed it less than ``trust_for`` seconds ago (or this instance wrote it since); else
    one conditional read on a warm instance.

    Without a stored document (a project stored before documents, or none at all) it is built from
    the rows, and stored when there are any, so that the next read is cheap again; a project without
    rows gets an empty, unstored document (``keep`` stores it when a page is worth it).
    """
    blob = project_document_blob(feed_key, project)
    kept = _trusted(blob, trust_for) or _confirmed_together(storage, feed_key, blob, trust_for)
    if kept is not None and not kept.parsed.outdated:
        return Snapshot(kept.parsed, kept.etag, blob)
    for _attempt in range(_ATTEMPTS):
        snapshot = current(storage, feed_key, project)
        if snapshot.document.outdated:
            return follow_all(storage, feed_key, project)
        if snapshot.etag is not None or snapshot.document.blank:
            return snapshot
        try:
            return keep(storage, snapshot)
        except (RecordExists, RecordChanged):
            continue  # a writer stored one meanwhile: read that
    raise DocumentConflict(f"The page of '{project}' keeps changing; try again.")


def stored(storage: Storage, feed_key: str, project: str, *, trust_for: float) -> ProjectDocument | None:
    """A project's document for a lookup that has another way to the truth (a download can read its
    file's record): the kept one if storage confirmed it less than ``trust_for`` seconds ago, else
    the stored one (one conditional read). None when none is stored, or it is outdated: nothing is
    built or written here, so a download of a project the feed lacks costs no more than its record."""
    blob = project_document_blob(feed_key, project)
    kept = _trusted(blob, trust_for)
    if kept is not None:
        document: ProjectDocument = kept.parsed
    else:
        found = _read_stored(storage, blob, ProjectDocument.from_bytes)
        if found is None:
            return None
        document = found[0]
    return None if document.outdated else document


def forget(feed_key: str, project: str) -> None:
    """This instance's next download in ``project`` asks storage for its document again: files were
    deleted, and the kept document, trusted for a while, must not outlive the delete here."""
    _DOCUMENTS.invalidate(project_document_blob(feed_key, project))


def keep(storage: Storage, snapshot: Snapshot) -> Snapshot:
    """Store a document read without one (If-None-Match: *), so that the next read of it is one
    conditional read; RecordExists if a writer stored one meanwhile."""
    document = snapshot.document
    etag = _write(storage, snapshot.blob, document.to_bytes(), None, document)
    return Snapshot(document, etag, snapshot.blob)


def update(
    storage: Storage,
    feed_key: str,
    project: str,
    apply: Callable[[ProjectDocument, bool], ProjectDocument],
    *,
    start: Snapshot | None = None,
    rows_after_start: bool = False,
) -> Snapshot:
    """Apply a writer's rows to the project's document, on its ETag, until that write succeeds.

    ``apply(document, fresh)`` returns ``document`` with the writer's rows applied, read after the
    document was (``fresh``). ``start`` is the document the caller read already (else it is read
    now); with ``rows_after_start`` the caller wrote its rows after reading it, and ``apply`` is
    first called with ``fresh`` False: it may apply the rows as it wrote them (see the module
    docstring). The document is written only if it changed.
    """
    with _turn(project_document_blob(feed_key, project)):
        snapshot = start if start is not None else current(storage, feed_key, project)
        fresh = start is None or not rows_after_start
        for attempt in range(_ATTEMPTS):
            document = apply(snapshot.document, fresh)
            if document == snapshot.document and (snapshot.etag is not None or document.blank):
                return snapshot
            try:
                etag = _write(storage, snapshot.blob, document.to_bytes(), snapshot.etag, document)
            except (RecordChanged, RecordExists):
                _back_off(attempt)
                snapshot, fresh = current(storage, feed_key, project), True
                continue
            return Snapshot(document, etag, snapshot.blob)
    raise DocumentConflict(f"The page of '{project}' kept changing meanwhile; try again.")


def follow_rows(storage: Storage, feed_key: str, project: str, rows: Iterable[str]) -> Snapshot:
    """Update the document with the rows named (read after the document), as they are now."""
    partition = files_partition(feed_key, project)
    names = list(rows)

    def apply(document: ProjectDocument, _fresh: bool) -> ProjectDocument:
        records = [r for r in (storage.get(FILES_TABLE, partition, row) for row in names) if r is not None]
        return document.with_rows(records)

    return update(storage, feed_key, project, apply)


def follow_all(storage: Storage, feed_key: str, project: str) -> Snapshot:
    """Rebuild the document from all of the project's rows (read after the document): for writers
    that change many rows, and to repair."""

    def apply(document: ProjectDocument, _fresh: bool) -> ProjectDocument:
        return _rebuilt(storage, feed_key, project, listed=document.listed)

    return update(storage, feed_key, project, apply)


# The feed's project list -----------------------------------------------------------------------


@dataclass(frozen=True)
class ProjectList:
    """The feed's projects in name order, as its simple index lists them."""

    projects: tuple[Project, ...] = ()
    # The views (by id) each project was ever promoted into: a view's project list (shared/views.py).
    views: Mapping[str, frozenset[str]] = field(default_factory=dict)

    def with_project(self, project: Project) -> ProjectList:
        if any(p.name == project.name for p in self.projects):
            return self
        return replace(self, projects=tuple(sorted((*self.projects, project), key=lambda p: p.name)))

    def with_view(self, project: str, view_id: str) -> ProjectList:
        if view_id in self.views.get(project, frozenset()):
            return self
        return replace(self, views={**self.views, project: self.views.get(project, frozenset()) | {view_id}})

    def to_bytes(self) -> bytes:
        listed = [[p.name, p.display_name, p.created] for p in self.projects]
        document: dict[str, Any] = {"format": _FORMAT, "projects": listed}
        if self.views:
            document["views"] = {project: sorted(ids) for project, ids in self.views.items()}
        return json.dumps(document, separators=(",", ":")).encode()

    @classmethod
    def from_bytes(cls, data: bytes) -> ProjectList:
        document = json.loads(data)
        return cls(
            tuple(Project(name, display, created) for name, display, created in document["projects"]),
            {project: frozenset(ids) for project, ids in document.get("views", {}).items()},
        )


@dataclass(frozen=True)
class ListSnapshot:
    """The feed's project list as read, with its ETag."""

    projects: tuple[Project, ...]
    etag: str
    blob: str
    views: Mapping[str, frozenset[str]] = field(default_factory=dict)

    def in_view(self, view_id: str) -> tuple[Project, ...]:
        """The projects ever promoted into the view ``view_id``."""
        return tuple(p for p in self.projects if view_id in self.views.get(p.name, frozenset()))


def _list_from_rows(storage: Storage, feed_key: str) -> ProjectList:
    records = storage.partition(PROJECTS_TABLE, projects_partition(feed_key))
    return ProjectList(tuple(sorted((Project.from_record(r) for r in records), key=lambda p: p.name)))


def _update_list(
    storage: Storage, feed_key: str, apply: Callable[[ProjectList | None], ProjectList]
) -> ListSnapshot:
    blob = project_list_blob(feed_key)
    with _turn(blob):
        for attempt in range(_ATTEMPTS):
            stored = _read_stored(storage, blob, ProjectList.from_bytes)
            current, etag = stored if stored is not None else (None, None)
            listed = apply(current)
            if etag is not None and listed == current:
                return ListSnapshot(listed.projects, etag, blob, listed.views)
            try:
                new_etag = _write(storage, blob, listed.to_bytes(), etag, listed)
            except (RecordChanged, RecordExists):
                _back_off(attempt)
                continue
            return ListSnapshot(listed.projects, new_etag, blob, listed.views)
    raise DocumentConflict("The feed's project list kept changing meanwhile; try again.")


def read_list(storage: Storage, feed_key: str, *, trust_for: float = 0.0) -> ListSnapshot:
    """The feed's project list: kept, as ``read`` keeps a project's document, or one conditional read
    on a warm instance; built from the projects partition and stored when the feed has none yet (a
    feed from before documents)."""
    blob = project_list_blob(feed_key)
    kept = _trusted(blob, trust_for)
    if kept is not None:
        return ListSnapshot(kept.parsed.projects, kept.etag, blob, kept.parsed.views)
    return _update_list(storage, feed_key, lambda current: current or _list_from_rows(storage, feed_key))


def add_to_list(storage: Storage, feed_key: str, project: Project) -> None:
    """Add a project (whose row is written) to the feed's project list, if it is not there."""

    def apply(current: ProjectList | None) -> ProjectList:
        return (current or _list_from_rows(storage, feed_key)).with_project(project)

    _update_list(storage, feed_key, apply)


def list_in_view(storage: Storage, feed_key: str, project: str, view_id: str) -> None:
    """Note in the feed's project list that ``project`` (listed there) has a version in a view."""

    def apply(current: ProjectList | None) -> ProjectList:
        return (current or _list_from_rows(storage, feed_key)).with_view(project, view_id)

    _update_list(storage, feed_key, apply)
