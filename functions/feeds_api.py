"""The management API for feeds: ``/api/feeds``, ``/api/feeds/{feed}`` and its permissions, and the
feed recycle bin: ``/api/recycle-bin/feeds`` (deleted feeds, for their owners and the admin), with
``POST .../{feed}/restore`` and ``DELETE .../{feed}`` (purge now).

Creating and PATCHing a feed also sets its upstreams (``upstreams``, ``claimed_patterns``,
``readers_save``; see shared/upstream/config.py); GET shows them in full to those who may manage the feed,
and index upstreams by host only to everyone else.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any
from urllib.parse import quote

import azure.functions as func

from functions.http import (
    authorize,
    caller,
    changes_page,
    feed_access,
    json_errors,
    json_response,
    read_json,
)
from shared import auth, download_counts, feeds, history, roles, settings, views
from shared.auth import Permission, Principal
from shared.errors import BadRequest, Forbidden
from shared.names import grant_key, grantee_key, is_publisher_key, user_key
from shared.roles import Role
from shared.storage import Storage, get_storage

bp = func.Blueprint()


@bp.route(route="api/feeds", methods=["GET", "POST"])
@json_errors
def feeds_collection(req: func.HttpRequest) -> func.HttpResponse:
    storage = get_storage()
    if req.method == "POST":
        principal = authorize(req, Permission.CREATE_FEED)
        created = create_feed(storage, principal, read_json(req))
        return json_response(created.to_json(), 201, {"Location": f"/api/feeds/{created.name}"})
    principal = caller(req)
    granted = roles.roles_of_grantees(storage, principal.name, principal.groups) if principal.token else {}
    readable = auth.readable_feeds(principal, feeds.list_feeds(storage), granted)

    def manager(feed: feeds.Feed) -> bool:
        owner = granted.get(feed.key) == Role.OWNER
        return principal.is_admin or (owner and auth.may(storage, principal, feed, Permission.MANAGE))

    return json_response({"feeds": [f.to_json(manager=manager(f)) for f in readable]})


def create_feed(storage: Storage, principal: Principal, body: Any) -> feeds.Feed:
    """Create the feed a create request (the API's JSON body, or the UI's form) describes, owned by its
    creator (or, from the admin, by the ``owner`` named, if any). The caller holds CREATE_FEED."""
    feed = feeds.parse_new_feed(body)
    config = feeds.configure_upstreams(
        storage, feed.name, feed.upstream_config, body, may_read=reader_check(storage, principal)
    )
    feed = replace(feed, upstream_config=config)
    owner = body.get("owner")
    if principal.is_admin:
        owner = grantee_key(owner) if owner is not None else None
    elif owner is not None and user_key(owner) != principal.name:
        raise Forbidden("Only the admin names another owner; the user who creates a feed owns it.")
    else:
        # Checked before the feed is stored: a name reserved since it was given a token owns nothing.
        owner = grantee_key(principal.name)
    return feeds.create_feed_owned_by(storage, feed, owner)


def reader_check(storage: Storage, principal: Principal) -> feeds.MayRead:
    """Whether the caller may read a feed they name as an upstream."""
    return lambda other: auth.may(storage, principal, other, Permission.READ)


@bp.route(route="api/feeds/{feed}", methods=["GET", "PATCH", "DELETE"])
@json_errors
def feed_item(req: func.HttpRequest) -> func.HttpResponse:
    if req.method == "GET":
        access = feed_access(req, Permission.READ)
        manager = auth.may(access.storage, access.principal, access.feed, Permission.MANAGE)
        return json_response(_feed_json(access.storage, access.feed, manager=manager))
    access = feed_access(req, Permission.MANAGE)
    if req.method == "PATCH":
        updated = feeds.update_feed(
            access.storage,
            access.feed.name,
            read_json(req),
            may_read=reader_check(access.storage, access.principal),
        )
        return json_response(_feed_json(access.storage, updated))
    feeds.delete_feed(access.storage, access.feed.name, by=access.principal.name)
    return func.HttpResponse(status_code=204)


def _feed_json(storage: Storage, feed: feeds.Feed, *, manager: bool = True) -> dict[str, Any]:
    """A feed as its own URL shows it: with its download totals (as flushed; a restored feed's come
    back with it). Listings leave them out: one more read per feed."""
    downloads = download_counts.feed_counts(storage, feed.key)
    return {**feed.to_json(manager=manager), "downloads": downloads.to_json()}


@bp.route(route="api/feeds/{feed}/changes", methods=["GET"])
@json_errors
def feed_changes(req: func.HttpRequest) -> func.HttpResponse:
    access = feed_access(req, Permission.MANAGE)
    return changes_page(
        req,
        f"/api/feeds/{quote(access.feed.name)}/changes",
        lambda order, continuation, limit: history.feed_changes(
            access.storage, access.feed.key, order=order, continuation=continuation, limit=limit
        ),
    )


@bp.route(route="api/recycle-bin/feeds", methods=["GET"])
@json_errors
def feed_bin(req: func.HttpRequest) -> func.HttpResponse:
    storage = get_storage()
    principal = caller(req)
    days = settings.load().feed_recycle_bin_days
    listed = deleted_feeds(storage, principal)
    return json_response({"feeds": [f.deleted_json(days) for f in listed]})


def deleted_feeds(storage: Storage, principal: Principal) -> list[feeds.Feed]:
    """The feeds in the recycle bin that the caller may restore or purge: all for the admin, those
    they own (within their token's feeds) for anyone else; none for an anonymous caller."""
    if not principal.authenticated:
        return []
    deleted = feeds.list_deleted_feeds(storage)
    if principal.is_admin:
        return deleted
    granted = roles.roles_of_grantees(storage, principal.name, principal.groups) if principal.token else {}
    return [
        f
        for f in deleted
        if granted.get(f.key) == Role.OWNER and auth.may(storage, principal, f, Permission.MANAGE)
    ]


def binned_feed(storage: Storage, principal: Principal, name: str) -> feeds.Feed:
    """The feed ``name``, live or deleted, once the caller may manage it (as feed_access: 401 for an
    anonymous caller whether or not it exists, then 404); restore_feed and purge_feed then say 409
    if it is live."""
    feed = feeds.find_feed_even_deleted(storage, name)
    auth.authorize(storage, principal, feed, Permission.MANAGE)
    if feed is None:
        raise feeds.FeedNotFound(f"No feed named '{name}' is in the recycle bin.")
    return feed


@bp.route(route="api/recycle-bin/feeds/{feed}/restore", methods=["POST"])
@json_errors
def feed_bin_restore(req: func.HttpRequest) -> func.HttpResponse:
    storage = get_storage()
    feed = binned_feed(storage, caller(req), req.route_params["feed"])
    return json_response(_feed_json(storage, feeds.restore_feed(storage, feed.name)))


@bp.route(route="api/recycle-bin/feeds/{feed}", methods=["DELETE"])
@json_errors
def feed_bin_purge(req: func.HttpRequest) -> func.HttpResponse:
    storage = get_storage()
    feed = binned_feed(storage, caller(req), req.route_params["feed"])
    feeds.purge_feed(storage, feed.name)
    return func.HttpResponse(status_code=204)


@bp.route(route="api/feeds/{feed}/permissions", methods=["GET"])
@json_errors
def feed_permissions(req: func.HttpRequest) -> func.HttpResponse:
    access = feed_access(req, Permission.MANAGE)
    grants = roles.grants(access.storage, access.feed.key)
    return json_response({"feed": access.feed.name, "permissions": [g.to_json() for g in grants]})


@bp.route(route="api/feeds/{feed}/permissions/{user}", methods=["PUT", "DELETE"])
@json_errors
def feed_permission(req: func.HttpRequest) -> func.HttpResponse:
    access = feed_access(req, Permission.MANAGE)
    user = grant_key(req.route_params["user"], giving=False)
    if req.method == "PUT":
        if is_publisher_key(user):
            raise BadRequest(
                "A trusted publisher's role comes with its registration "
                "(/api/feeds/{feed}/trusted-publishers)."
            )
        body = read_json(req)
        role = roles.parse_role(body.get("role") if isinstance(body, dict) else None)
        return json_response(roles.grant(access.storage, access.feed.key, user, role).to_json())
    roles.revoke(access.storage, access.feed.key, user)
    return func.HttpResponse(status_code=204)


def _views_json(feed: feeds.Feed) -> dict[str, Any]:
    return {"feed": feed.name, "views": [v.to_json(feed.visibility) for v in feed.views.all]}


def _view_body(req: func.HttpRequest, allowed: set[str]) -> dict[str, Any]:
    body = read_json(req)
    if not isinstance(body, dict) or not set(body) <= allowed:
        fields = " and ".join(f"'{f}'" for f in sorted(allowed))
        raise views.InvalidView(f"Send a JSON object with {fields}.")
    return body


@bp.route(route="api/feeds/{feed}/views", methods=["GET", "POST"])
@json_errors
def feed_views(req: func.HttpRequest) -> func.HttpResponse:
    """A feed's views with their visibility (READ); add one (MANAGE): ``{"name", "visibility"?}``."""
    if req.method == "GET":
        return json_response(_views_json(feed_access(req, Permission.READ).feed))
    access = feed_access(req, Permission.MANAGE)
    body = _view_body(req, {"name", "visibility"})
    visibility = feeds.view_visibility(body.get("visibility"))
    updated = feeds.change_views(
        access.storage, access.feed.name, lambda current: current.with_view(body.get("name"), visibility)
    )
    return json_response(_views_json(updated), status=201)


@bp.route(route="api/feeds/{feed}/views/{view}", methods=["PATCH", "DELETE"])
@json_errors
def feed_view(req: func.HttpRequest) -> func.HttpResponse:
    """Change a view's own visibility (``{"visibility": ... | null}``) or remove an owner's view (MANAGE)."""
    access = feed_access(req, Permission.MANAGE)
    name = req.route_params["view"]
    if req.method == "PATCH":
        body = _view_body(req, {"visibility"})
        if "visibility" not in body:
            raise views.InvalidView("Send a JSON object with 'visibility'.")
        visibility = feeds.view_visibility(body["visibility"])
        updated = feeds.change_views(
            access.storage, access.feed.name, lambda current: current.with_visibility(name, visibility)
        )
        return json_response(_views_json(updated))
    updated = feeds.change_views(access.storage, access.feed.name, lambda current: current.without(name))
    return json_response(_views_json(updated))
