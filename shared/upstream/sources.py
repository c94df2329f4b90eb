"""A feed seen through its upstreams: merged project pages, and upstream files fetched, saved and served.

This is where the building blocks meet the feed's records. For a project of a feed with upstreams:

- **Sources**, in Azure Artifacts' order: files published to the feed, files saved from upstreams,
  then each upstream's files in the configured order; a file name appears once (the first wins).
  PyPI and index upstreams are read through the page cache (shared/upstream/page_cache.py), one blob read
  per upstream when fresh. A feed upstream is read from storage with the CALLER's rights: a caller
  who cannot read feed B gets nothing from B through A. It contributes B's stored files (published
  there or saved there), never B's own live upstreams, like an Azure Artifacts view of a feed.
- **Dependency confusion**: the rules of shared/upstream/confusion.py decide whether *external* upstreams
  (PyPI and index URLs) may show a name. A name counts as published when this feed, or one of its
  feed upstreams, has files published to it, whoever asks: the feed upstreams are consulted with the
  feed's own view, also those the caller cannot read (whose files the caller still does not get).
  Feed upstreams are this deployment's own feeds, so their published files always show; files they
  saved from their own external upstreams show only when external versions of the name may show.
- **Failures**: an upstream that fails (timeouts, 5xx, malformed or hostile pages, refused addresses)
  is left out of the page, which keeps its local part; a stale cached copy is used when there is one.
  Both are reported (``stale``/``unavailable``) for the response headers. The external upstreams are
  asked at once, within one deadline for all of them; one that does not answer in time is not asked
  again for a while (shared.upstream.page_cache.UnansweredUpstreams).
- **Files**: a file listed only upstream is saved into the feed on its first download by a caller who
  may save (collaborator and above, or a signed-in reader when the feed's ``readers_save`` is on): checked
  against the upstream's hashes, stored content-addressed, and recorded insert-only, so concurrent
  first downloads agree on one record (and one that finds the record written meanwhile serves it). A
  caller who may not save gets the checked bytes passed through, held in memory, so only up to
  FEEDHOUSE_STREAM_MAX_BYTES. ``.metadata`` files of upstream files are passed through (checked
  against their hash) and never cause the distribution itself to be saved: a resolver reads the
  metadata of many candidate versions it never installs.
- **Caching**: feed upstreams are read with the caller's rights, so a feed with a feed upstream that
  not everyone may read shows different callers different things (``varies_by_caller``): shared
  caches must not keep such answers.

Upstream URLs can hold access tokens in their paths (some hosted indexes work that way), so what this
module tells callers (headers, error messages) names upstreams by host only.
"""

from __future__ import annotations

import contextvars
import functools
import io
import logging
import math
import re
import time
from collections.abc import Callable, Hashable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from shared import auth, feeds, keys, packages, page_documents, publishing, settings, untrusted
from shared.as_of import AsOf
from shared.auth import Permission, Principal
from shared.digests import BLAKE2B_256, HashMismatch, Promise, RunningHashes, checked
from shared.errors import BadGateway, BadRequest, Forbidden, Unauthorized
from shared.feeds import Feed
from shared.packages import LOCAL, FileNotFound, StoredFile
from shared.page_documents import DocumentFile, ProjectDocument, Snapshot
from shared.pages import PageFile
from shared.storage import Storage
from shared.upstream.client import UpstreamClient, UpstreamTimeout
from shared.upstream.config import FEED, INDEX, Upstream, matches_claimed
from shared.upstream.confusion import ConfusionPolicy, why_upstream_hidden
from shared.upstream.cooldown import Cooldown
from shared.upstream.page_cache import UNANSWERED, UnansweredUpstreams, UpstreamPageCache
from shared.upstream.page_parser import ProjectPage, UpstreamFile
from shared.upstream.saving import (
    NOTHING_STORED,
    check_core_metadata,
    listed,
    save_upstream_file,
    saved_blob_metadata,
)
from shared.upstream.url_safety import display_url
from shared.views import LOCAL as LOCAL_VIEW
from shared.views import View, ViewNotFound

logger = logging.getLogger(__name__)

DEADLINE_SETTING = "FEEDHOUSE_UPSTREAM_DEADLINE_SECONDS"
RETRY_SETTING = "FEEDHOUSE_UPSTREAM_RETRY_SECONDS"
STALE_HEADER = "X-Feedhouse-Upstream-Stale"
UNAVAILABLE_HEADER = "X-Feedhouse-Upstream-Unavailable"
_URL_RE = re.compile(r"https?://[^\s'\"<>]+", re.IGNORECASE)
_SHA256_RE = re.compile(r"[0-9a-f]{64}")


def public_label(upstream: Upstream) -> str:
    """How callers see an upstream: PyPI, a feed's name, or an index's origin (never its path)."""
    if upstream.kind != INDEX:
        return upstream.label
    return f"index {display_url(upstream.url or '', with_path=False)}"


