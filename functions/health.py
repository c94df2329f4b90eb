"""``/api/health``: whether this instance can reach its storage."""

from __future__ import annotations

import azure.functions as func

from functions.http import json_errors, json_response
from shared.storage import get_storage

bp = func.Blueprint()


@bp.route(route="api/health", methods=["GET"])
@json_errors
def health(req: func.HttpRequest) -> func.HttpResponse:
    get_storage().ping()
    return json_response({"status": "ok"})
