"""Feeds: their settings, their validation, and their life from creation to deletion.

A feed is found by its name, but everything it holds is stored under its id (``Feed.key``): a random
id it gets at creation and keeps. Its projects, files, recycle bin, grants, blobs and cached upstream
pages are all keyed by that id, so a feed created later under a deleted feed's name shares nothing
with it, also not what a request that raced the delete wrote under the old id. Feeds created before
ids existed have none on their row: their key stays their lower-cased name (the row's key), where their
data already is; a new feed never gets a name as its key.

A feed's upstream configuration (shared/upstream/config.py: its ordered upstreams, claimed name patterns and
whether readers' downloads save) is one property of the feed's record, ``Upstreams``, holding
``UpstreamConfig.dumps()``: reading the feed, which every request does anyway, reads it too.

Deleting a feed moves it to the feed recycle bin: its row stays, marked ``Deleted``, so its name stays
reserved and nothing it holds is touched; no request finds it (every URL of it answers 404) until an
owner or the admin restores it, exactly as it was, or purges it, or the daily sweep purges it once
FEEDHOUSE_FEED_RECYCLE_BIN_DAYS have passed. Only a purge removes the row and what is stored under
the feed's id.

Requests find feeds through a copy kept in memory (shared.memo) for at most STALE_SECONDS: a change
through this instance (create, PATCH, delete, restore) forgets it at once, a change through another
is seen here within that (so another instance may serve a feed for up to that long after its delete,
and answer 404 for that long after its restore). What changes a feed reads its row as it is now,
never the kept copy: its ETag is what the write is conditional on, and the upstream-cycle check must
see every feed's upstreams (those of feeds in the recycle bin too, which a restore brings back).
"""

from __future__ import annotations

import contextlib
import json
import logging
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from shared import download_counts, history, memo, packages, roles, trusted_publishing
from shared.errors import BadRequest, Conflict, Forbidden, NotFound
from shared.keys import (
    FEEDS_PARTITION,
    FEEDS_TABLE,
    LOCKFILES_TABLE,
    UPSTREAM_GRAPH_ROW,
    feed_row,
    is_feed_row,
    is_tombstone_row,
    lockfiles_partition,
    tombstone_row,
)
from shared.names import feed_name_key, validate_feed_name
from shared.retention import RetentionPolicy
from shared.roles import Role
from shared.storage import RecordChanged, RecordExists, Storage
from shared.upstream.config import (
    API_FIELDS,
    FEED,
    INDEX,
    UpstreamConfig,
    apply_changes,
    check_upstream_feeds,
)
from shared.upstream.url_safety import Resolver, allow_private_from_settings
from shared.views import FeedViews, View, ViewNotFound

logger = logging.getLogger(__name__)

VISIBILITIES = ("public", "organization", "private")
CREATE_FIELDS = ("name", "description", "visibility", "owner", *API_FIELDS)
PATCH_FIELDS = ("description", "visibility", "retention", *API_FIELDS)
DEFAULT_VISIBILITY = "private"
DESCRIPTION_MAX_LENGTH = 1024
# Rows of the feeds partition that are no feed (shared/keys.py): the upstream graph's, pinned in the
# same transaction as a feed's row by a write that adds a feed upstream, so such writes happen one at
# a time (_save); and tombstones of purged feeds, written in the transaction that deletes the feed's
# row (purge_feed), so that a purged feed's contents are always swept.
# A purged feed's id is swept again, and its tombstone dropped, once no request that read the feed
# before it was deleted can still be writing under it: host.json stops any invocation after 30 minutes
# (functionTimeout), and each storage operation gives up within seconds.
SWEEP_AFTER = timedelta(hours=1)
# A write that keeps losing that race to others gives up with 409 after this many tries.
_ATTEMPTS = 5


class FeedNotFound(NotFound):
    code = "feed_not_found"


class FeedExists(Conflict):
    code = "feed_exists"