def scrub(message: str) -> str:
    """A message about an upstream with every URL cut down to its origin."""
    return _URL_RE.sub(lambda m: display_url(m.group(0), with_path=False), message)


def _recorded(subject: str, feed: Feed, size: int | None, sha256: str) -> Promise:
    """What an upstream feed's record says about a file (or its metadata file) it stores."""
    return Promise(
        f"{subject} in feed '{feed.name}'", "its record there lists", NOTHING_STORED, size, {"sha256": sha256}
    )


def _public_error(upstream: Upstream, error: BadGateway) -> BadGateway:
    """The same error (status and code), its message naming the upstream without URL paths."""
    return type(error)(f"Upstream {public_label(upstream)}: {scrub(error.message)}")


# What a page lists -----------------------------------------------------------------------------


@dataclass(frozen=True)
class ListedFile:
    """A file as a project page lists it, whatever its source; links always point into the feed."""

    filename: str
    version: str
    sha256: str
    requires_python: str | None = None
    yanked: bool = False
    yanked_reason: str | None = None
    core_metadata_sha256: str | None = None
    size: int | None = None
    uploaded: str | None = None  # upload time, when known
    attested: bool = False  # an upstream's provenance (PEP 740) is not passed on

    @classmethod
    def from_upstream(cls, f: UpstreamFile) -> ListedFile:
        metadata = f.core_metadata.get("sha256") if not isinstance(f.core_metadata, bool) else None
        return cls(
            filename=f.filename,
            version=f.version,
            sha256=f.sha256 or "",
            requires_python=f.requires_python,
            yanked=bool(f.yanked),
            yanked_reason=f.yanked if isinstance(f.yanked, str) else None,
            core_metadata_sha256=metadata,
            size=f.size,
            uploaded=_normalized_time(f.upload_time),
        )


def _normalized_time(value: str | None) -> str | None:
    if not value:
        return None
    try:
        return packages.format_time(packages.parse_time(value))
    except ValueError:
        return None


def _yank_of(item: UpstreamFile | DocumentFile) -> tuple[bool, str | None]:
    if isinstance(item, DocumentFile):
        return item.yanked, item.yanked_reason
    return bool(item.yanked), item.yanked if isinstance(item.yanked, str) else None


@dataclass
class _Listing:
    """One upstream's files for a project, by file name (only those the feed could serve)."""

    upstream: Upstream
    exists: bool = False
    # An upstream feed's files as its page document lists them, or an index upstream's page.
    files: dict[str, UpstreamFile | DocumentFile] = field(default_factory=dict)
    published: bool = False  # feed upstreams: the project has files published to that feed
    source_feed: Feed | None = None
    stale: bool = False
    error: BadGateway | None = None
    # Which version of the upstream's listing this is: what a merged page is kept by (its document's
    # ETag and whether the caller may read it, for a feed; when its page was fetched, for an index).
    version: Hashable = None
    # Files left out by the cooldown (shared/upstream/cooldown.py): name → (version, held until).
    held: dict[str, tuple[str, datetime]] = field(default_factory=dict)
    untimed: int = 0  # external files shown without an upload time (the cooldown cannot judge them)

    def restrict(self, project: str, cooldown: Cooldown, as_of: AsOf | None) -> None:
        """Leave out what an as-of page of ``as_of`` does not show (files uploaded later, or at an
        unknown time: their moment cannot be told) and what the cooldown holds back."""
        if not cooldown.days and as_of is None:
            return  # the live page without a cooldown: nothing to look at (PyPI lists thousands)
        kept: dict[str, UpstreamFile | DocumentFile] = {}
        for name, item in self.files.items():
            uploaded = item.uploaded if isinstance(item, DocumentFile) else _normalized_time(item.upload_time)
            if as_of is not None and not as_of.includes(uploaded):
                continue
            if not isinstance(item, DocumentFile) or item.origin != LOCAL:
                if uploaded is None:
                    self.untimed += 1
                until = cooldown.held_until(project, item.version, uploaded)
                if until is not None:
                    self.held[name] = (item.version, until)
                    continue
            kept[name] = item
        self.files = kept

    def listed(self, item: UpstreamFile | DocumentFile) -> PageFile:
        if isinstance(item, DocumentFile):
            # Its provenance is served by the upstream feed only, not at this feed's URL.
            return replace(item, attested=False) if item.attested else item
        return ListedFile.from_upstream(item)


