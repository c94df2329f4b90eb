"""HTTP responses that cache well: negotiated pages with ETags and gzip, and files with ranges.

Pages (simple pages, the JSON API) get a strong ETag per representation, 304 on ``If-None-Match``,
``Cache-Control: max-age=<FEEDHOUSE_PAGE_MAX_AGE_SECONDS>`` (public only for a public feed's pages
that are the same for every caller), ``Vary`` and gzip when the client accepts it. Files get their
sha256 as ETag, immutable caching, ``Accept-Ranges`` and single byte ranges (206/416). The rules are
in ``shared/`` (negotiation, http_cache, ranges); this module only applies them to ``func`` objects.
"""

from __future__ import annotations

from collections.abc import Callable

import azure.functions as func

from shared import settings
from shared.errors import FeedhouseError
from shared.http_cache import (
    file_cache_control,
    if_range_allows,
    none_match,
    page_cache_control,
)
from shared.negotiation import SIMPLE_OFFERS, accepts_gzip, choose_simple_format
from shared.ranges import UnsatisfiableRange, parse_range
from shared.representations import Rendered

VARY_SIMPLE = "Accept, Accept-Encoding"
VARY_ENCODING = "Accept-Encoding"


class NotAcceptable(FeedhouseError):
    status = 406
    code = "not_acceptable"


def _response(body: bytes, status: int, headers: dict[str, str]) -> func.HttpResponse:
    # The explicit Content-Type header is what is sent; the mimetype keeps func's view consistent.
    mimetype = headers["Content-Type"].partition(";")[0]
    return func.HttpResponse(body, status_code=status, headers=headers, mimetype=mimetype, charset="utf-8")


def simple_format(req: func.HttpRequest) -> str:
    """The simple-page representation the request asks for; 406 when it accepts none we serve."""
    chosen = choose_simple_format(req.headers.get("Accept"), req.params.get("format"))
    if chosen is None:
        raise NotAcceptable(
            "This feed serves simple pages as " + ", ".join(SIMPLE_OFFERS) + ". Send one of them in "
            "Accept (or ?format=), or */*."
        )
    return chosen


def content_type_header(media_type: str) -> str:
    # JSON is UTF-8 by definition; HTML says so.
    return media_type if media_type.endswith("json") else f"{media_type}; charset=utf-8"


def page_response(
    req: func.HttpRequest,
    page: Rendered,
    *,
    media_type: str,
    public: bool,
    per_caller: bool = False,
    vary: str = VARY_SIMPLE,
    extra_headers: dict[str, str] | None = None,
    max_age: int | None = None,
) -> func.HttpResponse:
    """A page in one representation: 304 when the client has it, gzip when it takes it.

    ``public``: the feed is public. ``per_caller``: what the page shows depends on the caller's
    credentials, so it is ``private`` even then, and varies on Authorization (a private cache, such
    as pip's, may serve several users' credentials). The ETag is made from the rendered body, so it
    changes whenever anything merged into it does. ``max_age`` replaces the configured page max-age.
    """
    chosen = page.choose(gzip_accepted=accepts_gzip(req.headers.get("Accept-Encoding")))
    headers = {
        **(extra_headers or {}),
        "Content-Type": content_type_header(media_type),
        "Cache-Control": page_cache_control(
            public=public and not per_caller,
            max_age=max_age if max_age is not None else settings.load().page_max_age,
        ),
        "Vary": f"{vary}, Authorization" if per_caller else vary,
        "ETag": chosen.etag,
    }
    if none_match(req.headers.get("If-None-Match"), chosen.etag):
        return _response(b"", 304, headers)
    if chosen.encoding is not None:
        headers["Content-Encoding"] = chosen.encoding
    if req.method == "HEAD":
        return _response(b"", 200, {**headers, "Content-Length": str(len(chosen.body))})
    return _response(chosen.body, 200, headers)


def file_response(
    req: func.HttpRequest,
    *,
    size: int,
    etag: str,
    last_modified: str,
    content_type: str,
    public: bool,
    read: Callable[[int | None, int | None], bytes],
    instead: Callable[[int], func.HttpResponse | None] = lambda _length: None,
) -> func.HttpResponse:
    """An immutable file: 304, HEAD, a 206 range, 416, or the whole of it.

    ``read(offset, length)`` fetches bytes; it is called only for what is sent. ``instead(length)``
    may answer otherwise before ``length`` bytes are read and sent (a HEAD asks as its GET would).
    """
    headers = {
        "Content-Type": content_type,
        "ETag": etag,
        "Last-Modified": last_modified,
        "Cache-Control": file_cache_control(public=public),
        "Accept-Ranges": "bytes",
    }
    if none_match(req.headers.get("If-None-Match"), etag):
        return _response(b"", 304, headers)
    if req.method == "HEAD":
        if (other := instead(size)) is not None:
            return other
        return _response(b"", 200, {**headers, "Content-Length": str(size)})
    wanted = req.headers.get("Range")
    if wanted and if_range_allows(req.headers.get("If-Range"), etag, last_modified):
        try:
            byte_range = parse_range(wanted, size)
        except UnsatisfiableRange as error:
            return func.HttpResponse(
                status_code=416,
                headers={**headers, "Content-Range": error.content_range, "Content-Length": "0"},
            )
        if byte_range is not None:
            if (other := instead(byte_range.length)) is not None:
                return other
            body = read(byte_range.start, byte_range.length)
            return _response(
                body,
                206,
                {
                    **headers,
                    "Content-Range": byte_range.content_range(size),
                    "Content-Length": str(len(body)),
                },
            )
    if (other := instead(size)) is not None:
        return other
    body = read(None, None)
    return _response(body, 200, {**headers, "Content-Length": str(len(body))})
