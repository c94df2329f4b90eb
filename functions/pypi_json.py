"""The PyPI-shaped JSON API: ``/{feed}/pypi/{project}/json`` and ``/{feed}/pypi/{project}/{version}/json``."""

from __future__ import annotations

import json
from urllib.parse import quote, urlsplit

import azure.functions as func

from functions.http import feed_access, redirect, text_errors
from functions.responses import VARY_ENCODING, page_response
from shared import pypi_json
from shared.auth import Permission
from shared.errors import BadRequest
from shared.names import normalize_project_name
from shared.packages import ProjectNotFound
from shared.representations import Rendered

bp = func.Blueprint()

JSON = "application/json"


def _respond(req: func.HttpRequest, version: str | None) -> func.HttpResponse:
    requested = req.route_params["project"]
    try:
        project = normalize_project_name(requested)
    except BadRequest:
        raise ProjectNotFound(f"No project named '{requested}'.") from None
    if project != requested:
        # PyPI redirects to the normalized name too.
        feed = quote(req.route_params["feed"], safe="@")  # feed@view stays as it was asked
        tail = f"{quote(version)}/json" if version is not None else "json"
        return redirect(f"/{feed}/pypi/{project}/{tail}")
    access = feed_access(req, Permission.READ, views=True)
    parts = urlsplit(req.url)
    base_url = f"{parts.scheme}://{parts.netloc}/{quote(access.name, safe='@')}"
    document = pypi_json.project_document(access.index, project, version, base_url=base_url)
    body = json.dumps(document, indent=2) + "\n"
    return page_response(
        req, Rendered.of(body), media_type=JSON, public=access.feed.visibility == "public", vary=VARY_ENCODING
    )


@bp.route(route="{feed}/pypi/{project}/json", methods=["GET", "HEAD"])
@text_errors
def project_json(req: func.HttpRequest) -> func.HttpResponse:
    return _respond(req, None)


@bp.route(route="{feed}/pypi/{project}/{version}/json", methods=["GET", "HEAD"])
@text_errors
def version_json(req: func.HttpRequest) -> func.HttpResponse:
    return _respond(req, req.route_params["version"])