@dataclass(frozen=True)
class ProjectView:
    """A project page's contents: the merged files, and how the upstreams fared.

    The files are merged only when asked for (``files``): ``version`` says what they are made of, so
    a page rendered from them can be kept and served again, unmerged, while it is the same.
    """

    project: str
    exists: bool
    # What ``files`` are a function of, besides the project's document (its ETag keeps that apart).
    version: Hashable
    merge: Callable[[], list[PageFile]]
    hidden_reason: str | None = None  # why external upstreams were not consulted, if they were not
    stale: tuple[str, ...] = ()  # public labels of upstreams served from an old copy
    unavailable: tuple[str, ...] = ()  # public labels of upstreams that failed with no copy
    errors: tuple[BadGateway, ...] = ()
    # What it shows depends on who asks (see FeedUpstreams.varies_by_caller): no shared cache keeps it.
    per_caller: bool = False

    @functools.cached_property
    def files(self) -> list[PageFile]:
        return self.merge()

    @functools.cached_property
    def versions(self) -> list[str]:
        """PEP 700 ``versions``: those of the listed files, oldest first."""
        return _sorted_versions(f.version for f in self.files)

    def headers(self) -> dict[str, str]:
        headers = {}
        if self.stale:
            headers[STALE_HEADER] = ", ".join(self.stale)
        if self.unavailable:
            headers[UNAVAILABLE_HEADER] = ", ".join(self.unavailable)
        return headers


def _merged(document: ProjectDocument, listings: list[_Listing]) -> list[PageFile]:
    """The files of a merged page: the feed's own (published, then saved), then each upstream's in
    order, a name once. A name the feed has used never comes from an upstream (a deleted file stays
    deleted); a saved file follows its upstream's yanks while the upstream lists it (a local yank,
    its release's, wins)."""
    local = [f for f in document.files if f.origin == LOCAL]
    saved = [f for f in document.files if f.origin != LOCAL]
    taken = document.taken
    merged: dict[str, PageFile] = {f.filename: f for f in local}
    saved_names = {f.filename for f in saved}
    live_yanks: dict[str, tuple[bool, str | None]] = {}
    live: list[PageFile] = []
    for listing in listings:
        for name, item in listing.files.items():
            if name in saved_names:
                live_yanks.setdefault(name, _yank_of(item))
            elif name not in taken:
                live.append(listing.listed(item))
    for f in saved:
        entry = f
        if f.filename in live_yanks:
            release = document.releases.get(f.release)
            yanked, reason = live_yanks[f.filename]
            if release is not None and release.yanked:
                yanked, reason = True, release.reason
            entry = replace(f, yanked=yanked, yanked_reason=reason if yanked else None)
        merged.setdefault(f.filename, entry)
    for entry in live:
        merged.setdefault(entry.filename, entry)
    return list(merged.values())


def _sorted_versions(versions: Any) -> list[str]:
    unique: dict[str, str] = {}
    for version in versions:
        unique.setdefault(packages.version_key(version), version)
    return sorted(unique.values(), key=untrusted.version_order)


# What a download gets ---------------------------------------------------------------------------


@dataclass(frozen=True)
class PassThrough:
    """An upstream file (or its metadata) served without being saved.

    ``read(offset, length)`` gives the bytes to send, as ``functions.responses.file_response`` asks
    for them: the whole file (None, None), checked, or one range. Nothing is fetched before that, so
    HEAD and revalidation (304) cost the upstream nothing.
    """

    size: int
    sha256: str
    content_type: str
    last_modified: str  # ISO 8601, as records store times
    read: Callable[[int | None, int | None], bytes]

    @classmethod
    def held(cls, data: bytes, sha256: str, content_type: str, last_modified: str) -> PassThrough:
        """Bytes already fetched and checked: ranges are cut from them."""

        def read(offset: int | None, length: int | None) -> bytes:
            if offset is None:
                return data
            return data[offset : offset + length] if length is not None else data[offset:]

        return cls(len(data), sha256, content_type, last_modified, read)


@dataclass(frozen=True)
class _Candidate:
    """Where a file that is not in the feed would come from: the first upstream listing it."""

    listing: _Listing
    item: UpstreamFile | DocumentFile


@dataclass(frozen=True)
class HeldBack:
    """An upstream version the cooldown holds back, and until when (its youngest file's age)."""

    version: str
    upstream: str  # its public label
    until: datetime

    def to_json(self) -> dict[str, str]:
        return {"version": self.version, "upstream": self.upstream, "until": packages.format_time(self.until)}


