"""The simple repository API (PEP 503): ``/{feed}/simple/`` and ``/{feed}/simple/{project}/``."""

from __future__ import annotations

import azure.functions as func

from functions.http import feed_access, redirect, request_path, text_errors
from functions.upload import handle_upload
from shared import pages
from shared.auth import Permission
from shared.errors import BadRequest
from shared.names import normalize_project_name
from shared.packages import ProjectNotFound, list_files, list_projects

bp = func.Blueprint()


def _html(body: str) -> func.HttpResponse:
    return func.HttpResponse(body, mimetype="text/html", charset="utf-8")


@bp.route(route="{feed}/simple", methods=["GET", "HEAD", "POST"])
@text_errors
def project_list(req: func.HttpRequest) -> func.HttpResponse:
    if req.method == "POST":
        return handle_upload(req)
    path = request_path(req)
    if not path.endswith("/"):
        return redirect(path + "/")
    access = feed_access(req, Permission.READ)
    return _html(pages.project_list_html(access.feed.name, list_projects(access.storage, access.feed.key)))


@bp.route(route="{feed}/simple/{project}", methods=["GET", "HEAD"])
@text_errors
def project_detail(req: func.HttpRequest) -> func.HttpResponse:
    requested = req.route_params["project"]
    try:
        project = normalize_project_name(requested)
    except BadRequest:
        raise ProjectNotFound(f"No project named '{requested}'.") from None
    path = request_path(req)
    if requested != project or not path.endswith("/"):
        base = path.rstrip("/").rsplit("/", 1)[0]
        return redirect(f"{base}/{project}/")
    access = feed_access(req, Permission.READ)
    files = list_files(access.storage, access.feed.key, project)
    if not files:
        raise ProjectNotFound(f"No project named '{project}' in feed '{access.feed.name}'.")
    return _html(pages.project_html(project, files))
