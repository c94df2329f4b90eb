"""Package files and their core metadata: ``/{feed}/files/{project}/{filename}``, the stable URLs pages
link to, and ``<that URL>.metadata`` (PEP 658) for files that have it.

Files are streamed through the function, with ranges, or (FEEDHOUSE_DOWNLOAD_MODE=redirect) answered
with a 302 to a short-lived read-only SAS URL on the blob; either way the URL on the page stays ours.
Metadata files are small and always streamed.

A file the feed does not hold but one of its upstreams lists (the page showed it with this feed's URL)
is saved into the feed on first download and then served from it, or passed through for a caller
who may not save (shared/upstreaming.py).
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
from shared.names import normalize_project_name
from shared.storage import Storage
from shared.upstreaming import FeedUpstreams, PassThrough

bp = func.Blueprint()

METADATA_CONTENT_TYPE = "text/plain; charset=utf-8"


def _reader(storage: Storage, blob: str) -> Callable[[int | None, int | None], bytes]:
    def read(offset: int | None, length: int | None) -> bytes:
        return storage.read_blob(blob, offset=offset, length=length)

    return read


@bp.route(route="{feed}/files/{project}/{filename}", methods=["GET", "HEAD"])
@text_errors
def download(req: func.HttpRequest) -> func.HttpResponse:
    access = feed_access(req, Permission.READ)
    try:
        project = normalize_project_name(req.route_params["project"])
    except BadRequest:
        raise packages.ProjectNotFound(f"No project named '{req.route_params['project']}'.") from None
    filename = req.route_params["filename"]
    storage = access.storage

    if filename.endswith(packages.METADATA_SUFFIX):
        name = filename.removesuffix(packages.METADATA_SUFFIX)
        found, public = _stored_or_upstream(access, project, name, FeedUpstreams.obtain_metadata)
        if isinstance(found, PassThrough):
            return _pass_through(req, found, public=public)
        if not found.core_metadata_sha256 or not found.metadata_blob:
            raise packages.FileNotFound(f"No metadata file for '{found.filename}'.")
        return file_response(
            req,
            size=found.metadata_size or 0,
            etag=file_etag(found.core_metadata_sha256),
            last_modified=http_date(found.uploaded),
            content_type=METADATA_CONTENT_TYPE,
            public=public,
            read=_reader(storage, found.metadata_blob),
        )

    stored, public = _stored_or_upstream(access, project, filename, FeedUpstreams.obtain_file)
    if isinstance(stored, PassThrough):
        return _pass_through(req, stored, public=public)
    config = settings.load()
    if config.download_mode == REDIRECT:
        start, expiry = sas_window(datetime.now(UTC), config.download_url_seconds)
        url = storage.read_url(
            stored.blob, start=start, expiry=expiry, cache_control=file_cache_control(public=public)
        )
        # The URL expires, so the redirect itself must not be cached.
        return func.HttpResponse(status_code=302, headers={"Location": url, "Cache-Control": "no-store"})
    return file_response(
        req,
        size=stored.size,
        etag=file_etag(stored.sha256),
        last_modified=http_date(stored.uploaded),
        content_type=stored.content_type,
        public=public,
        read=_reader(storage, stored.blob),
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
    """Bytes checked against their upstream hash and not saved: served whole or by range from memory."""

    def read(offset: int | None, length: int | None) -> bytes:
        start = offset or 0
        return found.data[start : start + length] if length is not None else found.data[start:]

    return file_response(
        req,
        size=len(found.data),
        etag=file_etag(found.sha256),
        last_modified=http_date(found.last_modified),
        content_type=found.content_type,
        public=public,
        read=read,
    )
