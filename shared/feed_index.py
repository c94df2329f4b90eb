"""What a feed serves, for one caller: the one face of a feed's projects and files to every handler.

A handler that reads a feed's projects or files asks its ``FeedIndex`` (made once per request, for
the feed and the caller) and nothing else: the project list, a project's page, a file or its core
metadata file, the feed's own records of a project for the package and JSON APIs, and whether a
project's upstream versions may show. Whether upstreams are behind the feed is this face's business,
not the handler's: a project page merges them, and a file the feed does not hold is saved from, or
passed through from, the first upstream that lists it (shared/upstream/sources.py). It plays the
part of Warehouse's ``_simple_detail(project, request)`` and devpi's ``stage.get_simplelinks``.

Being the only road from handlers to project data, it is also where reads of that data are kept
between requests: pages are read from page documents (shared/page_documents.py), kept for a second
and then one conditional read each, and what is rendered from a document is kept by its ETag (and,
for a page with upstreams merged in, by each upstream listing's version), so a page that did not
change costs at most that one read and is neither parsed nor rendered again. Downloads find their
file in the same documents, trusted for longer (their bytes never change), and small files' bytes
are kept.
"""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from shared import keys, memo, packages, page_documents, pages
from shared.as_of import AsOf
from shared.auth import Principal
from shared.downloads import Download
from shared.feeds import Feed
from shared.memo import Memo
from shared.negotiation import SIMPLE_JSON
from shared.packages import (
    PROVENANCE_CONTENT_TYPE,
    FileNotFound,
    Project,
    ProjectNotFound,
    ProjectRecords,
    StoredFile,
)
from shared.page_documents import DocumentFile
from shared.representations import Rendered
from shared.storage import RecordExists, Storage
from shared.upstream.config import matches_claimed
from shared.upstream.sources import FeedUpstreams, HeldBack, PassThrough
from shared.views import View

# Pages rendered from documents, by the document's blob and ETag, what was merged in, and format.
# They never go stale (a changed document has a new ETag), so they are kept until evicted.
_RENDERED = Memo[tuple[Any, ...], Rendered](max_size=256 * 1024 * 1024, size_of=lambda page: page.size)


@dataclass(frozen=True)
class Page:
    """A simple page, rendered, with what its response must say about it."""

    rendered: Rendered
    per_caller: bool = False  # it shows what this caller may see (see FeedUpstreams.varies_by_caller)
    headers: dict[str, str] = field(default_factory=dict)


def _page_trust(revalidate: bool) -> float:
    """How long a page trusts the document this instance keeps: not at all when the client asked to
    revalidate."""
    return 0.0 if revalidate else memo.PAGE_STALE_SECONDS


def _rendered(key: tuple[Any, ...], render: Callable[[], str]) -> Rendered:
    return _RENDERED.get(key, lambda: Rendered.of(render()))


# Core metadata files (PEP 658) by blob name, kept as long as memory allows: blob names are
# content-addressed, so the bytes under one never change. A few KiB each, 64 MiB in all.
_core_metadata: memo.Memo[str, bytes] = memo.Memo(max_size=64 * 1024 * 1024, size_of=len)
# Small package files by blob name, for the same reason: what an install downloads again and again
# is served from memory. Bigger files are read from storage each time (and streamed, or redirected).
_KEPT_FILE_BYTES = 1024 * 1024
_kept_files: memo.Memo[str, bytes] = memo.Memo(max_size=64 * 1024 * 1024, size_of=len)

# The releases of a project promoted into each view, by (feed key, project), for downloads through a
# view, kept for at most STALE_SECONDS. Promotion only adds, so a release missing from a kept copy is
# looked up again (one conditional read) before a download is refused; a version deleted through
# another instance is refused by its file record's bound (packages.get_file), as on the feed's URL.
_promoted: memo.Memo[tuple[str, str], dict[str, frozenset[str]]] = memo.Memo(
    max_size=10_000, seconds=memo.STALE_SECONDS
)


@dataclass(frozen=True)
class Upstreaming:
    """Whether upstream versions of a project show in a feed, and why not (Azure Artifacts' "allow
    external versions")."""

    project: str
    allow_external: bool  # the owner's choice for this project
    published: bool  # files of it were published to this feed
    claimed: bool  # its name matches a pattern the feed claims
    visible: bool
    reason: str | None  # why they do not show
    # The feed's upstream cooldown (shared/upstream/cooldown.py): its days, whether this project (or
    # which of its versions) is excepted, the versions held back now and until when, and how many
    # upstream files showed without an upload time (which the cooldown cannot judge).
    cooldown_days: int = 0
    cooldown_exceptions: tuple[str, ...] = ()
    held_back: tuple[HeldBack, ...] = ()
    untimed: int = 0

    def to_json(self) -> dict[str, Any]:
        return {
            "project": self.project,
            "allow_external_versions": self.allow_external,
            "published": self.published,
            "claimed": self.claimed,
            "upstream_versions_visible": self.visible,
            "reason": self.reason,
            "cooldown": {
                "days": self.cooldown_days,
                "exceptions": list(self.cooldown_exceptions),
                "held_back": [h.to_json() for h in self.held_back],
                "files_without_upload_time": self.untimed,
            },
        }


