"""Upstream project pages cached in blob storage, per (feed, upstream, project).

A burst of installs costs one upstream request per project per period: a page is fresh for the TTL
(FEEDHOUSE_UPSTREAM_CACHE_SECONDS). When it is not, one request claims the refresh and the others
do not stampede the upstream: they serve the previous copy if there is one, else wait a bounded time
for the claimant's result. The claim is an ETag-guarded write of the cache blob's metadata, so it
holds across instances; it expires on its own if the claimant dies. When the upstream fails, the
last good copy is served marked stale (the handler says so in a response header), and the failure is
remembered for a short while so that a dead upstream costs one timeout per project, not one per
request. With no copy at all the upstream's error is raised.

Besides, an upstream that does not answer in time is remembered as such by the instance, whatever the
project (``UnansweredUpstreams``): while it is, no page of it is fetched, and requests serve their
copies (stale when old) or leave it out at once instead of waiting for it again.

While a page is fresh, the instance also keeps it in memory (parsed), so a fresh page costs no
storage request; what another instance fetched meanwhile is only newer, and this copy is fresh too.

Blob: ``keys.upstream_page_blob`` (gzipped JSON of the parsed page), under the feed's prefix so
deleting a feed deletes its cache. Metadata: ``fetchedat``,
``claimeduntil``, ``failedat``, ``failure`` (epoch seconds and a message without secrets).
"""

from __future__ import annotations

import contextlib
import gzip
import json
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from shared import memo, settings
from shared.errors import BadGateway, GatewayTimeout
from shared.keys import upstream_page_blob
from shared.storage import BlobState, RecordChanged, RecordExists, Storage
from shared.upstream.page_parser import ProjectPage

logger = logging.getLogger(__name__)

_CONTENT_TYPE = "application/gzip"
_FETCHED = "fetchedat"
_CLAIMED = "claimeduntil"
_FAILED = "failedat"
_FAILURE = "failure"
_MAX_FAILURE_LENGTH = 1000
# The entry of a project claimed before any fetch succeeded. Never empty: the blob SDK reads an empty
# blob in two requests, and a write between them would pair one version's metadata with another's bytes.
_PLACEHOLDER = gzip.compress(b'{"page":null}')


class UpstreamPageUnavailable(BadGateway):
    """A remembered upstream failure, with no cached copy to fall back on."""

    code = "upstream_unavailable"


class UpstreamBusy(GatewayTimeout):
    """Another request is fetching this page and did not finish within the wait."""

    code = "upstream_busy"


@dataclass(frozen=True)
class CachePolicy:
    ttl: float = 1800.0  # seconds a page is fresh
    failure_backoff: float = 60.0  # seconds a failure is remembered before the upstream is tried again
    claim_seconds: float = 60.0  # how long a refresh claim holds (longer than a page fetch may take)
    wait_seconds: float = 50.0  # how long a request with no copy waits for another's refresh
    poll_interval: float = 0.2

    @classmethod
    def from_settings(cls) -> CachePolicy:
        ttl = float(settings.get_int("FEEDHOUSE_UPSTREAM_CACHE_SECONDS"))
        page_timeout = settings.get_seconds("FEEDHOUSE_UPSTREAM_PAGE_TIMEOUT")
        return cls(
            ttl=ttl,
            failure_backoff=min(60.0, ttl),
            claim_seconds=page_timeout + 15,
            wait_seconds=page_timeout + 5,
        )


@dataclass(frozen=True)
class CachedPage:
    page: ProjectPage
    fetched_at: float  # epoch seconds of the upstream fetch this page came from
    stale: bool  # older than the TTL: being refreshed by another request, or the upstream failed
    error: str | None = None  # why no fresh copy could be had (an upstream failure), if that is why