class InvalidFeed(BadRequest):
    code = "invalid_feed"


class FeedInRecycleBin(Conflict):
    code = "feed_in_recycle_bin"


class FeedNotInRecycleBin(Conflict):
    code = "feed_not_in_recycle_bin"


def _upstream_summary(upstream: dict[str, Any]) -> dict[str, Any]:
    """An upstream as callers who may not manage the feed see it: an index by its host only (an
    index URL's path can hold an access token, as some hosted indexes put it there)."""
    if upstream["type"] != INDEX:
        return upstream
    return {"type": INDEX, "host": urlsplit(upstream["url"]).hostname}


def _load_config(name: str, text: str | None) -> UpstreamConfig:
    try:
        return UpstreamConfig.loads(text)
    except (ValueError, KeyError, TypeError):
        # Never expected; a feed must stay readable even so (it then simply has no upstreams).
        logger.error("Feed %s has an unreadable upstream configuration; ignoring it", name)
        return UpstreamConfig()


def _new_id() -> str:
    # 128 random bits, as a GUID has (Azure Artifacts' feed ids are GUIDs): ids are never checked for
    # uniqueness, so two feeds must not draw the same one, ever. Hex, because it is a table key and a
    # blob name prefix, and it can contain no ':' (files partitions are "<key>:<project>").
    return secrets.token_hex(16)


@dataclass(frozen=True)
class Feed:
    name: str
    description: str
    visibility: str
    created: str
    # Where everything of the feed is stored (module docstring); the only way code gets that key.
    key: str
    etag: str | None = None
    upstream_config: UpstreamConfig = field(default_factory=UpstreamConfig)
    views: FeedViews = field(default_factory=FeedViews)  # shared/views.py
    retention: RetentionPolicy | None = None  # shared/retention.py; None: keep everything
    # In the feed recycle bin since then (module docstring), and by whom; None while it is live.
    deleted: str | None = None
    deleted_by: str | None = None

    def purge_after(self, days: int) -> datetime:
        """When the daily sweep purges this deleted feed."""
        assert self.deleted is not None
        return packages.parse_time(self.deleted) + timedelta(days=days)

    def deleted_json(self, days: int) -> dict[str, Any]:
        """A deleted feed as the recycle bin lists it, to its owners and the admin."""
        return {
            **self.to_json(),
            "deleted_at": self.deleted,
            "deleted_by": self.deleted_by,
            "purge_after": packages.format_time(self.purge_after(days)),
        }

    def to_json(self, *, manager: bool = True) -> dict[str, Any]:
        """The API form; ``manager`` (a caller who may manage the feed) sees the upstreams in full.
        Neither form holds a secret: credentials are named by their app setting."""
        upstreams = self.upstream_config.to_json()
        if not manager:
            upstreams["upstreams"] = [_upstream_summary(u) for u in upstreams["upstreams"]]
        return {
            "name": self.name,
            "id": self.key,
            "description": self.description,
            "visibility": self.visibility,
            "created": self.created,
            "retention": self.retention.to_json() if self.retention is not None else None,
            **upstreams,
        }

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> Feed:
        return cls(
            name=record["Name"],
            description=record.get("Description", ""),
            visibility=record["Visibility"],
            created=record["Created"],
            key=record.get("Id") or record["RowKey"],
            etag=record.get("_etag"),
            upstream_config=_load_config(record["Name"], record.get("Upstreams")),
            deleted=record.get("Deleted"),
            deleted_by=record.get("DeletedBy"),
            views=FeedViews.loads(record.get("Views")),
            retention=_load_retention(record.get("Retention")),
        )

    def to_record(self) -> dict[str, Any]:
        return {
            "PartitionKey": FEEDS_PARTITION,
            "RowKey": feed_row(self.name),
            "Id": self.key,
            "Name": self.name,
            "Description": self.description,
            "Visibility": self.visibility,
            "Created": self.created,
            "Upstreams": self.upstream_config.dumps() if self.upstream_config != UpstreamConfig() else None,
            "Deleted": self.deleted,
            "DeletedBy": self.deleted_by,
            "Views": self.views.dumps(),
            "Retention": json.dumps(self.retention.to_json()) if self.retention is not None else None,
            "_etag": self.etag,
        }


