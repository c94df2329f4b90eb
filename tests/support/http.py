"""Requests for handler tests: `func.HttpRequest` as the Functions host would build it."""

from __future__ import annotations

import base64
import json
from typing import Any
from urllib.parse import urlencode

import azure.functions as func


def basic(token: str, user: str = "__token__") -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{token}".encode()).decode()}


def request(
    method: str,
    path: str,
    *,
    route_params: dict[str, str] | None = None,
    body: bytes = b"",
    headers: dict[str, str] | None = None,
    json_body: Any = None,
    params: dict[str, str] | None = None,
) -> func.HttpRequest:
    headers = dict(headers or {})
    params = params or {}
    if json_body is not None:
        body = json.dumps(json_body).encode()
        headers.setdefault("Content-Type", "application/json")
    query = f"?{urlencode(params)}" if params else ""
    return func.HttpRequest(
        method,
        "http://localhost:7071" + path + query,
        headers=headers,
        # As the host hands them over: the URL keeps empty parameters, ``params`` drops them.
        params={key: value for key, value in params.items() if value},
        route_params=route_params or {},
        body=body,
    )


def json_of(response: func.HttpResponse) -> Any:
    return json.loads(response.get_body())
