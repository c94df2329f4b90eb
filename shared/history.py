"""Change history: append-only, an entry per change of a feed (and per token change of a user), with
who made it, when, from which client (its user agent) and what it was.

A feed's history is stored under the feed's id, so it goes to the recycle bin and back with the feed
and is swept with it on a purge; a user's (token creations and revocations) under the user's name.

Writing an entry never contends: an entry is two rows of one partition, written in one transaction
(one storage request, both rows or neither), under keys no other entry can have (the time to the
microsecond and 64 random bits), so it is an insert that never conflicts and reads nothing first, and
simultaneous changes on any number of instances each write their own. Why two rows: Table Storage
returns rows in ascending key order only, and each order of the API is to be read a page at a time
with a continuation. ``o:<time>`` sorts oldest first, ``n:<inverted time>`` newest first; a single
inverted row would make the oldest-first order a read of the whole partition. The price is twice the
bytes of a small row.

Who and which client come from the request (``request_origin``, set by functions/http.py; shared/
never sees the HTTP request itself). No entry holds a secret: callers pass names, ids, versions and
settings; a token's secret, and an upstream's credential (the configuration names app settings, never
values), are never given here. Every entry stays far below a row's 1 MiB and a property's 64 KiB: a
version's files are counted, not named (a version can have more names than one property holds).
"""

from __future__ import annotations

import contextlib
import json
import secrets
from collections.abc import Iterator
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from shared.errors import BadRequest
from shared.keys import (
    HISTORY_TABLE,
    NEWEST_FIRST,
    OLDEST_FIRST,
    feed_history_partition,
    history_row,
    user_history_partition,
)
from shared.storage import Storage

# What changed, as entries name it.
FEED_CREATE = "feed.create"
FEED_UPDATE = "feed.update"
FEED_DELETE = "feed.delete"
FEED_RESTORE = "feed.restore"
PUBLISH = "file.publish"
SAVE = "file.save"
YANK = "version.yank"
UNYANK = "version.unyank"
VERSION_DELETE = "version.delete"
FILE_DELETE = "file.delete"
VERSION_RESTORE = "version.restore"
VERSION_PURGE = "version.purge"
PROMOTE = "version.promote"
VIEWS_CHANGE = "feed.views"
PIN = "version.pin"
UNPIN = "version.unpin"
LOCKFILE_REGISTER = "lockfile.register"
LOCKFILE_UNREGISTER = "lockfile.unregister"
PERMISSION_GRANT = "permission.grant"
PERMISSION_REVOKE = "permission.revoke"
PUBLISHER_ADD = "publisher.add"
PUBLISHER_REMOVE = "publisher.remove"
TOKEN_CREATE = "token.create"  # noqa: S105 - an action's name, not a secret
TOKEN_REVOKE = "token.revoke"  # noqa: S105 - an action's name, not a secret

ORDERS = {"oldest": OLDEST_FIRST, "newest": NEWEST_FIRST}
# Who a change is by when no request made it (the daily timers).
SYSTEM = "system"
# A user agent is the client's to send; it is kept to this length.
_AGENT_MAX_LENGTH = 256


@dataclass
class _Origin:
    user: str | None
    agent: str | None


_origin: ContextVar[_Origin | None] = ContextVar("feedhouse_history_origin", default=None)


@contextlib.contextmanager
def request_origin(agent: str | None) -> Iterator[None]:
    """Within the block, entries are from a request sent with this user agent (by whoever
    ``note_user`` names)."""
    token = _origin.set(_Origin(None, agent[:_AGENT_MAX_LENGTH] if agent else None))
    try:
        yield
    finally:
        _origin.reset(token)


def note_user(user: str) -> None:
    """The request's caller, once known: entries of this request are by them."""
    origin = _origin.get()
    if origin is not None:
        origin.user = user


@dataclass(frozen=True)
class Change:
    at: str
    user: str
    agent: str | None
    action: str
    details: dict[str, Any]

    def to_json(self) -> dict[str, Any]:
        return {"at": self.at, "user": self.user, "agent": self.agent, "action": self.action, **self.details}

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> Change:
        return cls(
            at=record["At"],
            user=record["User"],
            agent=record.get("Agent"),
            action=record["Action"],
            details=json.loads(record.get("Details") or "{}"),
        )


def record(storage: Storage, feed_key: str, action: str, *, by: str | None = None, **details: Any) -> None:
    """Add an entry to a feed's history: ``action`` with ``details`` (plain JSON values, never a
    secret), by ``by`` (else the request's caller, else SYSTEM)."""
    _write(storage, feed_history_partition(feed_key), action, by, details)


def file_added(
    storage: Storage,
    feed_key: str,
    action: str,
    project: str,
    version: str,
    filename: str,
    *,
    by: str,
    **details: Any,
) -> None:
    """A file published (PUBLISH) or saved from an upstream (SAVE): one call where a file is added."""
    record(storage, feed_key, action, by=by, project=project, version=version, filename=filename, **details)


def record_for_user(
    storage: Storage, user: str, action: str, *, by: str | None = None, **details: Any
) -> None:
    """Add an entry to a user's history (their tokens), as ``record``."""
    _write(storage, user_history_partition(user), action, by, details)


def _write(storage: Storage, partition: str, action: str, by: str | None, details: dict[str, Any]) -> None:
    origin = _origin.get()
    now = datetime.now(UTC)
    unique = secrets.token_hex(8)
    fields = {
        "At": now.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        "User": by or (origin.user if origin is not None else None) or SYSTEM,
        "Agent": origin.agent if origin is not None else None,
        "Action": action,
        "Details": json.dumps(details, sort_keys=True, separators=(",", ":")),
    }
    rows = [
        {"PartitionKey": partition, "RowKey": history_row(order, now, unique), **fields}
        for order in (OLDEST_FIRST, NEWEST_FIRST)
    ]
    storage.transact(HISTORY_TABLE, insert=rows)


def parse_order(value: str | None) -> str:
    if value is None:
        return NEWEST_FIRST
    if value not in ORDERS:
        raise BadRequest("'order' must be 'oldest' or 'newest'.")
    return ORDERS[value]


def feed_changes(
    storage: Storage, feed_key: str, *, order: str, continuation: str | None, limit: int
) -> tuple[list[Change], str | None]:
    """One page of a feed's history in ``order`` (OLDEST_FIRST or NEWEST_FIRST), and the
    continuation of the next (None after the last)."""
    return _page(storage, feed_history_partition(feed_key), order, continuation, limit)


def user_changes(
    storage: Storage, user: str, *, order: str, continuation: str | None, limit: int
) -> tuple[list[Change], str | None]:
    """One page of a user's history, as ``feed_changes``."""
    return _page(storage, user_history_partition(user), order, continuation, limit)


def _page(
    storage: Storage, partition: str, order: str, continuation: str | None, limit: int
) -> tuple[list[Change], str | None]:
    records, following = storage.partition_page(
        HISTORY_TABLE, partition, continuation=continuation, limit=limit, row_prefix=order
    )
    return [Change.from_record(r) for r in records], following


def forget_feed(storage: Storage, feed_key: str) -> None:
    """Delete a purged feed's history."""
    storage.delete_records(HISTORY_TABLE, storage.partition(HISTORY_TABLE, feed_history_partition(feed_key)))