def _load_retention(text: str | None) -> RetentionPolicy | None:
    return RetentionPolicy.from_json(json.loads(text)) if text else None


def _validate_retention(value: Any) -> RetentionPolicy | None:
    """A policy from a PATCH body; null removes it."""
    return None if value is None else RetentionPolicy.from_json(value)


def _validate_description(value: Any) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise InvalidFeed("'description' must be a string.")
    if len(value) > DESCRIPTION_MAX_LENGTH:
        raise InvalidFeed(f"'description' is at most {DESCRIPTION_MAX_LENGTH} characters long.")
    return value


def _validate_visibility(value: Any) -> str:
    if value not in VISIBILITIES:
        raise InvalidFeed(f"'visibility' must be one of {', '.join(VISIBILITIES)}.")
    return value


def parse_new_feed(body: Any) -> Feed:
    """Validate a create-feed request body (a decoded JSON object)."""
    if not isinstance(body, dict):
        raise InvalidFeed('Send a JSON object such as {"name": "team", "visibility": "private"}.')
    unknown = sorted(set(body) - set(CREATE_FIELDS))
    if unknown:
        raise InvalidFeed(f"Unknown field(s): {', '.join(unknown)}.")
    name = body.get("name")
    if not isinstance(name, str):
        raise InvalidFeed("'name' is required and must be a string.")
    return Feed(
        name=validate_feed_name(name),
        description=_validate_description(body.get("description")),
        visibility=_validate_visibility(body.get("visibility", DEFAULT_VISIBILITY)),
        created=packages.format_time(datetime.now(UTC)),
        key=_new_id(),
    )


# Feeds as requests find them, each kept for at most STALE_SECONDS: by row key (None: no such
# feed), at most 1,000 of them; and the list of all feeds, under the one key _ALL.
_found: memo.Memo[str, Feed | None] = memo.Memo(max_size=1000, seconds=memo.STALE_SECONDS)
_listed: memo.Memo[str, tuple[Feed, ...]] = memo.Memo(max_size=1, seconds=memo.STALE_SECONDS)
_ALL = "all"


def _forget(name: str) -> None:
    """This instance's next request reads the feed, and the list of feeds, again."""
    _found.invalidate(feed_row(name))
    _listed.invalidate(_ALL)


def create_feed(storage: Storage, feed: Feed) -> Feed:
    _save(storage, feed, previous=None)
    history.record(storage, feed.key, history.FEED_CREATE, settings=feed.to_json(manager=False))
    return get_feed(storage, feed.name)


def create_feed_owned_by(storage: Storage, feed: Feed, owner: str | None) -> Feed:
    """Create a feed whose first owner is ``owner`` (None: only the admin manages it)."""
    created = create_feed(storage, feed)
    if owner is not None:
        roles.grant(storage, created.key, owner, Role.OWNER)
    return created


def list_feeds(storage: Storage) -> list[Feed]:
    """Every feed but those in the recycle bin, by name (kept for at most STALE_SECONDS, see the
    module docstring)."""
    # A list of its own for each caller: the kept tuple is shared by concurrent requests.
    live = _listed.get(_ALL, lambda: tuple(f for f in _stored_feeds(storage) if f.deleted is None))
    return list(live)


def list_deleted_feeds(storage: Storage) -> list[Feed]:
    """The feeds in the recycle bin, by name, as storage has them now."""
    return [f for f in _stored_feeds(storage) if f.deleted is not None]


def _stored_feeds(storage: Storage) -> list[Feed]:
    """Every feed as storage has it now, those in the recycle bin too."""
    records = storage.partition(FEEDS_TABLE, FEEDS_PARTITION)
    feeds = [Feed.from_record(r) for r in records if is_feed_row(r["RowKey"])]
    return sorted(feeds, key=lambda f: feed_name_key(f.name))


