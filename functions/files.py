"""Package files and their core metadata: ``/{feed}/files/{project}/{filename}``, the stable URLs pages
link to, and ``<that URL>.metadata`` (PEP 658) for files that have it.

Files are streamed through the function, with ranges, or (FEEDHOUSE_DOWNLOAD_MODE=redirect) answered
with a 302 to a short-lived read-only SAS URL on the blob; either way the URL on the page stays ours.
Streaming holds what it sends in memory, so it stops at FEEDHOUSE_STREAM_MAX_BYTES: a bigger file (or
range) is redirected in stream mode too. Metadata files are streamed in either mode (up to that limit).

A file the feed does not hold but one of its upstreams lists (the page showed it with this feed's URL)
is saved into the feed on first download and then served from it, or passed through for a caller
who may not save (shared/feed_index.py).

A file uploaded with attestations also has its PEP 740 provenance object at
``/{feed}/integrity/{project}/{version}/{filename}/provenance`` (shared/attestations.py).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import azure.functions as func

from functions.http import feed_access, text_errors
from functions.responses import NotAcceptable, file_response
from shared import download_counts, packages, settings
from shared.as_of import parse_as_of
from shared.auth import Permission
from shared.downloads import REDIRECT, Download, sas_window
from shared.errors import BadRequest
from shared.http_cache import file_cache_control, file_etag, http_date
from shared.metadata import METADATA_URL_SUFFIX
from shared.names import normalize_project_name
from shared.negotiation import INTEGRITY_OFFERS, choose_media_type

bp = func.Blueprint()


@bp.route(route="{feed}/files/{project}/{filename}", methods=["GET", "HEAD"])
@text_errors
def download(req: func.HttpRequest) -> func.HttpResponse:
    return _download(req)


@bp.route(route="{feed}/as-of/{moment}/files/{project}/{filename}", methods=["GET", "HEAD"])
@text_errors
def download_as_of(req: func.HttpRequest) -> func.HttpResponse:
    """Where an as-of page's relative links lead: the feed's file, whatever the moment (a file's bytes
    never change; one deleted since is gone), once the moment is a valid one."""
    parse_as_of(req.route_params["moment"], now=datetime.now(UTC))
    return _download(req)


def _download(req: func.HttpRequest) -> func.HttpResponse:
    access = feed_access(req, Permission.READ, views=True)
    try:
        project = normalize_project_name(req.route_params["project"])
    except BadRequest:
        raise packages.ProjectNotFound(f"No project named '{req.route_params['project']}'.") from None
    filename = req.route_params["filename"]
    if filename.endswith(METADATA_URL_SUFFIX):
        found = access.index.metadata(project, filename.removesuffix(METADATA_URL_SUFFIX))
        return _respond(req, found, redirect_mode=False)
    found = access.index.file(project, filename)
    # A HEAD reads nothing and a Range request resumes (or samples) a download already counted.
    if req.method == "GET" and "Range" not in req.headers and found.version_key is not None:
        download_counts.record(access.feed.key, project, filename, found.version_key)
    return _respond(req, found, redirect_mode=settings.load().download_mode == REDIRECT)


@bp.route(route="{feed}/integrity/{project}/{version}/{filename}/provenance", methods=["GET", "HEAD"])
@text_errors
def provenance(req: func.HttpRequest) -> func.HttpResponse:
    """A file's PEP 740 provenance object, where PyPI serves it (Warehouse's integrity API), under the
    feed (or a view of it); the pages' ``provenance`` links point here. Immutable like the file it is of."""
    return _provenance(req)


@bp.route(
    route="{feed}/as-of/{moment}/integrity/{project}/{version}/{filename}/provenance", methods=["GET", "HEAD"]
)
@text_errors
def provenance_as_of(req: func.HttpRequest) -> func.HttpResponse:
    """Where an as-of page's relative provenance links lead: the file's provenance, as ``download_as_of``
    serves the file."""
    parse_as_of(req.route_params["moment"], now=datetime.now(UTC))
    return _provenance(req)


def _provenance(req: func.HttpRequest) -> func.HttpResponse:
    access = feed_access(req, Permission.READ, views=True)
    # Warehouse's media types, negotiated as it does; 406 for an Accept naming neither.
    media_type = choose_media_type(req.headers.get("Accept"), INTEGRITY_OFFERS)
    if media_type is None:
        raise NotAcceptable(f"Provenance is served as {' or '.join(INTEGRITY_OFFERS)}; accept one of them.")
    params = req.route_params
    try:
        project = normalize_project_name(params["project"])
    except BadRequest:
        raise packages.ProjectNotFound(f"No project named '{params['project']}'.") from None
    found = access.index.provenance(project, params["version"], params["filename"])
    response = _respond(req, replace(found, content_type=media_type), redirect_mode=False)
    response.headers["Vary"] = "Accept"
    return response


def _respond(req: func.HttpRequest, found: Download, *, redirect_mode: bool) -> func.HttpResponse:
    """A file streamed through the function, or a 302 to a short-lived SAS URL on its blob.

    Streamed only up to FEEDHOUSE_STREAM_MAX_BYTES: the Functions worker holds a response body whole
    (and copies it once more), so a bigger stored file, or a range asking for more, is redirected as in
    redirect mode; the client then reads it from the blob endpoint. An upstream file passed through is
    no blob: it is always streamed (the upstream path bounds its size).
    """
    config = settings.load()
    signed_url = found.signed_url

    def redirect() -> func.HttpResponse:
        assert signed_url is not None
        start, expiry = sas_window(datetime.now(UTC), config.download_url_seconds)
        url = signed_url(start, expiry, file_cache_control(public=found.public))
        # The URL expires, so the redirect itself must not be cached.
        return func.HttpResponse(status_code=302, headers={"Location": url, "Cache-Control": "no-store"})

    def instead(length: int) -> func.HttpResponse | None:
        return redirect() if signed_url is not None and length > config.stream_max_bytes else None

    if redirect_mode and signed_url is not None:
        return redirect()
    return file_response(
        req,
        size=found.size,
        etag=file_etag(found.sha256),
        last_modified=http_date(found.last_modified),
        content_type=found.content_type,
        public=found.public,
        read=found.read,
        instead=instead,
    )
