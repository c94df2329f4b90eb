"""Feeds: their settings, their validation, and their life from creation to deletion."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from shared import packages, roles
from shared.errors import BadRequest, Conflict, NotFound
from shared.names import feed_key, validate_feed_name
from shared.roles import Role
from shared.storage import FEEDS_TABLE, RecordChanged, RecordExists, Storage

VISIBILITIES = ("public", "organization", "private")
DEFAULT_VISIBILITY = "private"
DESCRIPTION_MAX_LENGTH = 1024
# All feeds share one partition: listing them is one partition query.
_PARTITION = "feed"


class FeedNotFound(NotFound):
    code = "feed_not_found"


class FeedExists(Conflict):
    code = "feed_exists"


class InvalidFeed(BadRequest):
    code = "invalid_feed"


@dataclass(frozen=True)
class Feed:
    name: str
    description: str
    visibility: str
    created: str
    etag: str | None = None

    @property
    def key(self) -> str:
        return self.name.lower()

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "description": self.description,
            "visibility": self.visibility,
            "created": self.created,
        }

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> Feed:
        return cls(
            name=record["Name"],
            description=record.get("Description", ""),
            visibility=record["Visibility"],
            created=record["Created"],
            etag=record.get("_etag"),
        )

    def to_record(self) -> dict[str, Any]:
        return {
            "PartitionKey": _PARTITION,
            "RowKey": self.key,
            "Name": self.name,
            "Description": self.description,
            "Visibility": self.visibility,
            "Created": self.created,
            "_etag": self.etag,
        }


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
    unknown = sorted(set(body) - {"name", "description", "visibility"})
    if unknown:
        raise InvalidFeed(f"Unknown field(s): {', '.join(unknown)}.")
    name = body.get("name")
    if not isinstance(name, str):
        raise InvalidFeed("'name' is required and must be a string.")
    return Feed(
        name=validate_feed_name(name),
        description=_validate_description(body.get("description")),
        visibility=_validate_visibility(body.get("visibility", DEFAULT_VISIBILITY)),
        created=datetime.now(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z"),
    )


def create_feed(storage: Storage, feed: Feed) -> Feed:
    try:
        storage.insert(FEEDS_TABLE, feed.to_record())
    except RecordExists:
        raise FeedExists(f"A feed named '{feed.name}' already exists (names are case-insensitive).") from None
    return get_feed(storage, feed.name)


def create_feed_owned_by(storage: Storage, feed: Feed, owner: str | None) -> Feed:
    """Create a feed whose first owner is ``owner`` (None: only the admin manages it)."""
    created = create_feed(storage, feed)
    if owner is not None:
        roles.grant(storage, created.key, owner, Role.OWNER)
    return created


def list_feeds(storage: Storage) -> list[Feed]:
    feeds = [Feed.from_record(r) for r in storage.partition(FEEDS_TABLE, _PARTITION)]
    return sorted(feeds, key=lambda f: f.key)


def find_feed(storage: Storage, name: str) -> Feed | None:
    try:
        key = feed_key(name)
    except BadRequest:
        # A name that can never be a feed is simply not found (it may be any URL segment).
        return None
    record = storage.get(FEEDS_TABLE, _PARTITION, key)
    return Feed.from_record(record) if record else None


def feed_not_found(name: str) -> FeedNotFound:
    return FeedNotFound(f"Feed '{name}' does not exist.")


def get_feed(storage: Storage, name: str) -> Feed:
    feed = find_feed(storage, name)
    if feed is None:
        raise feed_not_found(name)
    return feed


def update_feed(storage: Storage, name: str, changes: Any) -> Feed:
    """Apply a PATCH body; the name and creation time are fixed."""
    if not isinstance(changes, dict):
        raise InvalidFeed("Send a JSON object with 'description' and/or 'visibility'.")
    unknown = sorted(set(changes) - {"description", "visibility"})
    if unknown:
        raise InvalidFeed(f"These fields cannot be changed: {', '.join(unknown)}.")
    feed = get_feed(storage, name)
    updated = Feed(
        name=feed.name,
        description=_validate_description(changes.get("description", feed.description)),
        visibility=_validate_visibility(changes.get("visibility", feed.visibility)),
        created=feed.created,
        etag=feed.etag,
    )
    try:
        storage.replace(FEEDS_TABLE, updated.to_record())
    except RecordChanged:
        raise Conflict(
            f"Feed '{feed.name}' was changed or deleted meanwhile; read it again and retry."
        ) from None
    return get_feed(storage, feed.name)


def delete_feed(storage: Storage, name: str) -> None:
    """Delete a feed, then everything in it.

    The feed record goes first so no new upload is accepted; its files and records follow.
    """
    feed = get_feed(storage, name)
    storage.delete(FEEDS_TABLE, _PARTITION, feed.key)
    roles.revoke_all(storage, feed.key)
    packages.delete_feed_contents(storage, feed.key)
