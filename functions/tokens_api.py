"""Personal access tokens (``/api/tokens``) and ``/api/whoami``."""

from __future__ import annotations

from typing import Any

import azure.functions as func

from functions.http import authorize, caller, changes_page, json_errors, json_response, read_json
from shared import auth, feeds, history, tokens
from shared.auth import Permission, Principal
from shared.errors import BadRequest, Forbidden
from shared.storage import Storage, get_storage

bp = func.Blueprint()


@bp.route(route="api/tokens", methods=["GET", "POST"])
@json_errors
def tokens_collection(req: func.HttpRequest) -> func.HttpResponse:
    storage = get_storage()
    principal = authorize(req, Permission.MANAGE_TOKENS)
    if req.method == "GET":
        user = req.params.get("user") if principal.is_admin else None
        if principal.is_admin and not user:
            raise BadRequest("The admin has no tokens of its own; name a user: /api/tokens?user=<name>.")
        listed = tokens.list_tokens(storage, user or principal.name)
        return json_response({"tokens": [t.to_json() for t in listed]})

    token, secret = create_token(storage, principal, read_json(req))
    # The only time the secret leaves the service: it is stored as a hash.
    return json_response({**token.to_json(), "token": secret}, 201, {"Cache-Control": "no-store"})


def create_token(storage: Storage, principal: Principal, body: Any) -> tuple[tokens.Token, str]:
    """Create the token a create request (the API's JSON body, or the UI's form) describes: the
    admin's for the user it names, anyone else's for themselves, no wider than the caller's token.
    The caller holds MANAGE_TOKENS."""
    request = tokens.parse_token_request(body)
    if principal.is_admin:
        if request.user is None:
            raise BadRequest("The admin creates tokens for users: name one with 'user'.")
        user = request.user
    else:
        user = principal.name
        if request.user not in (None, user):
            raise Forbidden("Only the admin creates tokens for other users.")
    return tokens.create_token(
        storage,
        user=user,
        name=request.name,
        scope=request.scope,
        feeds=request.feeds,
        expires=request.expires,
        # A signed-in caller's stand-in token is no stored token to descend from.
        parent=None if principal.signed_in else principal.token,
    )


def revoke_token(storage: Storage, principal: Principal, token_id: str) -> None:
    """Revoke a token and those created with it: the caller's own, or for the admin anyone's."""
    # A user's revocation looks only among their own tokens: someone else's is not theirs to know about.
    user = tokens.get_token(storage, token_id).user if principal.is_admin else principal.name
    tokens.revoke(storage, user, token_id)


@bp.route(route="api/tokens/{token_id}", methods=["DELETE"])
@json_errors
def token_item(req: func.HttpRequest) -> func.HttpResponse:
    storage = get_storage()
    principal = authorize(req, Permission.MANAGE_TOKENS)
    revoke_token(storage, principal, req.route_params["token_id"])
    return func.HttpResponse(status_code=204)


@bp.route(route="api/tokens/changes", methods=["GET"])
@json_errors
def token_changes(req: func.HttpRequest) -> func.HttpResponse:
    """The caller's token history: creations and revocations (the admin: ``?user=<name>``'s)."""
    storage = get_storage()
    principal = authorize(req, Permission.MANAGE_TOKENS)
    user = req.params.get("user") if principal.is_admin else None
    if principal.is_admin and not user:
        raise BadRequest("The admin has no tokens of its own; name a user: /api/tokens/changes?user=<name>.")
    holder = tokens.holder_key(user) if user else principal.name
    return changes_page(
        req,
        "/api/tokens/changes",
        lambda order, continuation, limit: history.user_changes(
            storage, holder, order=order, continuation=continuation, limit=limit
        ),
    )


@bp.route(route="api/whoami", methods=["GET"])
@json_errors
def whoami(req: func.HttpRequest) -> func.HttpResponse:
    principal = caller(req)
    body: dict = {
        "user": principal.name if principal.authenticated else None,
        "authenticated": principal.authenticated,
        "admin": principal.is_admin,
        "can_create_feeds": auth.may_create_feeds(principal),
    }
    if principal.signed_in:
        body["name"] = principal.display_name
        body["groups"] = list(principal.groups)
    if principal.token is not None:
        body["token"] = principal.token.to_json()
        granted = feeds.roles_by_feed_name(get_storage(), principal.name, principal.groups)
        body["roles"] = {feed: role.value for feed, role in sorted(granted.items())}
    return json_response(body)