class FeedIndex:
    """What ``feed`` serves to ``principal``, read from ``storage`` (and the feed's upstreams); with
    ``view``, what that view of it serves: the feed's own files of the releases promoted into it,
    without upstreams (shared/views.py)."""

    def __init__(self, storage: Storage, feed: Feed, principal: Principal, view: View | None = None) -> None:
        self.storage = storage
        self.feed = feed
        self.principal = principal
        self.view = view
        self.upstreams = FeedUpstreams(storage, feed, principal)

    @property
    def name(self) -> str:
        """The feed's name as its URLs spell it: ``feed@view`` for a view."""
        return f"{self.feed.name}@{self.view.name}" if self.view is not None else self.feed.name

    # The feed's own projects ------------------------------------------------------------------

    def project_list(
        self, media_type: str, as_of: AsOf | None = None, *, revalidate: bool = False
    ) -> Rendered:
        """The simple index: the feed's projects, published or saved from upstreams (as of ``as_of``:
        those created by then, or at a time not recorded); read from storage again if ``revalidate``
        (else as kept for up to memo.PAGE_STALE_SECONDS)."""
        listed = page_documents.read_list(self.storage, self.feed.key, trust_for=_page_trust(revalidate))
        as_json = media_type == SIMPLE_JSON
        view_id = self.view.id if self.view is not None else None
        projects = listed.in_view(view_id) if view_id is not None else listed.projects
        if as_of is not None:
            projects = tuple(p for p in projects if p.created is None or as_of.includes(p.created))

        def render() -> str:
            if as_json:
                return pages.project_list_json(projects)
            return pages.project_list_html(self.name, projects)

        return _rendered((listed.blob, listed.etag, view_id, as_json, as_of), render)

    def projects(self) -> tuple[Project, ...]:
        """Every project of the feed, in name order, from the list document its simple index is
        rendered from (one conditional read)."""
        return page_documents.read_list(self.storage, self.feed.key).projects

    def projects_page(self, *, continuation: str | None, limit: int) -> tuple[list[Project], str | None]:
        """Up to ``limit`` of the feed's projects and the continuation of the next page (None: the end)."""
        return packages.list_projects_page(
            self.storage, self.feed.key, continuation=continuation, limit=limit
        )

    def records(self, project: str) -> ProjectRecords:
        """The feed's own records of ``project``: every file, whatever its state, and its releases;
        through a view, those of the releases promoted into it."""
        records = packages.read_project(self.storage, self.feed.key, project)
        if self.view is None:
            return records
        promoted = self._promoted(project, fresh=True)
        return replace(
            records,
            files=tuple(f for f in records.files if f.version_key in promoted),
            releases={key: r for key, r in records.releases.items() if key in promoted},
        )

    def display_name(self, project: str) -> str | None:
        """The project's name as it was first published here; None if the feed's index lacks it."""
        return packages.display_name(self.storage, self.feed.key, project)

    def core_metadata(self, file: StoredFile) -> bytes:
        """A stored file's core metadata file (it must have one: ``file.metadata_blob``)."""
        return self._core_metadata(file.metadata_blob or "")

    def _core_metadata(self, blob: str) -> bytes:
        return _core_metadata.get(blob, lambda: self.storage.read_blob(blob))

    # What installers read, upstreams merged in -------------------------------------------------

    def project_page(
        self, project: str, media_type: str, as_of: AsOf | None = None, *, revalidate: bool = False
    ) -> Page:
        """The page of ``project`` as ``media_type``: the feed's files merged with its upstreams', as
        of the moment ``as_of`` if given (shared/as_of.py); from the project's document as this
        instance keeps it for up to memo.PAGE_STALE_SECONDS, or as stored now if ``revalidate``.

        ProjectNotFound unless the feed or an upstream has the project; an upstream's failure when
        the feed has nothing and that upstream could not say whether it has it (a 502, which pip and
        uv report as a failure, rather than a 404 that reads as "no such project").
        """
        trust_for = _page_trust(revalidate)
        snapshot = page_documents.read(self.storage, self.feed.key, project, trust_for=trust_for)
        if self.view is not None:
            return self._view_page(project, snapshot, media_type == SIMPLE_JSON, as_of)
        shown = snapshot if as_of is None else replace(snapshot, document=snapshot.document.as_of(as_of))
        view = self.upstreams.view(project, shown, as_of)
        if not view.exists:
            if view.errors:
                raise view.errors[0]
            hidden = f" {view.hidden_reason}" if view.hidden_reason else ""
            raise ProjectNotFound(f"No project named '{project}' in feed '{self.feed.name}'.{hidden}")
        if snapshot.etag is None:
            # Only upstreams have it: its empty document is stored, so that the next page of it is
            # one conditional read (a writer may have stored one meanwhile; it is read next time).
            with contextlib.suppress(RecordExists):
                snapshot = page_documents.keep(self.storage, snapshot)
        as_json = media_type == SIMPLE_JSON

        def render() -> str:
            if as_json:
                return pages.project_json(project, view.files, view.versions)
            return pages.project_html(project, view.files)

        rendered = _rendered((snapshot.blob, snapshot.etag, view.version, as_json, as_of), render)
        return Page(rendered, per_caller=view.per_caller, headers=view.headers())

    def _view_page(
        self, project: str, snapshot: page_documents.Snapshot, as_json: bool, as_of: AsOf | None
    ) -> Page:
        assert self.view is not None
        if not snapshot.document.promoted.get(self.view.id):
            raise ProjectNotFound(f"No project named '{project}' in '{self.name}'.")
        document = snapshot.document.in_view(self.view.id)
        if as_of is not None:
            document = document.as_of(as_of)

        def render() -> str:
            if as_json:
                return pages.project_json(project, document.files, document.versions)
            return pages.project_html(project, document.files)

        key = (snapshot.blob, snapshot.etag, ("view", self.view.id), as_json, as_of)
        return Page(_rendered(key, render))

    def _promoted(self, project: str, *, fresh: bool) -> frozenset[str]:
        """The releases of ``project`` promoted into this view (see ``_promoted``)."""
        assert self.view is not None
        key = (self.feed.key, project)
        if fresh:
            _promoted.invalidate(key)

        def load() -> dict[str, frozenset[str]]:
            return dict(page_documents.read(self.storage, self.feed.key, project).document.promoted)

        return _promoted.get(key, load).get(self.view.id, frozenset())

    def _in_view(self, project: str, found: StoredFile) -> StoredFile:
        """``found``, if this index is no view or its release is promoted into the view."""
        if self.view is None:
            return found
        if found.version_key in self._promoted(project, fresh=False):
            return found
        if found.version_key in self._promoted(project, fresh=True):
            return found
        raise FileNotFound(f"No file '{found.filename}' in '{self.name}'.")

    def file(self, project: str, filename: str) -> Download:
        """A file of ``project``: the feed's own; else one saved from (or passed through from, for a
        caller who may not save) the first upstream listing it. FileNotFound otherwise."""
        public = self.feed.visibility == "public"
        listed = self._listed(project, filename)
        if listed is not None:
            content_type = packages.content_type_for(listed.filename)
            stored = self._stored(
                listed.blob, listed.size, listed.sha256, listed.uploaded, content_type, public
            )
            return replace(stored, version_key=listed.release)
        found, public = self._own_or_upstream(project, filename, FeedUpstreams.obtain_file)
        if isinstance(found, PassThrough):
            return self._passed_through(found, public)
        stored = self._stored(
            found.blob, found.size, found.sha256, found.uploaded, found.content_type, public
        )
        return replace(stored, version_key=found.version_key)

    def metadata(self, project: str, filename: str) -> Download:
        """The core metadata file (PEP 658) of the file ``filename``; FileNotFound if it has none."""
        listed = self._listed(project, filename)
        if listed is not None:
            if not listed.core_metadata_sha256:
                raise FileNotFound(f"No metadata file for '{listed.filename}'.")
            public = self.feed.visibility == "public"
            metadata_blob = keys.metadata_blob(listed.blob)
            return self._metadata(metadata_blob, listed.core_metadata_sha256, listed.uploaded, public)
        found, public = self._own_or_upstream(project, filename, FeedUpstreams.obtain_metadata)
        if isinstance(found, PassThrough):
            return self._passed_through(found, public)
        if not found.core_metadata_sha256 or not found.metadata_blob:
            raise FileNotFound(f"No metadata file for '{found.filename}'.")
        return self._metadata(found.metadata_blob, found.core_metadata_sha256, found.uploaded, public)

    def provenance(self, project: str, version: str, filename: str) -> Download:
        """The PEP 740 provenance of the feed's own file ``filename`` of ``version`` (any spelling of
        it); FileNotFound unless the file was uploaded with attestations. An upstream's provenance is
        not passed on (pages link none for upstream files)."""
        found = self._in_view(project, packages.get_file(self.storage, self.feed.key, project, filename))
        blob = found.provenance_blob
        if blob is None or found.version_key != packages.version_key(version):
            raise FileNotFound(f"No provenance available for {filename} (version {version}).")
        data = self.storage.read_blob(blob)

        def read(offset: int | None, length: int | None) -> bytes:
            start = offset or 0
            return data[start : start + length if length is not None else None]

        public = self.feed.visibility == "public"
        sha256 = hashlib.sha256(data).hexdigest()
        return Download(len(data), sha256, PROVENANCE_CONTENT_TYPE, found.uploaded, public, read)

    def upstreaming(self, project: str) -> Upstreaming:
        """Whether upstream versions of ``project`` show in this feed, and why not; with a cooldown,
        the versions it holds back (read from the upstreams as a page reads them)."""
        document = page_documents.read(self.storage, self.feed.key, project).document
        config = self.feed.upstream_config
        hidden = self.upstreams.hidden_reason(project, document)
        held: list[HeldBack] = []
        untimed = 0
        if config.cooldown_days and config.upstreams and hidden is None:
            held, untimed = self.upstreams.held_back(project, document)
        return Upstreaming(
            project,
            allow_external=document.allow_external,
            published=document.published,
            claimed=matches_claimed(project, config.claimed_patterns),
            visible=bool(config.upstreams) and hidden is None,
            reason=hidden if config.upstreams else "This feed has no upstreams.",
            cooldown_days=config.cooldown_days,
            cooldown_exceptions=tuple(
                e for e in config.cooldown_exceptions if e == project or e.startswith(f"{project}==")
            ),
            held_back=tuple(held),
            untimed=untimed,
        )

    # Files -------------------------------------------------------------------------------------

    def _listed(self, project: str, filename: str) -> DocumentFile | None:
        """The feed's own file as the project's document lists it (through a view, if its release is
        promoted into the view), trusted for up to memo.STALE_SECONDS without asking storage: the
        lookup a download makes. None sends the caller to the records and the upstreams."""
        document = page_documents.stored(self.storage, self.feed.key, project, trust_for=memo.STALE_SECONDS)
        if document is None:
            return None
        found = document.file(filename)
        if found is None or not found.blob:
            return None
        if self.view is not None and found.release not in document.promoted.get(self.view.id, ()):
            return None
        return found

    def _own_or_upstream(
        self,
        project: str,
        filename: str,
        obtain: Callable[[FeedUpstreams, str, str], StoredFile | PassThrough],
    ) -> tuple[StoredFile | PassThrough, bool]:
        """The feed's own file (by its record), else what ``obtain`` gets from the upstreams; and
        whether shared caches may keep the answer: only for a public feed, and not when it may have
        come from a feed upstream that not everyone may read (see FeedUpstreams.varies_by_caller)."""
        public = self.feed.visibility == "public"
        try:
            found = packages.get_file(self.storage, self.feed.key, project, filename)
            return self._in_view(project, found), public
        except FileNotFound:
            if self.view is not None or not self.feed.upstream_config.upstreams:
                raise
            found = obtain(self.upstreams, project, filename)
            return found, public and not self.upstreams.varies_by_caller()

    def _stored(
        self, blob: str, size: int, sha256: str, uploaded: str, content_type: str, public: bool
    ) -> Download:
        storage = self.storage

        def read(offset: int | None, length: int | None) -> bytes:
            if size > _KEPT_FILE_BYTES:
                return storage.read_blob(blob, offset=offset, length=length)
            whole = _kept_files.get(blob, lambda: storage.read_blob(blob))
            start = offset or 0
            return whole[start : start + length if length is not None else None]

        def signed_url(start: datetime, expiry: datetime, cache_control: str) -> str:
            return storage.read_url(blob, start=start, expiry=expiry, cache_control=cache_control)

        return Download(size, sha256, content_type, uploaded, public, read, signed_url)

    def _metadata(self, blob: str, sha256: str, uploaded: str, public: bool) -> Download:
        """The core metadata file stored as ``blob``: small, so read whole (and kept) before the
        response, which needs its size."""
        data = self._core_metadata(blob)

        def read(offset: int | None, length: int | None) -> bytes:
            start = offset or 0
            return data[start : start + length if length is not None else None]

        stored = self._stored(blob, len(data), sha256, uploaded, packages.METADATA_CONTENT_TYPE, public)
        return replace(stored, read=read)

    @staticmethod
    def _passed_through(found: PassThrough, public: bool) -> Download:
        return Download(found.size, found.sha256, found.content_type, found.last_modified, public, found.read)
