"""Retention's API under ``/api/feeds/{feed}`` (every endpoint needs MANAGE, the owner's):

- ``GET lockfiles``; ``PUT lockfiles/{name}`` (the lockfile as the raw body), ``GET`` (with its pins)
  and ``DELETE`` of it
- ``PUT`` and ``DELETE packages/{project}/versions/{version}/pin``: an owner's pin
- ``GET retention/preview`` (``?max_versions=&keep_downloaded_days=`` to try a policy other than the
  stored one; ``?limit=``, ``?continuation=`` page by project)

The policy itself is the feed's ``retention`` setting (``PATCH /api/feeds/{feed}``).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, urlencode

import azure.functions as func

from functions.http import feed_access, json_errors, json_response, page_limit, query_param
from functions.packages_api import project_of
from shared import retaining, untrusted
from shared.auth import Permission
from shared.lockfiles import MAX_LOCKFILE_BYTES, LockfileTooLarge
from shared.retention import POLICY_FIELDS, RetentionPolicy

bp = func.Blueprint()


@bp.route(route="api/feeds/{feed}/lockfiles", methods=["GET"])
@json_errors
def lockfiles_collection(req: func.HttpRequest) -> func.HttpResponse:
    access = feed_access(req, Permission.MANAGE)
    listed = retaining.list_lockfiles(access.storage, access.feed.key)
    return json_response({"feed": access.feed.name, "lockfiles": [f.to_json() for f in listed]})


@bp.route(route="api/feeds/{feed}/lockfiles/{name}", methods=["GET", "PUT", "DELETE"])
@json_errors
def lockfile_item(req: func.HttpRequest) -> func.HttpResponse:
    access = feed_access(req, Permission.MANAGE)
    name = retaining.validate_lockfile_name(req.route_params["name"])
    if req.method == "GET":
        registered, lockfile = retaining.get_lockfile(access.storage, access.feed.key, name)
        return json_response({**registered.to_json(), **lockfile.to_json()})
    if req.method == "DELETE":
        retaining.unregister_lockfile(access.storage, access.feed.key, name, by=access.principal.name)
        return func.HttpResponse(status_code=204)
    # Refused by its declared length before its body is read.
    declared = untrusted.whole_number(req.headers.get("Content-Length", "") or "0")
    if declared is not None and declared > MAX_LOCKFILE_BYTES:
        raise LockfileTooLarge(f"A lockfile is at most {MAX_LOCKFILE_BYTES // (1024 * 1024)} MiB.")
    registered = retaining.register_lockfile(
        access.storage,
        access.feed.key,
        name,
        req.get_body(),
        by=access.principal.name,
        now=datetime.now(UTC),
    )
    return json_response(registered.to_json())


@bp.route(route="api/feeds/{feed}/packages/{project}/versions/{version}/pin", methods=["PUT", "DELETE"])
@json_errors
def version_pin(req: func.HttpRequest) -> func.HttpResponse:
    access = feed_access(req, Permission.MANAGE)
    project, version = project_of(req), req.route_params["version"]
    pinned = retaining.set_pinned(
        access.storage,
        access.feed.key,
        project,
        version,
        pinned=req.method == "PUT",
        by=access.principal.name,
        now=datetime.now(UTC),
    )
    return json_response({"project": project, "version": version, "pinned": pinned})


@bp.route(route="api/feeds/{feed}/retention/preview", methods=["GET"])
@json_errors
def retention_preview(req: func.HttpRequest) -> func.HttpResponse:
    """What the next run would delete, and why each version stays or goes, a page of projects at a time."""
    access = feed_access(req, Permission.MANAGE)
    asked = {f: query_param(req, f) for f in POLICY_FIELDS if query_param(req, f) is not None}
    policy = RetentionPolicy.from_json(asked) if asked else access.feed.retention
    limit = page_limit(req)
    body: dict[str, Any] = {
        "feed": access.feed.name,
        "policy": policy.to_json() if policy is not None else None,
        "stored_policy": asked == {},
        "projects": [],
        "continuation": None,
    }
    if policy is None:
        return json_response(body)  # no policy: nothing would be deleted
    plans, following = retaining.preview(
        access.storage,
        access.feed,
        policy,
        continuation=query_param(req, "continuation"),
        limit=limit,
        now=datetime.now(UTC),
    )
    body["projects"] = [p.to_json() for p in plans]
    body["continuation"] = following
    if following:
        query = urlencode({**asked, "limit": limit, "continuation": following})
        body["next"] = f"/api/feeds/{quote(access.feed.name)}/retention/preview?{query}"
    return json_response(body)
