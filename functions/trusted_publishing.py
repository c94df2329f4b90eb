"""Trusted publishing: PyPI's exchange endpoints (``/_/oidc/...``, one per host, as clients build them
from the upload URL's host) and a feed's publishers (``/api/feeds/{feed}/trusted-publishers``)."""

from __future__ import annotations

import azure.functions as func

from functions.http import feed_access, json_errors, json_response, read_json
from shared import tokens, trusted_publishing
from shared.auth import Permission
from shared.errors import FeedhouseError
from shared.names import is_publisher_key
from shared.storage import get_storage

bp = func.Blueprint()


@bp.route(route="_/oidc/audience", methods=["GET"])
@json_errors
def oidc_audience(req: func.HttpRequest) -> func.HttpResponse:
    # uv asks this of every host it publishes to without credentials, so it stays one cheap answer.
    return json_response({"audience": trusted_publishing.audience()})


@bp.route(route="_/oidc/mint-token", methods=["POST"])
@json_errors
def oidc_mint_token(req: func.HttpRequest) -> func.HttpResponse:
    try:
        secret, expires = trusted_publishing.mint(get_storage(), read_json(req))
    except FeedhouseError as error:
        # Warehouse's shape: pypa/gh-action-pypi-publish and twine print each of `errors`, and fail on
        # an error body without them.
        body = {
            "message": "Token request failed",
            "errors": [{"code": error.code, "description": error.message}],
        }
        return json_response(body, error.status, {"Cache-Control": "no-store", **error.headers})
    return json_response(
        {"success": True, "token": secret, "expires": expires}, headers={"Cache-Control": "no-store"}
    )


@bp.route(route="_/oidc/burn-token", methods=["POST"])
@json_errors
def oidc_burn_token(req: func.HttpRequest) -> func.HttpResponse:
    """uv revokes its minted token once the upload is done. As on PyPI, 202 whatever the token was."""
    body = read_json(req)
    secret = body.get("token") if isinstance(body, dict) else None
    storage = get_storage()
    found = tokens.verify(storage, secret) if isinstance(secret, str) else None
    if found is not None and is_publisher_key(found.user):
        tokens.revoke(storage, found.user, found.id)
    return func.HttpResponse(status_code=202)


@bp.route(route="api/feeds/{feed}/trusted-publishers", methods=["GET", "POST"])
@json_errors
def trusted_publishers(req: func.HttpRequest) -> func.HttpResponse:
    access = feed_access(req, Permission.MANAGE)
    if req.method == "POST":
        publisher = trusted_publishing.parse_publisher(read_json(req), access.feed, access.principal.name)
        created = trusted_publishing.register(access.storage, publisher)
        location = f"/api/feeds/{access.feed.name}/trusted-publishers/{created.id}"
        return json_response(created.to_json(), 201, {"Location": location})
    listed = trusted_publishing.list_publishers(access.storage, access.feed.key)
    return json_response({"feed": access.feed.name, "trusted_publishers": [p.to_json() for p in listed]})


@bp.route(route="api/feeds/{feed}/trusted-publishers/{publisher_id}", methods=["DELETE"])
@json_errors
def trusted_publisher(req: func.HttpRequest) -> func.HttpResponse:
    access = feed_access(req, Permission.MANAGE)
    trusted_publishing.remove(access.storage, access.feed.key, req.route_params["publisher_id"])
    return func.HttpResponse(status_code=204)