def find_feed(storage: Storage, name: str) -> Feed | None:
    """The feed named ``name``, None for one in the recycle bin (kept for at most STALE_SECONDS, see
    the module docstring)."""
    try:
        row = feed_row(name)
    except BadRequest:
        # A name that can never be a feed is simply not found (it may be any URL segment).
        return None
    feed = _found.get(row, lambda: _stored_feed(storage, name))
    return feed if feed is not None and feed.deleted is None else None


def find_feed_even_deleted(storage: Storage, name: str) -> Feed | None:
    """The feed named ``name`` as storage has it now, live or in the recycle bin: what the recycle
    bin's requests authorize against (a deleted feed's grants stay, under its id)."""
    try:
        return _stored_feed(storage, name)
    except BadRequest:
        return None


def _stored_feed(storage: Storage, name: str) -> Feed | None:
    """The feed named ``name`` as storage has it now, with the ETag a change is conditional on (also
    one in the recycle bin)."""
    record = storage.get(FEEDS_TABLE, FEEDS_PARTITION, feed_row(name))
    return Feed.from_record(record) if record else None


def _current_feed(storage: Storage, name: str) -> Feed:
    """The live feed a change is about, as storage has it now (see the module docstring)."""
    feed = _stored_feed(storage, name)
    if feed is None or feed.deleted is not None:
        raise feed_not_found(name)
    return feed


def _binned_feed(storage: Storage, name: str) -> Feed:
    """The feed in the recycle bin a restore or purge is about, as storage has it now."""
    feed = _stored_feed(storage, name)
    if feed is None:
        raise FeedNotFound(f"No feed named '{name}' is in the recycle bin.")
    if feed.deleted is None:
        raise FeedNotInRecycleBin(f"Feed '{feed.name}' is not in the recycle bin: it was not deleted.")
    return feed


def feed_not_found(name: str) -> FeedNotFound:
    return FeedNotFound(f"Feed '{name}' does not exist.")


def get_feed(storage: Storage, name: str) -> Feed:
    feed = find_feed(storage, name)
    if feed is None:
        raise feed_not_found(name)
    return feed


MayRead = Callable[[Feed], bool]


def configure_upstreams(
    storage: Storage,
    feed_name: str,
    current: UpstreamConfig,
    changes: Mapping[str, Any],
    *,
    may_read: MayRead,
    resolver: Resolver | None = None,
) -> UpstreamConfig:
    """The upstream configuration after a create or PATCH body (only its API_FIELDS count).

    Index URLs are checked for safety (shared.upstream.url_safety: a 400 naming why a host is refused). A feed
    named as an upstream must be readable by the caller (``may_read``: it is read with the callers' own
    rights later, and an owner must not learn another feed's packages through it). That it exists and
    closes no cycle of feeds is checked when the feed is written (``_save``).
    """
    if not any(name in changes for name in API_FIELDS):
        return current
    config = apply_changes(
        current, changes, feed_name=feed_name, allow_private=allow_private_from_settings(), resolver=resolver
    )
    for upstream in config.upstreams:
        if upstream.kind != FEED or feed_name_key(upstream.feed_name) == feed_name_key(feed_name):
            continue
        other = find_feed(storage, upstream.feed_name)
        if other is None:
            continue  # refused when the feed is written (_save)
        if upstream.view is not None:
            try:
                other = as_view(other, other.views.find(upstream.view))
            except ViewNotFound:
                raise InvalidFeed(f"Feed '{other.name}' has no view '{upstream.view}'.") from None
        if not may_read(other):
            raise Forbidden(
                f"You cannot read feed '{upstream.feed}', so it cannot be an upstream of a feed you manage."
            )
    return config


