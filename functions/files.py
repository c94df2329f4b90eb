"""Package files: ``/{feed}/files/{project}/{filename}``, the stable URLs pages link to."""

from __future__ import annotations

import azure.functions as func

from functions.http import feed_access, text_errors
from shared import packages
from shared.auth import Permission
from shared.errors import BadRequest
from shared.names import normalize_project_name

bp = func.Blueprint()


@bp.route(route="{feed}/files/{project}/{filename}", methods=["GET", "HEAD"])
@text_errors
def download(req: func.HttpRequest) -> func.HttpResponse:
    access = feed_access(req, Permission.READ)
    try:
        project = normalize_project_name(req.route_params["project"])
    except BadRequest:
        raise packages.ProjectNotFound(f"No project named '{req.route_params['project']}'.") from None
    stored = packages.get_file(access.storage, access.feed.key, project, req.route_params["filename"])
    headers = {
        "ETag": f'"{stored.sha256}"',
        "Content-Length": str(stored.size),
        # A file name is never reused, so its bytes never change.
        "Cache-Control": "public, max-age=365000000, immutable",
    }
    body = b"" if req.method == "HEAD" else access.storage.read_blob(stored.blob)
    return func.HttpResponse(body, status_code=200, headers=headers, mimetype=stored.content_type)
