"""What every handler shares: error translation, JSON and text responses, redirects, credentials."""

from __future__ import annotations

import functools
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import azure.functions as func

from shared import auth, feeds, settings
from shared.auth import REALM, Permission, Principal, token_from_authorization
from shared.errors import BadRequest, FeedhouseError, ServiceUnavailable
from shared.storage import Storage, get_storage

logger = logging.getLogger("feedhouse")

Handler = Callable[[func.HttpRequest], func.HttpResponse]


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
    return headers


def json_error(error: FeedhouseError) -> func.HttpResponse:
    return json_response({"error": error.code, "message": error.message}, error.status, _error_headers(error))


def text_error(error: FeedhouseError) -> func.HttpResponse:
    return func.HttpResponse(error.message + "\n", status_code=error.status, headers=_error_headers(error))


def _internal_error(render: Callable[[FeedhouseError], func.HttpResponse]) -> func.HttpResponse:
    return render(ServiceUnavailable("The feed could not answer this request; try again shortly."))


def _guarded(render: Callable[[FeedhouseError], func.HttpResponse]) -> Callable[[Handler], Handler]:
    def decorator(handler: Handler) -> Handler:
        @functools.wraps(handler)
        def wrapper(req: func.HttpRequest) -> func.HttpResponse:
            try:
                return handler(req)
            except FeedhouseError as error:
                return render(error)
            except settings.InvalidSetting as error:
                logger.error("Feedhouse is misconfigured: %s", error)
                return _internal_error(render)
            except Exception:
                logger.exception("Unhandled error in %s %s", req.method, urlsplit(req.url).path)
                raise

        return wrapper

    return decorator


# Decorators for handlers: errors become JSON (the management API) or plain text (the package API,
# whose clients print a body as it is).
json_errors = _guarded(json_error)
text_errors = _guarded(text_error)


def caller_token(req: func.HttpRequest) -> str | None:
    return token_from_authorization(req.headers.get("Authorization"))


def caller(req: func.HttpRequest) -> Principal:
    """Who sent ``req``: ANONYMOUS without credentials; Unauthorized for credentials that are not live."""
    return auth.authenticate(get_storage(), caller_token(req), settings.load().admin_token)


def authorize(req: func.HttpRequest, permission: Permission) -> Principal:
    """The caller, if they hold ``permission`` outside any feed (creating feeds, managing tokens)."""
    principal = caller(req)
    auth.authorize(get_storage(), principal, None, permission)
    return principal


@dataclass(frozen=True)
class FeedAccess:
    feed: feeds.Feed
    principal: Principal
    storage: Storage


def feed_access(req: func.HttpRequest, permission: Permission) -> FeedAccess:
    """The feed named in the route, once the caller is known to hold ``permission`` on it.

    The permission is checked before existence, so anonymous callers get the same 401 for a private
    feed and for one that doesn't exist.
    """
    principal = caller(req)
    storage = get_storage()
    name = req.route_params["feed"]
    feed = feeds.find_feed(storage, name)
    auth.authorize(storage, principal, feed, permission)
    if feed is None:
        raise feeds.feed_not_found(name)
    return FeedAccess(feed, principal, storage)


def request_path(req: func.HttpRequest) -> str:
    return urlsplit(req.url).path


def redirect(location: str, status: int = 301) -> func.HttpResponse:
    return func.HttpResponse(status_code=status, headers={"Location": location})


def read_json(req: func.HttpRequest) -> Any:
    try:
        return json.loads(req.get_body() or b"null")
    except (ValueError, UnicodeDecodeError):
        raise BadRequest("The request body must be JSON.") from None