def update_feed(
    storage: Storage,
    name: str,
    changes: Any,
    *,
    may_read: MayRead = lambda _feed: False,
    resolver: Resolver | None = None,
) -> Feed:
    """Apply a PATCH body; the name and creation time are fixed."""
    if not isinstance(changes, dict):
        raise InvalidFeed("Send a JSON object with any of " + ", ".join(f"'{f}'" for f in PATCH_FIELDS) + ".")
    unknown = sorted(set(changes) - set(PATCH_FIELDS))
    if unknown:
        raise InvalidFeed(f"These fields cannot be changed: {', '.join(unknown)}.")
    for _attempt in range(_ATTEMPTS):
        feed = _current_feed(storage, name)
        updated = Feed(
            name=feed.name,
            description=_validate_description(changes.get("description", feed.description)),
            visibility=_validate_visibility(changes.get("visibility", feed.visibility)),
            created=feed.created,
            key=feed.key,
            etag=feed.etag,
            upstream_config=configure_upstreams(
                storage, feed.name, feed.upstream_config, changes, may_read=may_read, resolver=resolver
            ),
            views=feed.views,
            retention=_validate_retention(changes["retention"]) if "retention" in changes else feed.retention,
        )
        try:
            _save(storage, updated, previous=feed)
        except RecordChanged:
            # Another change landed since the read. A PATCH names only what it changes, so it is
            # applied again to the feed as it is now, as it would be had it come a moment later.
            continue
        history.record(storage, feed.key, history.FEED_UPDATE, changes=_changed(feed, updated))
        return get_feed(storage, feed.name)
    raise Conflict(f"Feed '{name}' kept changing meanwhile; read it again and retry.")


def _changed(before: Feed, after: Feed) -> dict[str, dict[str, Any]]:
    """The settings a change changed, each as ``{"from", "to"}``: what a feed's history keeps of it.
    Settings name credentials by their app setting, never hold them; index upstreams are kept by
    host only all the same, as for readers: an index URL's path can hold an access token."""
    old, new = before.to_json(manager=False), after.to_json(manager=False)
    return {k: {"from": old[k], "to": new[k]} for k in new if old[k] != new[k]}


def change_views(storage: Storage, name: str, change: Callable[[FeedViews], FeedViews]) -> Feed:
    """Apply ``change`` to the feed's views (shared/views.py), on the feed's row as it is now."""
    for _attempt in range(_ATTEMPTS):
        feed = _current_feed(storage, name)
        updated = replace(feed, views=change(feed.views))
        if updated.views == feed.views:
            return feed
        try:
            _save(storage, updated, previous=feed)
        except RecordChanged:
            continue  # another change landed: apply this one to the feed as it is now
        history.record(
            storage,
            feed.key,
            history.VIEWS_CHANGE,
            changes={"views": {"from": feed.views.dumps(), "to": updated.views.dumps()}},
        )
        return get_feed(storage, feed.name)
    raise Conflict(f"Feed '{name}' kept changing meanwhile; try again.")


def view_visibility(value: Any) -> str | None:
    """A view's own visibility from a request body: one of VISIBILITIES, or None (the feed's)."""
    if value is None:
        return None
    return _validate_visibility(value)


def as_view(feed: Feed, view: View) -> Feed:
    """The feed as a view of it is read: with the view's visibility (which can only widen it)."""
    return replace(feed, visibility=view.visible_as(feed.visibility))