class FeedUpstreams:
    """One request's view of a feed's upstreams, for the caller ``principal``."""

    def __init__(
        self,
        storage: Storage,
        feed: Feed,
        principal: Principal,
        *,
        client: UpstreamClient | None = None,
        cache: UpstreamPageCache | None = None,
        unanswered: UnansweredUpstreams = UNANSWERED,
    ) -> None:
        self.storage = storage
        self.feed = feed
        self.principal = principal
        self.config = feed.upstream_config
        self._client = client
        self._cache = cache
        self.unanswered = unanswered
        # Feed upstreams by name (``feed`` or ``feed@view``), read once per request.
        self._feeds: dict[str, tuple[Feed, View | None] | None] = {}

    @property
    def client(self) -> UpstreamClient:
        if self._client is None:
            self._client = UpstreamClient()
        return self._client

    @property
    def cache(self) -> UpstreamPageCache:
        if self._cache is None:
            self._cache = UpstreamPageCache(self.storage)
        return self._cache

    # Reading the sources ------------------------------------------------------------------------

    def _upstream_feed(self, upstream: Upstream) -> Feed | None:
        """The feed a feed upstream reads; for ``feed@view``, as that view is read (with its
        visibility, shared/views.py). None if there is no such feed or view."""
        name = upstream.feed or ""
        if name not in self._feeds:
            self._feeds[name] = self._view_of(feeds.find_feed(self.storage, upstream.feed_name), upstream)
        return self._feeds[name][0] if self._feeds[name] is not None else None

    def _upstream_view(self, upstream: Upstream) -> View | None:
        self._upstream_feed(upstream)
        found = self._feeds[upstream.feed or ""]
        return found[1] if found is not None else None

    @staticmethod
    def _view_of(feed: Feed | None, upstream: Upstream) -> tuple[Feed, View | None] | None:
        if feed is None or upstream.view is None:
            return (feed, None) if feed is not None else None
        try:
            view = feed.views.find(upstream.view)
        except ViewNotFound:
            return None
        return feeds.as_view(feed, view), (view if view.name != LOCAL_VIEW else None)

    def varies_by_caller(self) -> bool:
        """Whether what the feed shows through its upstreams depends on who asks: it does when one of
        them is a feed that not everyone may read, since feed upstreams are read with the caller's
        rights. Such answers must never be kept by shared caches (a CDN would hand one caller's view
        to anyone); everything else a feed shows is the same for every caller who may read it."""
        return any(
            (other := self._upstream_feed(upstream)) is not None and other.visibility != "public"
            for upstream in self.config.upstreams
            if upstream.kind == FEED
        )

    def _feed_listing(self, upstream: Upstream, project: str, as_of: AsOf | None) -> _Listing:
        """A feed upstream's page document of ``project``: whether the name is published there counts
        for every caller, its files only for callers who may read that feed.

        Dependency-confusion protection must not depend on who asks: a caller who could not see that
        a name is published in an upstream feed would be shown (and save into this feed, for everyone)
        an attacker's version of it from an external upstream. So that feed is consulted with the
        feed's own view, as its owner could read it when setting it up.
        """
        listing = _Listing(upstream, version=(upstream.key, None))
        other = self._upstream_feed(upstream)
        if other is None:
            return listing
        snapshot = page_documents.read(self.storage, other.key, project)
        listing.published = snapshot.document.published
        readable = auth.may(self.storage, self.principal, other, Permission.READ)
        listing.version = (upstream.key, other.key, snapshot.etag, readable)
        if not readable:
            return listing
        document = snapshot.document
        listing.source_feed = other
        if (view := self._upstream_view(upstream)) is not None:
            document = document.in_view(view.id)
            listing.exists = bool(snapshot.document.promoted.get(view.id))
        else:
            listing.exists = document.exists
        if as_of is not None:
            document = document.as_of(as_of)
        listing.files = {f.filename: f for f in document.files}
        return listing

    def _index_listing(
        self, upstream: Upstream, project: str, client: UpstreamClient, cache: UpstreamPageCache
    ) -> _Listing:
        """A PyPI or index upstream's page through the cache; a failure is recorded, not raised.

        An upstream remembered as not answering is not asked (its copy is served, stale), and one that
        times out now is remembered so (see UnansweredUpstreams); one that answers is forgotten.
        """
        listing = _Listing(upstream, version=(upstream.key, None))
        left = self.unanswered.remaining(upstream.key)
        unanswered = (
            f"it did not answer in time lately; Feedhouse asks it again in {math.ceil(left)} s "
            f"({RETRY_SETTING})."
            if left
            else None
        )

        def fetch() -> ProjectPage:
            try:
                page = client.fetch_upstream_page(upstream, project)
            except UpstreamTimeout:
                self.unanswered.remember(upstream.key, settings.get_seconds(RETRY_SETTING))
                raise
            self.unanswered.forget(upstream.key)
            return page

        try:
            cached = cache.get(self.feed.key, upstream.key, project, fetch, unanswered=unanswered)
        except BadRequest as error:
            # A deployment setting gone wrong (FEEDHOUSE_PYPI_URL unusable): an upstream failure here.
            logger.error("Upstream %s is misconfigured: %s", upstream.label, error)
            listing.error = _public_error(upstream, BadGateway(error.message))
            return listing
        except BadGateway as error:
            logger.warning("Upstream %s failed for %s/%s: %s", upstream.label, self.feed.name, project, error)
            listing.error = _public_error(upstream, error)
            return listing
        listing.exists = cached.page.exists
        listing.stale = cached.stale
        listing.version = (upstream.key, cached.fetched_at)
        # Only files with a sha256 can be checked, and so saved or passed through.
        listing.files = {
            f.filename: f for f in cached.page.files if f.sha256 and _SHA256_RE.fullmatch(f.sha256)
        }
        return listing

    def _ask_at_once(self, upstreams: list[Upstream], project: str) -> Callable[[Upstream], _Listing]:
        """Start asking every upstream in ``upstreams`` at once; a function that waits for one of
        their listings, until the request's deadline (FEEDHOUSE_UPSTREAM_DEADLINE_SECONDS) at most.

        A hung upstream must hold up neither the others nor the page: asked one after another, 20
        upstreams that time out took one project page 401 s, far past the Functions front end's 230 s.
        One that has not answered by the deadline is left out and remembered as not answering; its
        fetch goes on in the background, bounded by the client's own timeouts, and a page it gets
        still lands in the cache for the next request.
        """
        seconds = settings.get_seconds(DEADLINE_SETTING)
        deadline = time.monotonic() + seconds
        # Made here, so that the threads share one client and one cache.
        client, cache = self.client, self.cache
        pool = ThreadPoolExecutor(max_workers=max(1, len(upstreams)), thread_name_prefix="upstream")
        # Each in a copy of the request's context, so that its storage requests count for the request
        # (shared.storage.counting); a straggler's late ones count for nobody's.
        futures = {
            u.key: pool.submit(contextvars.copy_context().run, self._index_listing, u, project, client, cache)
            for u in upstreams
        }
        pool.shutdown(wait=False)  # the request does not wait for stragglers, only for what it needs

        def listing(upstream: Upstream) -> _Listing:
            try:
                return futures[upstream.key].result(timeout=max(0.0, deadline - time.monotonic()))
            except TimeoutError:
                self.unanswered.remember(upstream.key, settings.get_seconds(RETRY_SETTING))
                late = _Listing(upstream, version=(upstream.key, None))
                late.error = _public_error(
                    upstream,
                    UpstreamTimeout(f"did not answer within {seconds:g} s ({DEADLINE_SETTING})."),
                )
                return late

        return listing

    def _sources(
        self, project: str, document: ProjectDocument, as_of: AsOf | None = None
    ) -> tuple[str | None, Iterator[_Listing]]:
        """Why external upstreams are hidden for ``project`` (None if they may show), which the feed
        upstreams help decide, and each upstream's listing in order: once iteration starts, the
        external ones are asked all at once, and each is waited for when its turn comes. Listings
        are restricted to the moment ``as_of`` (None: now) and by the feed's cooldown as of then."""
        upstreams = self.config.upstreams
        cooldown = self.config.cooldown(as_of.moment if as_of is not None else datetime.now(UTC))
        internal = {u.key: self._feed_listing(u, project, as_of) for u in upstreams if u.kind == FEED}
        published = document.published or any(listing.published for listing in internal.values())
        policy = ConfusionPolicy.build(
            published=[project] if published else [],
            allow_external=[project] if document.allow_external else [],
            claimed_patterns=self.config.claimed_patterns,
        )
        hidden = why_upstream_hidden(project, policy)
        if hidden and not document.published and not matches_claimed(project, self.config.claimed_patterns):
            # Only feeds the caller may read are named.
            names = ", ".join(
                f"'{u.feed}'"
                for u in upstreams
                if u.kind == FEED and internal[u.key].published and internal[u.key].source_feed is not None
            )
            where = f"this feed's upstream feed {names}" if names else "one of this feed's upstream feeds"
            hidden = (
                f"'{project}' is published to {where}, so its external versions are hidden "
                "(dependency-confusion protection). A feed owner can allow external versions for it."
            )

        def listings() -> Iterator[_Listing]:
            external = [] if hidden else [u for u in upstreams if u.kind != FEED]
            asked = self._ask_at_once(external, project)
            for upstream in upstreams:
                if upstream.kind == FEED:
                    listing = internal[upstream.key]
                    if hidden:
                        # Only what was published to that feed: what it saved from outside is external.
                        listing.files = {
                            name: f
                            for name, f in listing.files.items()
                            if isinstance(f, DocumentFile) and f.origin == LOCAL
                        }
                    listing.restrict(project, cooldown, as_of)
                    yield listing
                elif not hidden:
                    listing = asked(upstream)
                    listing.restrict(project, cooldown, as_of)
                    yield listing

        return hidden, listings()

    def hidden_reason(self, project: str, document: ProjectDocument) -> str | None:
        """Why external upstream versions of ``project`` are hidden in this feed, or None (no fetch)."""
        hidden, _listings = self._sources(project, document)
        return hidden

    # Pages --------------------------------------------------------------------------------------

    def held_back(self, project: str, document: ProjectDocument) -> tuple[list[HeldBack], int]:
        """The upstream versions the cooldown holds back now, and how many upstream files it could
        not judge (no upload time): what the package API shows. Fetches as a page does."""
        held: dict[tuple[str, str], datetime] = {}
        untimed = 0
        _hidden, listings = self._sources(project, document)
        for listing in listings:
            untimed += listing.untimed
            for name, (version, until) in listing.held.items():
                if name in document.taken:
                    continue  # saved into the feed already: it shows
                key = (packages.version_key(version), public_label(listing.upstream))
                held[key] = max(until, held.get(key, until))
        return [
            HeldBack(version, upstream, until) for (version, upstream), until in sorted(held.items())
        ], untimed

    def view(self, project: str, snapshot: Snapshot, as_of: AsOf | None = None) -> ProjectView:
        """The merged page of ``project``, given the feed's own document of it (as of ``as_of``,
        already, when that is given: see FeedIndex.project_page)."""
        document = snapshot.document
        if not self.config.upstreams:
            return ProjectView(project, document.exists, (), lambda: list(document.files))

        exists = document.exists
        stale: list[str] = []
        unavailable: list[str] = []
        errors: list[BadGateway] = []
        answered: list[_Listing] = []
        hidden, listings = self._sources(project, document, as_of)
        for listing in listings:
            if listing.error is not None:
                unavailable.append(public_label(listing.upstream))
                errors.append(listing.error)
                continue
            if listing.stale:
                stale.append(public_label(listing.upstream))
            exists = exists or listing.exists
            answered.append(listing)
        # The merge is a function of the document and of each listing's version, in the
        # configuration's order (hidden follows from those and the claimed patterns).
        version = (
            self.config.upstreams,
            self.config.claimed_patterns,
            tuple((listing.version, tuple(sorted(listing.held))) for listing in answered),
        )
        return ProjectView(
            project,
            exists,
            version,
            lambda: _merged(document, answered),
            hidden_reason=hidden,
            stale=tuple(stale),
            unavailable=tuple(unavailable),
            errors=tuple(errors),
            per_caller=self.varies_by_caller(),
        )

    # Files --------------------------------------------------------------------------------------

    def _own_or_candidate(self, project: str, filename: str) -> StoredFile | _Candidate:
        """The feed's own file if it has one by now, else the first upstream (in order) that lists
        ``filename``; FileNotFound, or the upstream's failure when one failed and none listed it.

        The caller found no file before calling, but the project is read again here, and a concurrent
        first download (or an upload) may have stored the file in between: that file is the answer,
        as it would be for a caller who came a moment later. A name whose file was deleted stays gone
        (a deleted saved file never comes back from the upstream).
        """
        missing = FileNotFound(f"No file '{filename}' in project '{project}' (nor on this feed's upstreams).")
        document = page_documents.read(self.storage, self.feed.key, project).document
        if filename in document.taken:
            try:
                return packages.get_file(self.storage, self.feed.key, project, filename)
            except FileNotFound:
                raise missing from None
        errors: list[BadGateway] = []
        _hidden, listings = self._sources(project, document)
        for listing in listings:
            if listing.error is not None:
                errors.append(listing.error)
                continue
            item = listing.files.get(filename)
            if item is not None:
                return _Candidate(listing, item)
        if errors:
            raise errors[0]
        raise missing

    def may_save(self) -> bool:
        """Whether the caller's downloads save upstream files into the feed (see auth.may_save)."""
        return auth.may_save(self.storage, self.principal, self.feed, readers_save=self.config.readers_save)

    def _copy_keeps_readers(self, source: Feed) -> bool:
        """Whether a copy of a file of the upstream feed ``source`` in this feed widens nobody's access:
        whether everyone who may read this feed may read ``source`` too, by visibility alone.

        A copy is this feed's own file, which every reader of this feed gets; a file of a private feed
        copied into a public one would be anyone's. So a file is copied only from a public feed, or
        from an organization feed into one that is not public. Never from a private feed, even into
        another private one: who holds roles on two private feeds differs, and changes. Files that are
        not copied are served from the source feed to the callers who may read it (and to no one else).
        """
        if source.visibility == "private":
            return False
        return source.visibility == "public" or self.feed.visibility != "public"

    def obtain_file(self, project: str, filename: str) -> StoredFile | PassThrough:
        """A file of ``project`` the feed does not hold, from its upstreams.

        Saved (and then served from the feed: a StoredFile of this feed) when the caller may save
        and, for a feed upstream, a copy would widen nobody's access; otherwise a feed upstream's own
        StoredFile (served from that feed's storage) or the checked bytes of an index upstream's file.
        """
        candidate = self._own_or_candidate(project, filename)
        if isinstance(candidate, StoredFile):
            return candidate
        upstream = candidate.listing.upstream
        try:
            if isinstance(candidate.item, DocumentFile):
                source = candidate.listing.source_feed
                assert source is not None
                stored = self._source_file(source, project, filename)
                if not self.may_save() or not self._copy_keeps_readers(source):
                    return stored
                return self._copy_from_feed(candidate.listing, stored)
            if not self.may_save():
                return self._pass_through(upstream, candidate.item)
            return self._save(upstream, candidate.item)
        except BadGateway as error:
            logger.warning("Could not get %s from upstream %s: %s", filename, upstream.label, error)
            raise _public_error(upstream, error) from None

    def obtain_metadata(self, project: str, filename: str) -> StoredFile | PassThrough:
        """The core metadata of a file the feed does not hold: the upstream feed's file (whose
        ``.metadata`` blob is served) or the checked bytes of an index upstream's metadata file."""
        candidate = self._own_or_candidate(project, filename)
        if isinstance(candidate, StoredFile):
            return candidate
        item = candidate.item
        no_metadata = FileNotFound(f"No metadata file for '{filename}'.")
        if isinstance(item, DocumentFile):
            assert candidate.listing.source_feed is not None
            stored = self._source_file(candidate.listing.source_feed, project, filename)
            if not stored.core_metadata_sha256:
                raise no_metadata
            return stored
        expected = ListedFile.from_upstream(item).core_metadata_sha256
        if not expected:
            raise no_metadata
        upstream = candidate.listing.upstream
        promise = listed(f"The core metadata of '{filename}'", digests={"sha256": expected}, stored=False)
        try:
            data = self.client.fetch_small_file(item.metadata_url, credential=upstream.resolve_credential())
            checked(data, promise)
        except BadGateway as error:
            logger.warning("Could not get %s.metadata from upstream %s: %s", filename, upstream.label, error)
            raise _public_error(upstream, error) from None
        return PassThrough.held(data, expected, packages.METADATA_CONTENT_TYPE, packages.now_text())

    def _source_file(self, source: Feed, project: str, filename: str) -> StoredFile:
        """An upstream feed's record of a file its page document lists (FileNotFound once it is
        deleted there)."""
        try:
            return packages.get_file(self.storage, source.key, project, filename)
        except FileNotFound:
            raise FileNotFound(f"No file '{filename}' in project '{project}'.") from None

    def _save(self, upstream: Upstream, entry: UpstreamFile) -> StoredFile:
        saved = save_upstream_file(
            self.storage,
            self.client,
            feed_key=self.feed.key,
            entry=entry,
            credential=upstream.resolve_credential(),
        )
        metadata_size = None
        if saved.metadata_blob:
            info = self.storage.blob_info(saved.metadata_blob)
            metadata_size = info.size if info is not None else None
        record = publishing.saved_file_record(
            self.feed.key,
            project=saved.project,
            filename=saved.filename,
            version=saved.version,
            filetype=saved.filetype,
            size=saved.size,
            sha256=saved.sha256,
            blake2_256=saved.blake2_256,
            requires_python=saved.requires_python,
            upload_time=saved.upload_time,
            blob=saved.blob,
            metadata_blob=saved.metadata_blob if metadata_size is not None else None,
            metadata_sha256=saved.metadata_sha256,
            metadata_size=metadata_size,
            upstream_key=upstream.key,
            upstream_label=public_label(upstream),
            source=saved.source_url,
            upstream_yanked=saved.yanked,
            saved_by=self.principal.name,
            now=datetime.now(UTC),
        )
        logger.info("Saved %s into feed %s from upstream %s", saved.filename, self.feed.name, upstream.label)
        return publishing.add_saved_file(self.storage, self.feed.key, record)

    def _copy_from_feed(self, listing: _Listing, source: StoredFile) -> StoredFile:
        """Copy a file of an upstream feed into this feed, checked against that feed's record."""
        upstream, other = listing.upstream, listing.source_feed
        assert other is not None
        blob = keys.file_blob(self.feed.key, source.project, source.sha256, source.filename)
        upload = self.storage.start_block_upload(blob)
        hashes = RunningHashes(
            BLAKE2B_256, promise=_recorded(f"'{source.filename}'", other, source.size, source.sha256)
        )
        for chunk in hashes.passing(self.storage.iter_blob(source.blob)):
            upload.write(chunk)
        hashes.check()
        upload.commit(
            content_type=source.content_type,
            metadata=saved_blob_metadata(source.sha256, hashes),
        )
        metadata_blob = metadata_sha256 = metadata_size = None
        if source.core_metadata_sha256 and source.metadata_blob:
            data = self.storage.read_blob(source.metadata_blob)
            subject = f"The core metadata of '{source.filename}'"
            try:
                checked(data, _recorded(subject, other, None, source.core_metadata_sha256))
            except HashMismatch:
                pass  # the file is copied without a metadata file that does not match its record
            else:
                metadata_blob = keys.metadata_blob(blob)
                metadata_sha256, metadata_size = source.core_metadata_sha256, len(data)
                packages.store_metadata_blob(self.storage, metadata_blob, data, sha256=metadata_sha256)
        record = publishing.saved_file_record(
            self.feed.key,
            project=source.project,
            filename=source.filename,
            version=source.version,
            filetype=source.filetype,
            size=hashes.size,
            sha256=source.sha256,
            blake2_256=hashes.hexdigest(BLAKE2B_256),
            requires_python=source.requires_python,
            upload_time=source.uploaded,
            blob=blob,
            metadata_blob=metadata_blob,
            metadata_sha256=metadata_sha256,
            metadata_size=metadata_size,
            upstream_key=upstream.key,
            upstream_label=public_label(upstream),
            source=f"feed '{other.name}'",
            upstream_yanked=(source.yanked_reason or True) if source.yanked else False,
            saved_by=self.principal.name,
            now=datetime.now(UTC),
        )
        logger.info("Saved %s into feed %s from feed %s", source.filename, self.feed.name, other.name)
        return publishing.add_saved_file(self.storage, self.feed.key, record)

    def _pass_through(self, upstream: Upstream, entry: UpstreamFile) -> PassThrough:
        """An upstream file served to a caller who may not save it: checked (size, every listed hash
        and its listed metadata), not stored.

        It is held in memory to be served (the Functions worker sends a response body whole), so only
        up to FEEDHOUSE_STREAM_MAX_BYTES: a file listed as larger is refused before it is fetched, one
        of unknown size as soon as more has arrived. With its size listed (PyPI's JSON pages list it)
        the file is fetched only when the response is made, and a range only as that range. Without
        it, the file is fetched now, as its size is part of the response, and ranges are cut from it.
        """
        limit = settings.load().stream_max_bytes
        if entry.size is not None and entry.size > limit:
            raise self._too_large_to_pass(entry.filename, f"is {entry.size} bytes", limit)
        modified = _normalized_time(entry.upload_time) or packages.now_text()
        content_type = packages.content_type_for(entry.filename)
        if entry.size is None:
            data = self._read_checked(upstream, entry, limit)
            return PassThrough.held(data, entry.sha256 or "", content_type, modified)
        size = entry.size

        def read(offset: int | None, length: int | None) -> bytes:
            try:
                if offset is None:
                    return self._read_checked(upstream, entry, limit)
                return self._read_range(upstream, entry, offset, size - offset if length is None else length)
            except BadGateway as error:
                logger.warning("Could not pass %s through from %s: %s", entry.filename, upstream.label, error)
                raise _public_error(upstream, error) from None

        return PassThrough(size, entry.sha256 or "", content_type, modified, read)

    def _read_checked(self, upstream: Upstream, entry: UpstreamFile, limit: int) -> bytes:
        """The whole file, read into one buffer and checked; that buffer becomes the response body.

        io.BytesIO grows in place and ``getvalue()`` hands over its buffer without copying it, so the
        file is in memory once, plus one chunk (a bytearray would be copied once more into bytes,
        which is what func.HttpResponse keeps). Reading stops as soon as the file passes its listed
        size or the limit.
        """
        hashes = RunningHashes(
            promise=listed(f"'{entry.filename}'", size=entry.size, digests=entry.hashes, stored=False)
        )
        buffer = io.BytesIO()
        with self.client.open_file(entry.url, credential=upstream.resolve_credential()) as download:
            if entry.size is None and download.length is not None and download.length > limit:
                raise self._too_large_to_pass(entry.filename, f"is {download.length} bytes", limit)
            for chunk in hashes.passing(download.chunks()):
                if hashes.size > limit:
                    raise self._too_large_to_pass(entry.filename, f"is larger than {limit} bytes", limit)
                buffer.write(chunk)
        hashes.check()
        metadata_sha256 = ListedFile.from_upstream(entry).core_metadata_sha256
        if metadata_sha256:
            # The page offers the metadata file with this hash (resolvers may have read it already):
            # the file passed through must hold that metadata, as a saved one must.
            check_core_metadata(buffer, entry.filename, metadata_sha256, stored=False)
        return buffer.getvalue()

    def _read_range(self, upstream: Upstream, entry: UpstreamFile, offset: int, length: int) -> bytes:
        """One range of an upstream file of listed size, asked of the upstream as that range.

        These bytes are not checked against the file's hashes, which are of the whole file: a range
        cannot be. That is acceptable because installers check hashes of whole files only, and ask
        for ranges only to look into a wheel before installing it (pip's and uv's lazy wheels read
        the zip directory and METADATA so); what they install comes whole and checked, here as from
        any index. Fetching the whole file to check it would cost one range the whole file, in memory.
        """
        assert entry.size is not None
        return self.client.fetch_range(
            entry.url, offset, length, size=entry.size, credential=upstream.resolve_credential()
        )

    def _too_large_to_pass(self, filename: str, size: str, limit: int) -> Unauthorized | Forbidden:
        """Why a caller who may not save cannot have an upstream file this large, and who can.

        Not a 5xx (nothing failed) nor 413 (which is about the request's body): the file can be had by
        a caller whose download saves it, so this is about who asks. 401 for an anonymous caller, with
        the Basic challenge every error 401 carries, so that pip and uv fetch credentials (keyring,
        netrc) and ask again, which then saves the file; 403 for a signed-in caller who may not save.
        """
        message = (
            f"'{filename}' {size}; Feedhouse passes an upstream file to a caller who may not save it "
            f"into feed '{self.feed.name}' only up to {limit} bytes (FEEDHOUSE_STREAM_MAX_BYTES), as "
            "it holds it in memory. A download by someone who may save upstream files (collaborators, "
            "and signed-in readers while the feed's readers_save is on) saves it into the feed, which "
            "then serves it to every reader. "
        )
        operator = "or the deployment's operator to raise FEEDHOUSE_STREAM_MAX_BYTES."
        if not self.principal.authenticated:
            return Unauthorized(f"{message}Sign in as one, or ask a feed owner to save it, {operator}")
        return Forbidden(f"{message}Ask a feed owner to save it (or to turn readers_save on), {operator}")
