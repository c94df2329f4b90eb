"""Package files and their core metadata: ``/{feed}/files/{project}/{filename}``, the stable URLs pages
link to, and ``<that URL>.metadata`` (PEP 658) for files that have it.

Files are streamed through the function, with ranges, or (FEEDHOUSE_DOWNLOAD_MODE=redirect) answered
with a 302 to a short-lived read-only SAS URL on the blob; either way the URL on the page stays ours.
Streaming holds what it sends in memory, so it stops at FEEDHOUSE_STREAM_MAX_BYTES: a bigger file (or
range) is redirected in stream mode too. Metadata files are streamed in either mode (up to that limit).

A file the feed does not hold but one of its upstreams lists (the page showed it with this feed's URL)
is saved into the feed on first download and then served from it, or passed through for a caller
who may not save (shared/upstream/sources.py).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import azure.functions as func

from functions.http import FeedAccess, feed_access, text_errors
from functions.responses import file_response
from shared import packages, settings
from shared.auth import Permission
from shared.downloads import REDIRECT, sas_window
from shared.errors import BadRequest
from shared.http_cache import file_cache_control, file_etag, http_date
from shared.metadata import METADATA_URL_SUFFIX
from shared.names import normalize_project_name
from shared.storage import Storage
from shared.upstream.sources import FeedUpstreams, PassThrough

bp = func.Blueprint()


@bp.route(route="{feed}/files/{project}/{filename}", methods=["GET", "HEAD"])
@text_errors
def download(req: func.HttpRequest) -> func.HttpResponse:
    access = feed_access(req, Permission.READ)
    try:
        project = normalize_project_name(req.route_params["project"])
    except BadRequest:
        raise packages.ProjectNotFound(f"No project named '{req.route_params['project']}'.") from None
    filename = req.route_params["filename"]

    if filename.endswith(METADATA_URL_SUFFIX):
        name = filename.removesuffix(METADATA_URL_SUFFIX)
        found, public = _stored_or_upstream(access, project, name, FeedUpstreams.obtain_metadata)
        if isinstance(found, PassThrough):
            return _pass_through(req, found, public=public)
        if not found.core_metadata_sha256 or not found.metadata_blob:
            raise packages.FileNotFound(f"No metadata file for '{found.filename}'.")
        return _blob_response(
            req,
            access.storage,
            blob=found.metadata_blob,
            size=found.metadata_size or 0,
            sha256=found.core_metadata_sha256,
            uploaded=found.uploaded,
            content_type=packages.METADATA_CONTENT_TYPE,
            public=public,
            redirect_mode=False,
        )

    stored, public = _stored_or_upstream(access, project, filename, FeedUpstreams.obtain_file)
    if isinstance(stored, PassThrough):
        return _pass_through(req, stored, public=public)
    return _blob_response(
        req,
        access.storage,
        blob=stored.blob,
        size=stored.size,
        sha256=stored.sha256,
        uploaded=stored.uploaded,
        content_type=stored.content_type,
        public=public,
        redirect_mode=settings.load().download_mode == REDIRECT,
    )


def _blob_response(
    req: func.HttpRequest,
    storage: Storage,
    *,
    blob: str,
    size: int,
    sha256: str,
    uploaded: str,
    content_type: str,
    public: bool,
    redirect_mode: bool,
) -> func.HttpResponse:
    """A stored blob, streamed through the function or by a 302 to a short-lived SAS URL on it.

    Streamed only up to FEEDHOUSE_STREAM_MAX_BYTES: the Functions worker holds a response body whole
    (and copies it once more), so a bigger file, or a range asking for more, is redirected as in
    redirect mode; the client then reads it from the blob endpoint.
    """
    config = settings.load()

    def redirect() -> func.HttpResponse:
        start, expiry = sas_window(datetime.now(UTC), config.download_url_seconds)
        cache_control = file_cache_control(public=public)
        url = storage.read_url(blob, start=start, expiry=expiry, cache_control=cache_control)
        # The URL expires, so the redirect itself must not be cached.
        return func.HttpResponse(status_code=302, headers={"Location": url, "Cache-Control": "no-store"})

    if redirect_mode:
        return redirect()

    def read(offset: int | None, length: int | None) -> bytes:
        return storage.read_blob(blob, offset=offset, length=length)

    return file_response(
        req,
        size=size,
        etag=file_etag(sha256),
        last_modified=http_date(uploaded),
        content_type=content_type,
        public=public,
        read=read,
        instead=lambda length: redirect() if length > config.stream_max_bytes else None,
    )


def _stored_or_upstream(
    access: FeedAccess,
    project: str,
    filename: str,
    obtain: Callable[[FeedUpstreams, str, str], packages.StoredFile | PassThrough],
) -> tuple[packages.StoredFile | PassThrough, bool]:
    """The feed's own file; else one saved from (or, for a caller who may not save, passed through
    from) the first upstream listing it, then served like any other file. With it, whether shared
    caches may keep the answer: only for a public feed, and not when it may have come from a feed
    upstream that not everyone may read (see FeedUpstreams.varies_by_caller)."""
    public = access.feed.visibility == "public"
    try:
        return packages.get_file(access.storage, access.feed.key, project, filename), public
    except packages.FileNotFound:
        if not access.feed.upstream_config.upstreams:
            raise
        upstreams = FeedUpstreams(access.storage, access.feed, access.principal)
        found = obtain(upstreams, project, filename)
        return found, public and not upstreams.varies_by_caller()


def _pass_through(req: func.HttpRequest, found: PassThrough, *, public: bool) -> func.HttpResponse:
    """An upstream file not saved: read (whole and checked, or a range) only for what is sent."""
    return file_response(
        req,
        size=found.size,
        etag=file_etag(found.sha256),
        last_modified=http_date(found.last_modified),
        content_type=found.content_type,
        public=public,
        read=found.read,
    )