class UnansweredUpstreams:
    """Upstreams that lately did not answer in time, by upstream key, remembered by this process.

    A hung upstream costs a request the whole wait (its timeouts, or the request's deadline), and the
    per-project memory in the cache blobs does not spare the next project, nor the next request once
    a slow round of upstreams has outlasted it. So an upstream that timed out is not asked again for
    a while, whatever the project. In memory, per instance: each instance pays one wait per period,
    and no storage write is added to a page request.
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._until: dict[str, float] = {}

    def remember(self, key: str, seconds: float) -> None:
        with self._lock:
            self._until[key] = self._clock() + seconds

    def forget(self, key: str) -> None:
        with self._lock:
            self._until.pop(key, None)

    def remaining(self, key: str) -> float:
        """Seconds until ``key`` is asked again; 0 when it is not remembered (any more)."""
        with self._lock:
            left = self._until.get(key, 0.0) - self._clock()
            if left <= 0:
                self._until.pop(key, None)
                return 0.0
            return left


# The instance's memory, shared by its requests.
UNANSWERED = UnansweredUpstreams()


def _float(metadata: dict[str, str], key: str) -> float:
    try:
        return float(metadata.get(key, "0"))
    except ValueError:
        return 0.0


def _ascii(message: str) -> str:
    # Blob metadata travels as HTTP headers: printable ASCII only.
    cleaned = "".join(c if " " <= c <= "~" else "?" for c in message)
    return cleaned[:_MAX_FAILURE_LENGTH]


@dataclass(frozen=True)
class _Copy:
    page: ProjectPage
    fetched_at: float


def _decode(state: BlobState | None) -> _Copy | None:
    if state is None:
        return None
    try:
        data = json.loads(gzip.decompress(state.data))
        if data.get("page") is None:
            return None  # a placeholder: claimed before any fetch succeeded
        return _Copy(ProjectPage.from_json(data["page"]), float(data["fetched_at"]))
    except (OSError, EOFError, ValueError, KeyError, TypeError) as exc:
        logger.warning("Ignoring an unreadable upstream cache entry (%s)", type(exc).__name__)
        return None


# Fresh pages by blob name (see the module docstring), bounded by their files (some 300 bytes each):
# an entry is used only while fresh by the policy's clock, and replaced when read again.
_fresh: memo.Memo[str, _Copy] = memo.Memo(max_size=200_000, size_of=lambda copy: 1 + len(copy.page.files))


def _encode(page: ProjectPage, fetched_at: float) -> bytes:
    text = json.dumps({"page": page.to_json(), "fetched_at": fetched_at}, separators=(",", ":"))
    return gzip.compress(text.encode(), compresslevel=6)


class UpstreamPageCache:
    def __init__(
        self,
        storage: Storage,
        policy: CachePolicy | None = None,
        *,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._storage = storage
        self.policy = policy or CachePolicy.from_settings()
        self._clock = clock
        self._sleep = sleep

    def get(
        self,
        feed_key: str,
        upstream_key: str,
        project: str,
        fetch: Callable[[], ProjectPage],
        *,
        unanswered: str | None = None,
    ) -> CachedPage:
        """The page of ``project`` from this upstream: cached if fresh, else fetched with ``fetch``.

        ``fetch`` raises a BadGateway subclass (UpstreamError, MalformedPage, ...) when the upstream
        fails; that is served from the last good copy (stale) or, without one, raised. ``unanswered``
        says why the upstream is not to be asked now (see UnansweredUpstreams): then a copy that is
        not fresh is served stale, or, without one, UpstreamPageUnavailable(unanswered) raised.
        """
        name = upstream_page_blob(feed_key, upstream_key, project)
        policy = self.policy
        wait_until = self._clock() + policy.wait_seconds
        kept = _fresh.peek(name)
        if kept is not None and self._clock() - kept.fetched_at < policy.ttl:
            return CachedPage(kept.page, kept.fetched_at, stale=False)
        state = self._storage.read_blob_state(name)
        while True:
            now = self._clock()
            copy = _decode(state)
            metadata = state.metadata if state is not None else {}
            if copy is not None and now - copy.fetched_at < policy.ttl:
                _fresh.put(name, copy)
                return CachedPage(copy.page, copy.fetched_at, stale=False)
            if unanswered is not None:
                if copy is not None:
                    return CachedPage(copy.page, copy.fetched_at, stale=True, error=unanswered)
                raise UpstreamPageUnavailable(unanswered)

            failed_at = _float(metadata, _FAILED)
            if failed_at and now - failed_at < policy.failure_backoff:
                failure = metadata.get(_FAILURE) or "The upstream failed."
                if copy is not None:
                    return CachedPage(copy.page, copy.fetched_at, stale=True, error=failure)
                raise UpstreamPageUnavailable(failure)

            if _float(metadata, _CLAIMED) <= now:
                claim = self._claim(name, state, now)
                if claim is not None:
                    return self._refresh(name, claim, copy, fetch)
            elif copy is not None:
                # Another request is refreshing it: the previous copy now, rather than a stampede.
                return CachedPage(copy.page, copy.fetched_at, stale=True)
            elif now >= wait_until:
                raise UpstreamBusy(
                    f"The upstream page of '{project}' is still being fetched by another request; "
                    "try again shortly."
                )
            else:
                self._sleep(policy.poll_interval)
            state = self._storage.read_blob_state(name)

    def _claim(self, name: str, state: BlobState | None, now: float) -> str | None:
        """Claim the refresh; the blob's new ETag, or None if another request claimed it first."""
        metadata = dict(state.metadata) if state is not None else {}
        metadata[_CLAIMED] = f"{now + self.policy.claim_seconds:.3f}"
        try:
            if state is None:
                return self._storage.write_blob(
                    name, _PLACEHOLDER, content_type=_CONTENT_TYPE, metadata=metadata
                )
            return self._storage.set_blob_metadata(name, metadata, if_match=state.etag)
        except (RecordExists, RecordChanged):
            return None

    def _refresh(
        self, name: str, claim: str, copy: _Copy | None, fetch: Callable[[], ProjectPage]
    ) -> CachedPage:
        kept = {_FETCHED: f"{copy.fetched_at:.3f}"} if copy is not None else {}
        try:
            page = fetch()
        except BadGateway as exc:
            failure = _ascii(exc.message)
            logger.info("Upstream fetch for %s failed: %s", name, failure)
            self._release(name, claim, {**kept, _FAILED: f"{self._clock():.3f}", _FAILURE: failure})
            if copy is not None:
                return CachedPage(copy.page, copy.fetched_at, stale=True, error=exc.message)
            raise
        except BaseException:
            self._release(name, claim, kept)
            raise
        fetched_at = self._clock()
        try:
            self._storage.write_blob(
                name,
                _encode(page, fetched_at),
                content_type=_CONTENT_TYPE,
                metadata={_FETCHED: f"{fetched_at:.3f}"},
                if_match=claim,
            )
        except RecordChanged:
            # The claim expired and another request took over; this page is still good to serve.
            logger.info("Upstream cache entry %s changed during the refresh; not overwritten", name)
        _fresh.put(name, _Copy(page, fetched_at))
        return CachedPage(page, fetched_at, stale=False)

    def _release(self, name: str, claim: str, metadata: dict[str, str]) -> None:
        with contextlib.suppress(RecordChanged):
            self._storage.set_blob_metadata(name, metadata, if_match=claim)
