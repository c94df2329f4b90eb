"""What every handler shares: error translation, JSON and text responses, redirects, credentials."""

from __future__ import annotations

import functools
import html
import json
import logging
import time
from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, quote, urlencode, urlsplit

import azure.functions as func

from shared import auth, download_counts, feeds, history, settings, untrusted
from shared import storage as storage_module
from shared.auth import REALM, Permission, Principal, token_from_authorization
from shared.errors import BadRequest, FeedhouseError, LengthRequired, ServiceUnavailable
from shared.feed_index import FeedIndex
from shared.storage import Storage, get_storage
from shared.views import LOCAL, View, ViewNotFound, split_feed_view
from shared.web.security import PAGE_HEADERS

logger = logging.getLogger("feedhouse")
# The access log: one line per request a handler answered (the handlers' wrapper writes it).
access_logger = logging.getLogger("feedhouse.access")
# Who the request's caller turned out to be, once a handler asked, for the access line.
_caller: ContextVar[Principal | None] = ContextVar("feedhouse_caller", default=None)

Handler = Callable[[func.HttpRequest], func.HttpResponse]
# A page of a history: (order, continuation, limit) -> its changes and the next page's continuation.
ChangesReader = Callable[[str, str | None, int], tuple[list[history.Change], str | None]]


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> func.HttpResponse:
    return func.HttpResponse(
        json.dumps(body, indent=2) + "\n",
        status_code=status,
        headers=headers,
        mimetype="application/json",
    )


def _error_headers(error: FeedhouseError) -> dict[str, str]:
    # An error often depends on who asks (an anonymous 404 for what a signed-in caller may download
    # through a feed upstream) and on the moment (a 502 of a failing upstream): no cache may keep it.
    headers = {"Cache-Control": "no-store"}
    if error.status == 401:
        # pip asks its keyring or the user for credentials only after a 401 that it can answer with Basic.
        headers["WWW-Authenticate"] = f'Basic realm="{REALM}"'
    return {**headers, **error.headers}


def json_error(error: FeedhouseError) -> func.HttpResponse:
    return json_response({"error": error.code, "message": error.message}, error.status, _error_headers(error))


def text_error(error: FeedhouseError) -> func.HttpResponse:
    return func.HttpResponse(error.message + "\n", status_code=error.status, headers=_error_headers(error))


def _internal_error(render: Callable[[FeedhouseError], func.HttpResponse]) -> func.HttpResponse:
    return render(ServiceUnavailable("The feed could not answer this request; try again shortly."))


def _require_passed_on_body(req: func.HttpRequest) -> None:
    # The Functions host passes a body on only with a Content-Length (see tools/functions_host.py):
    # a chunked one arrives empty, and must not be taken for "no body".
    if not req.get_body() and "chunked" in req.headers.get("Transfer-Encoding", "").lower():
        raise LengthRequired(
            "This request's body was sent with Transfer-Encoding: chunked, which Azure Functions does "
            "not pass on to the app: send it with a Content-Length header."
        )


def _access_logged(handler: Handler) -> Handler:
    """Log one line for each request: method, path, status, bytes, time, storage requests, user, user
    agent.

    Never a secret: no Authorization, no query string (a caller could put a token there), no body.
    Written by the app, so Azure's logs have it as well as ``make run``'s. A handler that raises is
    logged as the 500 the host then sends.
    """

    @functools.wraps(handler)
    def wrapper(req: func.HttpRequest) -> func.HttpResponse:
        started = time.perf_counter()
        caller_set = _caller.set(None)
        response = None
        with (
            storage_module.counting() as storage_requests,
            history.request_origin(req.headers.get("User-Agent")),
        ):
            try:
                response = handler(req)
                return response
            finally:
                _log_access(req, response, started, storage_requests.value)
                _caller.reset(caller_set)
                # On a thread of its own, counted to no request: the one place counts leave memory
                # besides the timer, which runs on one instance only.
                download_counts.flush_if_due()

    return wrapper