def _save(storage: Storage, feed: Feed, *, previous: Feed | None) -> None:
    """Write a new feed's row (``previous`` None) or a changed one's, read earlier as ``previous``.

    A write that adds a feed upstream must not close a cycle of feeds. Checking against the stored feeds
    is not enough on its own: two writes at the same instant (A -> B and B -> A) each pass it. So such a
    write reads the upstream-graph row before the feeds, and pins it (storage.transact) in the one
    transaction that writes the feed's row: of two such writes at once only one commits, and the other
    checks again on a fresh read, where it sees the cycle (400). A write that adds no feed upstream
    cannot close a cycle and is never refused for one, so an owner can always remove upstreams, even
    from a cycle stored before this rule held.

    RecordChanged if the feed's row changed since ``previous`` was read; FeedNotFound if it is gone.
    """
    record = feed.to_record()
    before = set(previous.upstream_config.upstream_feeds) if previous else set()
    adds_feed_upstream = not set(feed.upstream_config.upstream_feeds) <= before
    for _ in range(_ATTEMPTS):
        pin = []
        if adds_feed_upstream:
            pin = [_upstream_graph(storage)]
            stored = {feed_name_key(f.name): f.upstream_config.upstream_feeds for f in _stored_feeds(storage)}
            check_upstream_feeds(feed.name, feed.upstream_config, stored.get)
        try:
            if previous is None:
                storage.transact(FEEDS_TABLE, insert=[record], pin=pin)
            else:
                storage.transact(FEEDS_TABLE, replace=[record], pin=pin)
            return
        except RecordExists:
            there = _stored_feed(storage, feed.name)
            if there is not None and there.deleted is not None:
                raise FeedInRecycleBin(
                    f"A feed named '{there.name}' is in the recycle bin (deleted {there.deleted}): its name "
                    "stays reserved until it is purged. Restore it, or purge it, first."
                ) from None
            raise FeedExists(
                f"A feed named '{feed.name}' already exists (names are case-insensitive)."
            ) from None
        except RecordChanged:
            now = _stored_feed(storage, feed.name) if previous is not None else None
            if previous is not None and (now is None or now.deleted is not None):
                raise feed_not_found(feed.name) from None
            if previous is not None and now.etag != previous.etag:
                raise  # the feed itself changed: the caller applies its change again
            # Only the graph row changed: another write added a feed upstream; check again.
        finally:
            _forget(feed.name)
    raise Conflict("Feed upstreams are being changed by others right now; try again.")


def _upstream_graph(storage: Storage) -> dict[str, Any]:
    """The upstream-graph row as it is now (created on first use), to pin."""
    while (record := storage.get(FEEDS_TABLE, FEEDS_PARTITION, UPSTREAM_GRAPH_ROW)) is None:
        with contextlib.suppress(RecordExists):
            storage.insert(FEEDS_TABLE, {"PartitionKey": FEEDS_PARTITION, "RowKey": UPSTREAM_GRAPH_ROW})
    return record


def delete_feed(storage: Storage, name: str, *, by: str) -> Feed:
    """Move a feed to the recycle bin: one conditional write of its row, which stays (its name stays
    reserved) marked ``Deleted``; nothing stored under its id is touched, so a restore brings it all
    back. From then on no request finds the feed. A request that read it just before (an upload, a
    grant) may still write under its id: that write is there again after a restore, as if it had come
    just before the delete, which it did, and is swept with the rest by a purge."""
    for _attempt in range(_ATTEMPTS):
        feed = _current_feed(storage, name)
        deleted = replace(feed, deleted=packages.format_time(datetime.now(UTC)), deleted_by=by)
        try:
            stored = storage.replace(FEEDS_TABLE, deleted.to_record())
        except RecordChanged:
            continue  # changed meanwhile: delete it as it is now (or 404, deleted by another request)
        finally:
            _forget(feed.name)
        history.record(storage, feed.key, history.FEED_DELETE, by=by)
        return Feed.from_record(stored)
    raise Conflict(f"Feed '{name}' kept changing meanwhile; try again.")


def restore_feed(storage: Storage, name: str) -> Feed:
    """Bring a feed back from the recycle bin as it was deleted: the same id, so its files, settings,
    grants, trusted publishers and history are all there again. Of two restores at once one wins;
    the other finds the feed live (409), as does a restore that races a purge and loses (404)."""
    feed = _binned_feed(storage, name)
    restored = replace(feed, deleted=None, deleted_by=None)
    try:
        storage.replace(FEEDS_TABLE, restored.to_record())
    except RecordChanged:
        # Another restore or a purge came first: say which, as a later request would.
        _binned_feed(storage, name)
        raise Conflict(f"Feed '{feed.name}' changed meanwhile; read the recycle bin again.") from None
    finally:
        _forget(feed.name)
    history.record(storage, feed.key, history.FEED_RESTORE)
    return get_feed(storage, feed.name)


