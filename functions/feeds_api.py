"""The management API for feeds: ``/api/feeds`` and ``/api/feeds/{feed}``."""

from __future__ import annotations

import azure.functions as func

from functions.http import authorize, feed_access, json_errors, json_response, read_json
from shared import feeds
from shared.auth import Permission
from shared.storage import get_storage

bp = func.Blueprint()


@bp.route(route="api/feeds", methods=["GET", "POST"])
@json_errors
def feeds_collection(req: func.HttpRequest) -> func.HttpResponse:
    storage = get_storage()
    if req.method == "POST":
        authorize(req, Permission.CREATE_FEED)
        feed = feeds.create_feed(storage, feeds.parse_new_feed(read_json(req)))
        return json_response(feed.to_json(), 201, {"Location": f"/api/feeds/{feed.name}"})
    authorize(req, Permission.READ)
    return json_response({"feeds": [f.to_json() for f in feeds.list_feeds(storage)]})


@bp.route(route="api/feeds/{feed}", methods=["GET", "PATCH", "DELETE"])
@json_errors
def feed_item(req: func.HttpRequest) -> func.HttpResponse:
    if req.method == "GET":
        return json_response(feed_access(req, Permission.READ).feed.to_json())
    access = feed_access(req, Permission.MANAGE)
    if req.method == "PATCH":
        return json_response(feeds.update_feed(access.storage, access.feed.name, read_json(req)).to_json())
    feeds.delete_feed(access.storage, access.feed.name)
    return func.HttpResponse(status_code=204)