def _log_access(
    req: func.HttpRequest, response: func.HttpResponse | None, started: float, storage_requests: int
) -> None:
    principal = _caller.get()
    agent = req.headers.get("User-Agent")
    access_logger.info(
        "%s %s %d %dB %dms storage=%d user=%s%s agent=%s",
        req.method,
        # Quoted, as the user agent, so that nothing a client sends can break the line.
        quote(request_path(req), safe="/%:@!$&'()*+,;=-._~"),
        response.status_code if response is not None else 500,
        len(response.get_body() or b"") if response is not None else 0,
        round((time.perf_counter() - started) * 1000),
        storage_requests,
        principal.name if principal is not None and principal.authenticated else "-",
        f" token={principal.token.id}" if principal is not None and principal.token else "",
        json.dumps(agent) if agent else "-",
    )


def _guarded(render: Callable[[FeedhouseError], func.HttpResponse]) -> Callable[[Handler], Handler]:
    def decorator(handler: Handler) -> Handler:
        @functools.wraps(handler)
        def wrapper(req: func.HttpRequest) -> func.HttpResponse:
            try:
                _require_passed_on_body(req)
                return handler(req)
            except FeedhouseError as error:
                return render(error)
            except settings.InvalidSetting as error:
                logger.error("Feedhouse is misconfigured: %s", error)
                return _internal_error(render)
            except Exception:
                logger.exception("Unhandled error in %s %s", req.method, urlsplit(req.url).path)
                raise

        return _access_logged(wrapper)

    return decorator


def html_error(error: FeedhouseError) -> func.HttpResponse:
    """A plain page for what a UI handler could not answer with its own (functions/web.py renders
    every error it can with the site's templates)."""
    body = (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>Feedhouse</title></head>'
        f"<body><h1>{error.status}</h1><p>{html.escape(error.message)}</p></body></html>\n"
    )
    headers = {**_error_headers(error), **PAGE_HEADERS}
    headers.pop("WWW-Authenticate", None)  # a browser would pop up a password dialog
    return func.HttpResponse(body, status_code=error.status, headers=headers, mimetype="text/html")


# Decorators for handlers: errors become JSON (the management API), plain text (the package API,
# whose clients print a body as it is) or HTML (the UI).
json_errors = _guarded(json_error)
text_errors = _guarded(text_error)
html_errors = _guarded(html_error)


def caller_token(req: func.HttpRequest) -> str | None:
    return token_from_authorization(req.headers.get("Authorization"))


def caller(req: func.HttpRequest) -> Principal:
    """Who sent ``req``: ANONYMOUS without credentials; Unauthorized for credentials that are not live."""
    config = settings.load()
    return identified(
        auth.authenticate(
            get_storage(),
            caller_token(req),
            config.admin_token,
            issuer=config.oidc_issuer,
            audiences=config.oidc_audiences,
        )
    )


def identified(principal: Principal) -> Principal:
    """``principal``, noted as the request's caller for the access line (the UI's handlers know theirs
    from a browser session, not from the Authorization header)."""
    _caller.set(principal)
    history.note_user(principal.name)
    return principal


def authorize(req: func.HttpRequest, permission: Permission) -> Principal:
    """The caller, if they hold ``permission`` outside any feed (creating feeds, managing tokens)."""
    principal = caller(req)
    auth.authorize(get_storage(), principal, None, permission)
    return principal


@dataclass(frozen=True)
class FeedAccess:
    feed: feeds.Feed  # through a view, with the view's visibility (feeds.as_view)
    principal: Principal
    storage: Storage
    view: View | None = None

    @functools.cached_property
    def index(self) -> FeedIndex:
        """What the feed serves to this caller: the one road to its projects and files."""
        return FeedIndex(self.storage, self.feed, self.principal, self.view)

    @property
    def name(self) -> str:
        """The feed as its URLs spell it: ``feed@view`` through a view."""
        return self.index.name


def feed_access(req: func.HttpRequest, permission: Permission, *, views: bool = False) -> FeedAccess:
    """The feed named in the route, once the caller is known to hold ``permission`` on it; with
    ``views``, the route may name a view of it, ``feed@view`` (shared/views.py), read-only.

    The permission is checked before existence, so anonymous callers get the same 401 for a private
    feed and for one that doesn't exist.
    """
    name = req.route_params["feed"]
    if views and "@" in name:
        return access_view(caller(req), name, permission)
    return access_feed(caller(req), name, permission)


