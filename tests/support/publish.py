"""Publishing and calling handlers in tests, as the admin: upload a file, call any route."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import azure.functions as func

from functions.upload import upload
from tests.conftest import ADMIN_TOKEN
from tests.support.dists import make_sdist, make_wheel
from tests.support.http import basic, request
from tests.support.multipart import encode, upload_fields


def publish(
    feed: str, filename: str, data: bytes, name: str, version: str, **fields: str | None
) -> func.HttpResponse:
    body, content_type = encode(upload_fields(name, version, filename, data, **fields))
    return upload(
        request(
            "POST",
            f"/{feed}/upload/",
            route_params={"feed": feed},
            body=body,
            headers={"Content-Type": content_type, **basic(ADMIN_TOKEN)},
        )
    )


def publish_wheel(feed: str, name: str, version: str, **kwargs: Any) -> tuple[str, bytes]:
    filename, data = make_wheel(name, version, **kwargs)
    fields = {}
    if kwargs.get("requires_python"):
        fields["requires_python"] = kwargs["requires_python"]
    response = publish(feed, filename, data, name, version, **fields)
    assert response.status_code == 200, response.get_body()
    return filename, data


def publish_sdist(feed: str, name: str, version: str, **kwargs: Any) -> tuple[str, bytes]:
    filename, data = make_sdist(name, version, **kwargs)
    response = publish(feed, filename, data, name, version)
    assert response.status_code == 200, response.get_body()
    return filename, data


def call(
    handler: Callable[[func.HttpRequest], func.HttpResponse],
    method: str,
    path: str,
    *,
    token: str | None = ADMIN_TOKEN,
    headers: dict[str, str] | None = None,
    params: dict[str, str] | None = None,
    json_body: Any = None,
    **route_params: str,
) -> func.HttpResponse:
    """Call a handler as the Functions host would, as the admin unless ``token`` is None."""
    all_headers = {**(basic(token) if token else {}), **(headers or {})}
    return handler(
        request(
            method, path, route_params=route_params, headers=all_headers, params=params, json_body=json_body
        )
    )


def json_page(feed: str, project: str) -> dict[str, Any] | int:
    """A project's simple page as PEP 691 JSON, or the status when it is not 200."""
    import json

    from functions.simple import project_detail

    response = call(
        project_detail,
        "GET",
        f"/{feed}/simple/{project}/",
        headers={"Accept": "application/vnd.pypi.simple.v1+json"},
        feed=feed,
        project=project,
    )
    return json.loads(response.get_body()) if response.status_code == 200 else response.status_code
