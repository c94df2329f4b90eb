"""What a feed serves, for one caller: the one face of a feed's projects and files to every handler.

A handler that reads a feed's projects or files asks its ``FeedIndex`` (made once per request, for
the feed and the caller) and nothing else: the project list, a project's page, a file or its core
metadata file, the feed's own records of a project for the package and JSON APIs, and whether a
project's upstream versions may show. Whether upstreams are behind the feed is this face's business,
not the handler's: a project page merges them, and a file the feed does not hold is saved from, or
passed through from, the first upstream that lists it (shared/upstream/sources.py). It plays the
part of Warehouse's ``_simple_detail(project, request)`` and devpi's ``stage.get_simplelinks``.

Being the only road from handlers to project data, it is also where reads of that data are kept
between requests: pages are read from page documents (shared/page_documents.py), one conditional
read each, and what is rendered from a document is kept by its ETag (and, for a page with upstreams
merged in, by each upstream listing's version), so a page that did not change costs that one read
and is neither parsed nor rendered again.
"""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from shared import memo, packages, page_documents, pages
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
from shared.representations import Rendered
from shared.storage import RecordExists, Storage
from shared.upstream.config import matches_claimed
from shared.upstream.sources import FeedUpstreams, PassThrough

# Pages rendered from documents, by the document's blob and ETag, what was merged in, and format.
# They never go stale (a changed document has a new ETag), so they are kept until evicted.
_RENDERED = Memo[tuple[Any, ...], Rendered](max_size=256 * 1024 * 1024, size_of=lambda page: page.size)


@dataclass(frozen=True)
class Page:
    """A simple page, rendered, with what its response must say about it."""

    rendered: Rendered
    per_caller: bool = False  # it shows what this caller may see (see FeedUpstreams.varies_by_caller)
    headers: dict[str, str] = field(default_factory=dict)


def _rendered(key: tuple[Any, ...], render: Callable[[], str]) -> Rendered:
    return _RENDERED.get(key, lambda: Rendered.of(render()))


# Core metadata files (PEP 658) by blob name, kept as long as memory allows: blob names are
# content-addressed, so the bytes under one never change. A few KiB each, 64 MiB in all.
_core_metadata: memo.Memo[str, bytes] = memo.Memo(max_size=64 * 1024 * 1024, size_of=len)


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

    def to_json(self) -> dict[str, Any]:
        return {
            "project": self.project,
            "allow_external_versions": self.allow_external,
            "published": self.published,
            "claimed": self.claimed,
            "upstream_versions_visible": self.visible,
            "reason": self.reason,
        }