def access_view(principal: Principal, name: str, permission: Permission) -> FeedAccess:
    """The view ``feed@view``, read as the feed is but with the view's visibility: the one place a
    ``feed@view`` is resolved. A view is read-only; an unknown view of a feed the caller may read is
    a 404 naming the feed's views."""
    feed_name, view_name = split_feed_view(name)
    if permission is not Permission.READ:
        raise BadRequest(f"'{name}' is a view: it is read-only; write to feed '{feed_name}'.")
    storage = get_storage()
    feed = feeds.find_feed(storage, feed_name)
    view = None
    if feed is not None:
        try:
            view = feed.views.find(view_name or "")
        except ViewNotFound:
            auth.authorize(storage, principal, feed, permission)
            raise
        feed = feeds.as_view(feed, view)
    auth.authorize(storage, principal, feed, permission)
    if feed is None or view is None:
        raise feeds.feed_not_found(feed_name)
    return FeedAccess(feed, principal, storage, None if view.name == LOCAL else view)


def access_feed(principal: Principal, name: str, permission: Permission) -> FeedAccess:
    """The feed ``name``, once ``principal`` is known to hold ``permission`` on it (as ``feed_access``)."""
    storage = get_storage()
    feed = feeds.find_feed(storage, name)
    auth.authorize(storage, principal, feed, permission)
    if feed is None:
        raise feeds.feed_not_found(name)
    return FeedAccess(feed, principal, storage)


def base_url(req: func.HttpRequest) -> str:
    """This deployment's URL as the request reached it: scheme and host, no trailing slash."""
    parts = urlsplit(req.url)
    return f"{parts.scheme}://{parts.netloc}"


def request_path(req: func.HttpRequest) -> str:
    return urlsplit(req.url).path


def query_param(req: func.HttpRequest, name: str) -> str | None:
    """A query parameter as the client sent it, empty or not, repeated ones joined with ',' as the host
    joins them. ``req.params`` lacks empty ones (the host drops them: azure-functions-python-worker#894),
    so a parameter sent empty by mistake would pass for one not sent."""
    values = parse_qs(urlsplit(req.url).query, keep_blank_values=True).get(name)
    return ",".join(values) if values is not None else None


# A listing's page (?limit=): one page here is one page from Table Storage.
DEFAULT_PAGE_SIZE = 100
MAX_PAGE_SIZE = storage_module.MAX_PAGE_RECORDS


def page_limit(req: func.HttpRequest) -> int:
    """The ``limit`` of a paged listing (the packages, a history)."""
    value = query_param(req, "limit")
    if value is None:
        return DEFAULT_PAGE_SIZE
    limit = untrusted.whole_number(value)
    if limit is None or not 1 <= limit <= MAX_PAGE_SIZE:
        raise BadRequest(f"'limit' must be a whole number from 1 to {MAX_PAGE_SIZE}.")
    return limit


def changes_page(req: func.HttpRequest, base: str, read_page: ChangesReader) -> func.HttpResponse:
    """A page of a history (``?order=oldest|newest``, default newest; ``?limit=``; ``?continuation=``,
    as the packages listing pages): ``changes``, ``continuation`` and ``next`` (null after the last)."""
    order = query_param(req, "order")
    limit = page_limit(req)
    # An empty continuation is a malformed one, not "from the start".
    changes, following = read_page(history.parse_order(order), query_param(req, "continuation"), limit)
    query = {"order": order or "newest", "limit": limit}
    body = {
        "changes": [c.to_json() for c in changes],
        "continuation": following,
        "next": f"{base}?{urlencode({**query, 'continuation': following})}" if following else None,
    }
    return json_response(body)


def redirect(location: str, status: int = 301) -> func.HttpResponse:
    return func.HttpResponse(status_code=status, headers={"Location": location})


def read_json(req: func.HttpRequest) -> Any:
    try:
        return json.loads(req.get_body() or b"null")
    except (ValueError, UnicodeDecodeError):
        raise BadRequest("The request body must be JSON.") from None
    except RecursionError:
        # The decoder recurses once per nesting level; no body this API takes nests more than a few.
        raise BadRequest("The request body nests too deeply; send a flat JSON object.") from None