def purge_feed(storage: Storage, name: str) -> Feed:
    """Remove a feed in the recycle bin for good, with everything stored under its id, blobs included;
    its name is free again."""
    return _purge(storage, _binned_feed(storage, name))


def _purge(storage: Storage, feed: Feed) -> Feed:
    """Delete a deleted feed's row, read as ``feed``, in one transaction with a tombstone of its id
    (the tombstone says the id is to be swept, so its contents always are, even if this process
    dies before its sweep), then sweep. The row's ETag is the condition: a restore or purge that
    came first wins, and the row read again says which (409: live again; 404: gone)."""
    tombstone = {
        "PartitionKey": FEEDS_PARTITION,
        "RowKey": tombstone_row(feed.key),
        "Id": feed.key,
        "Name": feed.name,
        "Deleted": packages.format_time(datetime.now(UTC)),
    }
    try:
        storage.transact(FEEDS_TABLE, insert=[tombstone], delete=[feed.to_record()])
    except (RecordChanged, RecordExists):
        _binned_feed(storage, feed.name)
        raise Conflict(f"Feed '{feed.name}' changed meanwhile; read the recycle bin again.") from None
    finally:
        _forget(feed.name)
    _sweep(storage, feed.key)
    return feed


def _sweep(storage: Storage, key: str) -> None:
    """Remove everything stored under a purged feed's id (its lockfiles' blobs go with its blobs)."""
    roles.revoke_all(storage, key)
    storage.delete_records(LOCKFILES_TABLE, storage.partition(LOCKFILES_TABLE, lockfiles_partition(key)))
    trusted_publishing.forget_feed(storage, key)
    history.forget_feed(storage, key)
    download_counts.forget_feed(storage, key)
    packages.delete_feed_contents(storage, key)


@dataclass(frozen=True)
class SweptFeed:
    name: str
    key: str


def purge_expired(storage: Storage, *, now: datetime, days: int) -> list[Feed]:
    """Purge the feeds deleted ``days`` or more ago (the daily timer). One restored or purged by a
    request meanwhile is left as that request left it."""
    purged = []
    for feed in list_deleted_feeds(storage):
        if now < feed.purge_after(days):
            continue
        with contextlib.suppress(Conflict, NotFound):
            purged.append(_purge(storage, feed))
    return purged


def sweep_deleted(storage: Storage, *, now: datetime) -> list[SweptFeed]:
    """Sweep the ids of feeds purged ``SWEEP_AFTER`` or longer ago once more, then drop their
    tombstones: what requests that raced a delete wrote is gone with them. (The daily timer.)"""
    swept = []
    for record in storage.partition(FEEDS_TABLE, FEEDS_PARTITION):
        if not is_tombstone_row(record["RowKey"]):
            continue
        if now - packages.parse_time(record["Deleted"]) < SWEEP_AFTER:
            continue
        _sweep(storage, record["Id"])
        storage.delete(FEEDS_TABLE, FEEDS_PARTITION, record["RowKey"])
        swept.append(SweptFeed(record["Name"], record["Id"]))
    return swept


def roles_by_feed_name(storage: Storage, user: str, groups: tuple[str, ...] = ()) -> dict[str, Role]:
    """Feed name → the user's role there (the best of theirs and their groups'). Grants are stored by
    feed id; one under the id of a deleted feed (not swept yet) names no feed and is left out."""
    granted = roles.roles_of_grantees(storage, user, groups)
    return {feed.name: granted[feed.key] for feed in list_feeds(storage) if feed.key in granted}