class FeedIndex:
    """What ``feed`` serves to ``principal``, read from ``storage`` (and the feed's upstreams)."""

    def __init__(self, storage: Storage, feed: Feed, principal: Principal) -> None:
        self.storage = storage
        self.feed = feed
        self.principal = principal
        self.upstreams = FeedUpstreams(storage, feed, principal)

    # The feed's own projects ------------------------------------------------------------------

    def project_list(self, media_type: str) -> Rendered:
        """The simple index: the feed's projects, published or saved from upstreams."""
        listed = page_documents.read_list(self.storage, self.feed.key)
        as_json = media_type == SIMPLE_JSON

        def render() -> str:
            if as_json:
                return pages.project_list_json(listed.projects)
            return pages.project_list_html(self.feed.name, listed.projects)

        return _rendered((listed.blob, listed.etag, as_json), render)

    def projects_page(self, *, continuation: str | None, limit: int) -> tuple[list[Project], str | None]:
        """Up to ``limit`` of the feed's projects and the continuation of the next page (None: the end)."""
        return packages.list_projects_page(
            self.storage, self.feed.key, continuation=continuation, limit=limit
        )

    def records(self, project: str) -> ProjectRecords:
        """The feed's own records of ``project``: every file, whatever its state, and its releases."""
        return packages.read_project(self.storage, self.feed.key, project)

    def display_name(self, project: str) -> str | None:
        """The project's name as it was first published here; None if the feed's index lacks it."""
        return packages.display_name(self.storage, self.feed.key, project)

    def core_metadata(self, file: StoredFile) -> bytes:
        """A stored file's core metadata file (it must have one: ``file.metadata_blob``)."""
        return self._core_metadata(file.metadata_blob or "")

    def _core_metadata(self, blob: str) -> bytes:
        return _core_metadata.get(blob, lambda: self.storage.read_blob(blob))

    # What installers read, upstreams merged in -------------------------------------------------

    def project_page(self, project: str, media_type: str) -> Page:
        """The page of ``project`` as ``media_type``: the feed's files merged with its upstreams'.

        ProjectNotFound unless the feed or an upstream has the project; an upstream's failure when
        the feed has nothing and that upstream could not say whether it has it (a 502, which pip and
        uv report as a failure, rather than a 404 that reads as "no such project").
        """
        snapshot = page_documents.read(self.storage, self.feed.key, project)
        view = self.upstreams.view(project, snapshot)
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

        rendered = _rendered((snapshot.blob, snapshot.etag, view.version, as_json), render)
        return Page(rendered, per_caller=view.per_caller, headers=view.headers())

    def file(self, project: str, filename: str) -> Download:
        """A file of ``project``: the feed's own; else one saved from (or passed through from, for a
        caller who may not save) the first upstream listing it. FileNotFound otherwise."""
        found, public = self._own_or_upstream(project, filename, FeedUpstreams.obtain_file)
        if isinstance(found, PassThrough):
            return self._passed_through(found, public)
        return self._stored(found.blob, found.size, found.sha256, found.uploaded, found.content_type, public)

    def metadata(self, project: str, filename: str) -> Download:
        """The core metadata file (PEP 658) of the file ``filename``; FileNotFound if it has none."""
        found, public = self._own_or_upstream(project, filename, FeedUpstreams.obtain_metadata)
        if isinstance(found, PassThrough):
            return self._passed_through(found, public)
        blob = found.metadata_blob
        if not found.core_metadata_sha256 or not blob:
            raise FileNotFound(f"No metadata file for '{found.filename}'.")

        def read(offset: int | None, length: int | None) -> bytes:
            whole = self._core_metadata(blob)  # small: a range is cut from the kept copy
            start = offset or 0
            return whole[start : start + length if length is not None else None]

        return replace(
            self._stored(
                blob,
                found.metadata_size or 0,
                found.core_metadata_sha256,
                found.uploaded,
                packages.METADATA_CONTENT_TYPE,
                public,
            ),
            read=read,
        )

    def provenance(self, project: str, version: str, filename: str) -> Download:
        """The PEP 740 provenance of the feed's own file ``filename`` of ``version`` (any spelling of
        it); FileNotFound unless the file was uploaded with attestations. An upstream's provenance is
        not passed on (pages link none for upstream files)."""
        found = packages.get_file(self.storage, self.feed.key, project, filename)
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
        """Whether upstream versions of ``project`` show in this feed, and why not (nothing is fetched)."""
        document = page_documents.read(self.storage, self.feed.key, project).document
        config = self.feed.upstream_config
        hidden = self.upstreams.hidden_reason(project, document)
        return Upstreaming(
            project,
            allow_external=document.allow_external,
            published=document.published,
            claimed=matches_claimed(project, config.claimed_patterns),
            visible=bool(config.upstreams) and hidden is None,
            reason=hidden if config.upstreams else "This feed has no upstreams.",
        )

    # Files -------------------------------------------------------------------------------------

    def _own_or_upstream(
        self,
        project: str,
        filename: str,
        obtain: Callable[[FeedUpstreams, str, str], StoredFile | PassThrough],
    ) -> tuple[StoredFile | PassThrough, bool]:
        """The feed's own file, else what ``obtain`` gets from the upstreams; and whether shared caches
        may keep the answer: only for a public feed, and not when it may have come from a feed
        upstream that not everyone may read (see FeedUpstreams.varies_by_caller)."""
        public = self.feed.visibility == "public"
        try:
            return packages.get_file(self.storage, self.feed.key, project, filename), public
        except FileNotFound:
            if not self.feed.upstream_config.upstreams:
                raise
            found = obtain(self.upstreams, project, filename)
            return found, public and not self.upstreams.varies_by_caller()

    def _stored(
        self, blob: str, size: int, sha256: str, uploaded: str, content_type: str, public: bool
    ) -> Download:
        storage = self.storage

        def read(offset: int | None, length: int | None) -> bytes:
            return storage.read_blob(blob, offset=offset, length=length)

        def signed_url(start: datetime, expiry: datetime, cache_control: str) -> str:
            return storage.read_url(blob, start=start, expiry=expiry, cache_control=cache_control)

        return Download(size, sha256, content_type, uploaded, public, read, signed_url)

    @staticmethod
    def _passed_through(found: PassThrough, public: bool) -> Download:
        return Download(found.size, found.sha256, found.content_type, found.last_modified, public, found.read)
