"""The simple repository API: ``/{feed}/simple/`` and ``/{feed}/simple/{project}/``.

PEP 503 HTML and PEP 691 JSON on the same URLs, chosen by ``Accept`` or ``?format=``; an ``Accept``
naming none of them gets 406. Pages are cached as PyPI's are (see functions/responses.py).

A project page merges the feed's upstreams (shared/feed_index.py): a project found only upstream
has a page too, so one index URL is enough. The project list shows the feed's own projects, published
or saved from upstreams; it does not list what upstreams have (PyPI's list is half a million names, and
installers never read the list).

Both serve the feed as it was at a past moment (shared/as_of.py) under ``/{feed}/as-of/{moment}/simple/``
(an index URL installers can use) or with ``?as-of={moment}``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from urllib.parse import urlsplit

import azure.functions as func

from functions.http import feed_access, query_param, redirect, request_path, text_errors
from functions.responses import page_response, simple_format
from functions.upload import handle_upload
from shared.as_of import AS_OF_MAX_AGE, SETTLED, AsOf, InvalidAsOf, parse_as_of
from shared.auth import Permission
from shared.errors import BadRequest
from shared.http_cache import asks_to_revalidate
from shared.names import normalize_project_name
from shared.negotiation import opened_in_browser
from shared.packages import ProjectNotFound
from shared.views import split_feed_view
from shared.web.views import feed_url, package_url

bp = func.Blueprint()


def _query(req: func.HttpRequest) -> str:
    """The request's query string, kept across a redirect (``?format=`` must survive it)."""
    query = urlsplit(req.url).query
    return f"?{query}" if query else ""


def _browser_redirect(req: func.HttpRequest, location: str) -> func.HttpResponse | None:
    """A person's browser is sent to the UI's page (shared/negotiation.py ``opened_in_browser``),
    before any check: the UI page asks for sign-in itself, where a 401 here would pop up the browser's
    password dialog. Never stored by a cache (the same URL serves installers the page itself)."""
    if not opened_in_browser(
        req.headers.get("Sec-Fetch-Mode"), req.headers.get("Sec-Fetch-Dest"), req.params.get("format")
    ):
        return None
    return func.HttpResponse(
        status_code=303,
        headers={"Location": location, "Cache-Control": "no-store", "Vary": "Sec-Fetch-Mode, Sec-Fetch-Dest"},
    )


def _as_of(req: func.HttpRequest) -> AsOf | None:
    """The moment the request asks the index as of: the path's (``/{feed}/as-of/{moment}/simple/``,
    which installers can use as an index URL: pip and uv drop or mangle an index URL's query when
    they add a project's name to it) or the ``as-of`` query parameter's; None for the feed as it is."""
    in_path = req.route_params.get("moment")
    in_query = query_param(req, "as-of")
    if in_path is not None and in_query is not None:
        raise InvalidAsOf("Give the as-of time once: in the path or as ?as-of=, not both.")
    value = in_path if in_path is not None else in_query
    return None if value is None else parse_as_of(value, now=datetime.now(UTC))


def _max_age(as_of: AsOf | None) -> int | None:
    """How long a page may be kept: a page of a moment long enough past changes only when a file is
    deleted (or an upstream changes a yank), so it is kept a day; the feed's own pages as configured.
    A moment just past may still gain a file whose upload was under way then."""
    if as_of is not None and as_of.moment < datetime.now(UTC) - SETTLED:
        return AS_OF_MAX_AGE
    return None


@bp.route(route="{feed}/simple", methods=["GET", "HEAD", "POST"])
@text_errors
def project_list(req: func.HttpRequest) -> func.HttpResponse:
    if req.method == "POST":
        return handle_upload(req)
    return _project_list(req)


@bp.route(route="{feed}/as-of/{moment}/simple", methods=["GET", "HEAD"])
@text_errors
def project_list_as_of(req: func.HttpRequest) -> func.HttpResponse:
    return _project_list(req)


def _project_list(req: func.HttpRequest) -> func.HttpResponse:
    as_of = _as_of(req)
    feed = split_feed_view(req.route_params["feed"])[0]
    if as_of is None and (to_ui := _browser_redirect(req, feed_url(feed))) is not None:
        return to_ui
    path = request_path(req)
    if not path.endswith("/"):
        return redirect(path + "/" + _query(req))
    access = feed_access(req, Permission.READ, views=True)
    media_type = simple_format(req)
    revalidate = asks_to_revalidate(req.headers.get("Cache-Control"), req.headers.get("User-Agent"))
    rendered = access.index.project_list(media_type, as_of, revalidate=revalidate)
    public = access.feed.visibility == "public"
    return page_response(req, rendered, media_type=media_type, public=public, max_age=_max_age(as_of))


@bp.route(route="{feed}/simple/{project}", methods=["GET", "HEAD"])
@text_errors
def project_detail(req: func.HttpRequest) -> func.HttpResponse:
    return _project_detail(req)


@bp.route(route="{feed}/as-of/{moment}/simple/{project}", methods=["GET", "HEAD"])
@text_errors
def project_detail_as_of(req: func.HttpRequest) -> func.HttpResponse:
    return _project_detail(req)


def _project_detail(req: func.HttpRequest) -> func.HttpResponse:
    requested = req.route_params["project"]
    try:
        project = normalize_project_name(requested)
    except BadRequest:
        raise ProjectNotFound(f"No project named '{requested}'.") from None
    as_of = _as_of(req)
    feed = split_feed_view(req.route_params["feed"])[0]
    if as_of is None and (to_ui := _browser_redirect(req, package_url(feed, project))) is not None:
        return to_ui
    path = request_path(req)
    if requested != project or not path.endswith("/"):
        base = path.rstrip("/").rsplit("/", 1)[0]
        return redirect(f"{base}/{project}/{_query(req)}")
    access = feed_access(req, Permission.READ, views=True)
    media_type = simple_format(req)
    # A project whose files are all deleted keeps its (empty) page, as on PyPI: the name stays taken.
    revalidate = asks_to_revalidate(req.headers.get("Cache-Control"), req.headers.get("User-Agent"))
    page = access.index.project_page(project, media_type, as_of, revalidate=revalidate)
    return page_response(
        req,
        page.rendered,
        media_type=media_type,
        public=access.feed.visibility == "public",
        per_caller=page.per_caller,
        extra_headers=page.headers,
        max_age=_max_age(as_of),
    )
