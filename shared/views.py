"""Views of a feed and promotion into them, as Azure Artifacts has them.

Every feed has the views ``local`` (everything the feed holds: what the feed URL serves),
``prerelease`` and ``release``; owners add and remove views of their own naming. A view is served at
``/{feed}@{view}/...`` (a feed name never contains ``@``) and lists only the versions promoted into
it, with the feed's own files, hashes, metadata files and yanks: it is a filter over the feed's page
documents, never a copy. A view has its own visibility, which can only widen the feed's (a public
``@release`` of a private feed); ``local`` is the feed and has the feed's.

Where it is stored: the views of a feed are one property of the feed's row (``Views``), read with the
feed by every request anyway. A promotion is a row in the project's files partition
(``keys.promotion_row``: who, when), and the project's page document lists the promoted releases of
each view (shared/page_documents.py), so a view's page costs what the feed's does: one conditional
read. Views are kept by id: a removed view's promotion rows stay behind, unread, so a view added later
under the same name starts empty.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from shared import history, page_documents
from shared.errors import BadRequest, NotFound
from shared.keys import FILES_TABLE, files_partition, promotion_of_row, promotion_row
from shared.packages import ReleaseNotFound, now_text, parse_version, version_key
from shared.storage import RecordExists, Storage

LOCAL = "local"
BUILT_IN = ("local", "prerelease", "release")
VIEW_NAME_MAX_LENGTH = 64
MAX_VIEWS = 20
_VISIBILITY_RANK = {"private": 0, "organization": 1, "public": 2}
# View names are URL path segments after '@': the characters feed names refuse, refused here too.
_VIEW_FORBIDDEN = set('@~;{}\\+=<>|/?:&$*"#[]%')


class InvalidView(BadRequest):
    code = "invalid_view"


class ViewNotFound(NotFound):
    code = "view_not_found"


@dataclass(frozen=True)
class View:
    name: str
    id: str  # where its promotions are kept: a built-in view's name, else random
    visibility: str | None = None  # None: the feed's

    def visible_as(self, feed_visibility: str) -> str:
        """Who may read the view: the wider of its own visibility and the feed's."""
        if self.visibility is None:
            return feed_visibility
        return max(self.visibility, feed_visibility, key=_VISIBILITY_RANK.__getitem__)

    def to_json(self, feed_visibility: str) -> dict[str, Any]:
        return {
            "name": self.name,
            "visibility": self.visible_as(feed_visibility),
            "own_visibility": self.visibility,
            "built_in": self.name in BUILT_IN,
        }


@dataclass(frozen=True)
class FeedViews:
    """A feed's views: the built-in ones, with any visibility set on them, and the owners'."""

    custom: tuple[View, ...] = ()
    visibilities: tuple[tuple[str, str], ...] = ()  # built-in view name → its own visibility

    @property
    def all(self) -> list[View]:
        own = dict(self.visibilities)
        return [View(name, name, own.get(name)) for name in BUILT_IN] + list(self.custom)

    def find(self, name: str) -> View:
        for view in self.all:
            if view.name == name.lower():
                return view
        names = ", ".join(v.name for v in self.all)
        raise ViewNotFound(f"No view '{name}' in this feed; its views are {names}.")

    def with_view(self, name: str, visibility: str | None) -> FeedViews:
        name = validate_view_name(name)
        if any(v.name == name for v in self.all):
            raise InvalidView(f"The feed has a view '{name}' already.")
        if len(self.all) >= MAX_VIEWS:
            raise InvalidView(f"A feed has at most {MAX_VIEWS} views.")
        return FeedViews((*self.custom, View(name, secrets.token_hex(8), visibility)), self.visibilities)

    def with_visibility(self, name: str, visibility: str | None) -> FeedViews:
        view = self.find(name)
        if view.name == LOCAL:
            raise InvalidView("@local is the feed itself: change the feed's visibility instead.")
        if view.name in BUILT_IN:
            own = {**dict(self.visibilities), view.name: visibility}
            return FeedViews(self.custom, tuple((k, v) for k, v in sorted(own.items()) if v is not None))
        custom = tuple(View(v.name, v.id, visibility) if v.name == view.name else v for v in self.custom)
        return FeedViews(custom, self.visibilities)

    def without(self, name: str) -> FeedViews:
        view = self.find(name)
        if view.name in BUILT_IN:
            raise InvalidView(f"'{view.name}' is a view every feed has; it cannot be removed.")
        return FeedViews(tuple(v for v in self.custom if v.name != view.name), self.visibilities)

    def dumps(self) -> str | None:
        if self == FeedViews():
            return None
        return json.dumps(
            {
                "custom": [[v.name, v.id, v.visibility] for v in self.custom],
                "visibilities": dict(self.visibilities),
            },
            separators=(",", ":"),
        )

    @classmethod
    def loads(cls, text: str | None) -> FeedViews:
        if not text:
            return cls()
        stored = json.loads(text)
        return cls(
            tuple(View(name, id_, visibility) for name, id_, visibility in stored["custom"]),
            tuple(sorted(stored["visibilities"].items())),
        )


