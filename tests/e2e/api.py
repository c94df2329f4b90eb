"""Talk to the running app the way a user would: the JSON API with a token, index URLs with credentials."""

from __future__ import annotations

import json
import secrets
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from tests.conftest import ADMIN_TOKEN


def call(
    server, method: str, path: str, body: Any = None, token: str | None = ADMIN_TOKEN
) -> tuple[int, Any]:
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(f"{server.url}{path}", data=data, headers=headers, method=method)
    try:
        with urllib.request.urlopen(request) as response:
            raw = response.read()
            return response.status, json.loads(raw) if raw else None
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"null")


def create_feed(server, name: str | None = None, *, token: str = ADMIN_TOKEN, **fields: Any) -> str:
    name = name or "e2e-" + secrets.token_hex(4)
    status, body = call(server, "POST", "/api/feeds", {"name": name, **fields}, token)
    assert status == 201, body
    return name


def create_token(server, user: str, **fields: Any) -> str:
    status, body = call(server, "POST", "/api/tokens", {"name": "e2e", "user": user, **fields})
    assert status == 201, body
    return body["token"]


def index_url(server, feed: str, token: str | None = ADMIN_TOKEN) -> str:
    """The feed's index URL, with the token in it when given (pip and uv accept credentials there)."""
    host = server.url.split("://", 1)[1]
    credentials = f"__token__:{token}@" if token else ""
    return f"http://{credentials}{host}/{feed}/simple/"


def fetch(url: str, token: str = ADMIN_TOKEN) -> str:
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(request) as response:
        return response.read().decode()


def unique(prefix: str) -> str:
    return f"{prefix}-{secrets.token_hex(3)}"


def fetched(server, feed: str) -> set[str]:
    """The files of ``feed`` the server sent with a 200 since the request log was last cleared."""
    return {
        path.rsplit("/", 1)[1]
        for method, path, status in server.requests
        if method == "GET" and path.startswith(f"/{feed}/files/") and status == 200
    }


def downloads(server, feed: str) -> set[str]:
    """Distribution files fetched (PEP 658 metadata files aside)."""
    return {name for name in fetched(server, feed) if not name.endswith(".metadata")}


def statuses(server, feed: str) -> list[int]:
    return [status for _method, path, status in server.requests if path.startswith(f"/{feed}/")]


def installed(target: Path) -> set[str]:
    return {p.name for p in target.iterdir() if p.name.endswith(".dist-info")}
