"""Feeds with upstreams in tests: scripted upstream pages of real wheels, users with roles, feeds."""

from __future__ import annotations

import hashlib
import json
import secrets
from collections.abc import Iterable
from typing import Any

from functions.feeds_api import feed_item, feeds_collection
from shared import roles, tokens
from shared.roles import Role
from shared.storage import get_storage
from shared.tokens import Scope
from tests.support.http import json_of
from tests.support.publish import call
from tests.support.stored import key_of
from tests.support.upstream_server import JSON, FakeIndex, Reply, html_reply


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def create_feed(upstreams: list[dict[str, Any]] | None = None, *, token: str | None = None, **fields: Any):
    """A new feed created through the API (as the admin unless ``token``): (status, body)."""
    name = fields.pop("name", None) or "u-" + secrets.token_hex(5)
    body = {"name": name, **fields}
    if upstreams is not None:
        body["upstreams"] = upstreams
    kwargs = {"token": token} if token else {}
    response = call(feeds_collection, "POST", "/api/feeds", json_body=body, **kwargs)
    return response.status_code, json_of(response)


def new_feed(upstreams: list[dict[str, Any]] | None = None, **fields: Any) -> str:
    status, body = create_feed(upstreams, **fields)
    assert status == 201, body
    return body["name"]


def patch_feed(feed: str, body: Any, *, token: str | None = None):
    kwargs = {"token": token} if token else {}
    response = call(feed_item, "PATCH", f"/api/feeds/{feed}", json_body=body, feed=feed, **kwargs)
    return response.status_code, json_of(response)


def index(url: str) -> dict[str, str]:
    """An index upstream entry for a test server's simple index at ``url``."""
    return {"type": "index", "url": url}


def user(feed: str | None = None, role: Role | None = None, scope: Scope = Scope.MANAGE) -> str:
    """A new user's token, with ``role`` on ``feed`` when given."""
    storage = get_storage()
    name = "user-" + secrets.token_hex(4)
    _, secret = tokens.create_token(storage, user=name, name="test", scope=scope)
    if feed is not None and role is not None:
        roles.grant(storage, key_of(feed), name, role)
    return secret


class ScriptedIndex:
    """A FakeIndex serving project pages (JSON or HTML) for distribution files the test gives it."""

    def __init__(self, fake: FakeIndex) -> None:
        self.fake = fake
        self.url = f"{fake.url}/simple/"

    def file_path(self, filename: str) -> str:
        return f"/files/{filename}"

    def entry(self, filename: str, data: bytes, **fields: Any) -> dict[str, Any]:
        """A PEP 691 file entry for ``data`` (fields override, e.g. hashes, yanked, core-metadata)."""
        self.fake.routes[self.file_path(filename)] = Reply(body=data)
        entry = {
            "filename": filename,
            "url": f"{self.fake.url}{self.file_path(filename)}",
            "hashes": {"sha256": sha256(data)},
        }
        entry.update(fields)
        return entry

    def metadata(self, filename: str, text: bytes) -> dict[str, str]:
        """Serve ``text`` as the file's .metadata; the core-metadata value to list for it."""
        self.fake.routes[self.file_path(filename) + ".metadata"] = Reply(body=text)
        return {"sha256": sha256(text)}

    def project(self, project: str, entries: Iterable[dict[str, Any]], *, html: bool = False) -> None:
        entries = list(entries)
        if html:
            links = "".join(
                f'<a href="{e["url"]}#sha256={e["hashes"]["sha256"]}">{e["filename"]}</a>' for e in entries
            )
            self.fake.routes[f"/simple/{project}/"] = html_reply(f"<html><body>{links}</body></html>")
            return
        page = {"meta": {"api-version": "1.1"}, "name": project, "files": entries}
        self.fake.routes[f"/simple/{project}/"] = Reply(
            body=json.dumps(page).encode(), headers={"Content-Type": JSON}
        )

    def answer(self, project: str, reply: Reply) -> None:
        self.fake.routes[f"/simple/{project}/"] = reply

    def page_requests(self, project: str) -> int:
        return len(self.fake.requests_to(f"/simple/{project}/"))

    def file_requests(self, filename: str) -> int:
        return len(self.fake.requests_to(self.file_path(filename)))