def validate_view_name(name: Any) -> str:
    """A usable name for a new view, in its normal (lower-case) form; InvalidView saying why not."""
    if not isinstance(name, str) or not name:
        raise InvalidView("A view name is required.")
    if len(name) > VIEW_NAME_MAX_LENGTH:
        raise InvalidView(f"View names are at most {VIEW_NAME_MAX_LENGTH} characters long.")
    if not name.isascii() or not name.isprintable() or any(c.isspace() for c in name):
        raise InvalidView("View names use printable ASCII characters and no whitespace.")
    bad = sorted(set(name) & _VIEW_FORBIDDEN)
    if bad:
        raise InvalidView(f"View names cannot contain {' '.join(bad)}.")
    if name[0] in "_.-" or name.endswith(".") or ".." in name:
        raise InvalidView("View names cannot start with '_', '.' or '-', end with '.', nor contain '..'.")
    if name.lower() in BUILT_IN:
        raise InvalidView(f"'{name}' is a view every feed has already; choose another name.")
    return name.lower()


def split_feed_view(name: str) -> tuple[str, str | None]:
    """``feed@view`` → (feed, view); a name without ``@`` is the feed itself (None)."""
    feed, at, view = name.partition("@")
    return feed, (view if at else None)


# Promotion ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Promotion:
    view: str
    promoted_by: str | None
    promoted_at: str | None

    def to_json(self) -> dict[str, Any]:
        return {"view": self.view, "promoted_by": self.promoted_by, "promoted_at": self.promoted_at}


def promote(
    storage: Storage, feed_key: str, views: FeedViews, project: str, version: str, view_name: Any, *, by: str
) -> list[Promotion]:
    """Promote every file of a version (which must have active files) into a view; again is no
    change (the first promotion's who and when stay). The version's views afterwards."""
    if not isinstance(view_name, str):
        raise InvalidView('Send a JSON object such as {"view": "release"}.')
    view = views.find(view_name.removeprefix("@"))
    if view.name == LOCAL:
        raise InvalidView("Every version of the feed is in @local; promote into another view.")
    parse_version(version, project)
    release = version_key(version)
    document = page_documents.current(storage, feed_key, project).document
    if not any(f.release == release for f in document.files):
        raise ReleaseNotFound(f"No version '{version}' of project '{project}'.")
    row = promotion_row(view.id, release)
    record = {
        "PartitionKey": files_partition(feed_key, project),
        "RowKey": row,
        "Version": version,
        "PromotedBy": by,
        "PromotedAt": now_text(),
    }
    # Promoted before: it stays as it was (who, when); the document is brought up to date all the same.
    try:
        storage.insert(FILES_TABLE, record)
        promoted_now = True
    except RecordExists:
        promoted_now = False
    page_documents.follow_rows(storage, feed_key, project, [row])
    page_documents.list_in_view(storage, feed_key, project, view.id)
    if promoted_now:
        history.record(
            storage, feed_key, history.PROMOTE, by=by, project=project, version=version, view=view.name
        )
    return version_views(storage, feed_key, views, project, version)


def version_views(
    storage: Storage, feed_key: str, views: FeedViews, project: str, version: str
) -> list[Promotion]:
    """The views a version is in (``local`` first, while it has active files), with who promoted it
    and when; ReleaseNotFound for a version without active files."""
    parse_version(version, project)
    release = version_key(version)
    document = page_documents.current(storage, feed_key, project).document
    if not any(f.release == release for f in document.files):
        raise ReleaseNotFound(f"No version '{version}' of project '{project}'.")
    by_id = {v.id: v for v in views.all}
    found = [Promotion(LOCAL, None, None)]
    for record in storage.partition(FILES_TABLE, files_partition(feed_key, project)):
        promoted = promotion_of_row(record["RowKey"])
        if promoted is None or promoted[1] != release or promoted[0] not in by_id:
            continue
        found.append(Promotion(by_id[promoted[0]].name, record.get("PromotedBy"), record.get("PromotedAt")))
    return found


def views_by_release(views: FeedViews, records: Iterable[Mapping[str, Any]]) -> dict[str, list[str]]:
    """Canonical version → the names of the views (besides ``local``) it is promoted into, from the
    rows of a project's files partition."""
    names = {v.id: v.name for v in views.all}
    found: dict[str, list[str]] = {}
    for record in records:
        promoted = promotion_of_row(record["RowKey"])
        if promoted is not None and promoted[0] in names:
            found.setdefault(promoted[1], []).append(names[promoted[0]])
    return {release: sorted(in_views) for release, in_views in found.items()}
