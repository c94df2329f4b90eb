"""Feed roles: who holds which role on which feed.

Each grant is two rows of one table: ``<feed key>`` / user (a feed's permissions are one partition)
and ``@<user>`` / feed key (a user's feeds are one partition; '@' can start no feed key). The feed key
is the feed's id (``Feed.key``), never its name: a grant belongs to one feed, not to whichever feed
has its name, so a grant written while its feed was deleted never applies to a new feed of that name.

Requests read both partitions through copies kept in memory (shared.memo) for at most STALE_SECONDS:
a grant or revocation through this instance forgets them at once, one through another instance is
seen here within that. Changing grants reads the feed's partition as it is now (its ETags are what
the change is conditional on).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from shared import history, memo
from shared.errors import BadRequest, Conflict, FeedhouseError, NotFound
from shared.keys import PERMISSIONS_TABLE, USER_GRANTS_PREFIX, feed_grants_partition, user_grants_partition
from shared.names import grant_key
from shared.storage import RecordChanged, RecordExists, Storage


class Role(enum.Enum):
    """Feed roles, each including the ones before it (Azure Artifacts' feed roles)."""

    READER = "reader"
    COLLABORATOR = "collaborator"
    CONTRIBUTOR = "contributor"
    OWNER = "owner"

    @property
    def rank(self) -> int:
        return list(Role).index(self)

    def includes(self, other: Role) -> bool:
        return self.rank >= other.rank


class InvalidRole(BadRequest):
    code = "invalid_role"


class LastOwner(Conflict):
    code = "last_owner"


class GrantNotFound(NotFound):
    code = "permission_not_found"


@dataclass(frozen=True)
class Grant:
    user: str
    role: Role

    def to_json(self) -> dict[str, str]:
        return {"user": self.user, "role": self.role.value}


def parse_role(value: object) -> Role:
    try:
        return Role(value)
    except ValueError:
        raise InvalidRole(f"'role' must be one of {', '.join(r.value for r in Role)}.") from None


def _size(roles: dict[str, Role]) -> int:
    return 1 + len(roles)


# A partition's grants (row key → role) as requests read them, each kept for at most STALE_SECONDS:
# a feed's (by feed key: user → role) and a user's (by user: feed key → role). Bounded by their
# grants, 100,000 in each (some 200 bytes apiece).
_of_feed: memo.Memo[str, dict[str, Role]] = memo.Memo(
    max_size=100_000, seconds=memo.STALE_SECONDS, size_of=_size
)
_of_user: memo.Memo[str, dict[str, Role]] = memo.Memo(
    max_size=100_000, seconds=memo.STALE_SECONDS, size_of=_size
)


def _partition_roles(storage: Storage, partition: str) -> dict[str, Role]:
    return {r["RowKey"]: Role(r["Role"]) for r in storage.partition(PERMISSIONS_TABLE, partition)}


def _feed_roles(storage: Storage, feed_key: str) -> dict[str, Role]:
    return _of_feed.get(feed_key, lambda: _partition_roles(storage, feed_grants_partition(feed_key)))


def role_of(storage: Storage, feed_key: str, user: str) -> Role | None:
    return _feed_roles(storage, feed_key).get(grant_key(user, giving=False))


def best_role(storage: Storage, feed_key: str, user: str, groups: tuple[str, ...]) -> Role | None:
    """The highest role a user holds on the feed, themselves or through one of their groups (their
    ``group:<id>`` keys), from the feed's grants as this instance keeps them."""
    roles = _feed_roles(storage, feed_key)
    held = [roles[key] for key in (grant_key(user, giving=False), *groups) if key in roles]
    return max(held, key=lambda r: r.rank, default=None)


def roles_of_grantees(storage: Storage, user: str, groups: tuple[str, ...]) -> dict[str, Role]:
    """Feed key → the highest role the user holds there, themselves or through their groups."""
    best: dict[str, Role] = {}
    for grantee in (user, *groups):
        for feed_key, role in roles_of_user(storage, grantee).items():
            if feed_key not in best or role.rank > best[feed_key].rank:
                best[feed_key] = role
    return best


def grants(storage: Storage, feed_key: str) -> list[Grant]:
    return sorted(
        (Grant(user, role) for user, role in _feed_roles(storage, feed_key).items()),
        key=lambda g: (-g.role.rank, g.user),
    )


def roles_of_user(storage: Storage, user: str) -> dict[str, Role]:
    """Feed key → role, for every feed the user holds a role on."""
    user = grant_key(user, giving=False)
    return dict(_of_user.get(user, lambda: _partition_roles(storage, user_grants_partition(user))))


def _forget(feed_key: str, users: list[str]) -> None:
    """This instance's next request reads the feed's grants, and these users', again."""
    _of_feed.invalidate(feed_key)
    for user in users:
        _of_user.invalidate(user)


def grant(storage: Storage, feed_key: str, user: str, role: Role) -> Grant:
    """Give ``user`` ``role`` on the feed, replacing any role they had; the last owner stays an owner."""
    user = grant_key(user, giving=True)
    _change(storage, feed_key, user, role)
    history.record(storage, feed_key, history.PERMISSION_GRANT, grantee=user, role=role.value)
    return Grant(user, role)


def revoke(storage: Storage, feed_key: str, user: str) -> None:
    _change(storage, feed_key, grant_key(user, giving=False), None)
    history.record(storage, feed_key, history.PERMISSION_REVOKE, grantee=grant_key(user, giving=False))


def revoke_all(storage: Storage, feed_key: str) -> None:
    """Forget every grant on a deleted feed.

    The users' rows are found by the feed's key among all of them, not through the feed's partition: a
    grant that raced the delete may have written a user's row after the feed's partition was swept.
    """
    mirrors = storage.partitions_with_prefix(PERMISSIONS_TABLE, USER_GRANTS_PREFIX, row=feed_key)
    grantees = storage.partition(PERMISSIONS_TABLE, feed_grants_partition(feed_key))
    try:
        storage.delete_records(PERMISSIONS_TABLE, mirrors)
        storage.delete_records(PERMISSIONS_TABLE, grantees)
    finally:
        users = [r["RowKey"] for r in grantees]
        _forget(feed_key, users + [r["PartitionKey"].removeprefix(USER_GRANTS_PREFIX) for r in mirrors])


# A request that keeps losing races to others on the same feed's grants gives up with 409 after this.
_ATTEMPTS = 5


def _change(storage: Storage, feed_key: str, user: str, role: Role | None) -> None:
    """Set the user's role on the feed (None: take it away), holding the last-owner rule under races.

    The feed's grants are one partition, read in one query. The user's row is written in a transaction
    that, when an owner leaves, also pins another owner's row as read: if that owner left meanwhile the
    transaction fails, and the change is decided again on a fresh read (then LastOwner, 409). So of two
    owners taking each other's role at the same instant, exactly one succeeds.

    The ``@<user>`` mirror row (the user's feed list) is another partition, outside the transaction. It
    never shows more than the feed's row: it is lowered before the feed's row and raised after it, and a
    change that fails puts it back to what the feed's row says. A crash in between leaves it lower, so
    the user's feed list may miss a feed, never show one they cannot read.
    """
    lowered = False
    try:
        for _ in range(_ATTEMPTS):
            rows = {
                r["RowKey"]: r for r in storage.partition(PERMISSIONS_TABLE, feed_grants_partition(feed_key))
            }
            current = rows.get(user)
            if current is None and role is None:
                raise GrantNotFound(f"'{user}' holds no role on this feed.")
            was = Role(current["Role"]) if current is not None else None
            pins = []
            if was is Role.OWNER and role is not Role.OWNER:
                others = [r for key, r in rows.items() if key != user and r["Role"] == Role.OWNER.value]
                if not others:
                    raise LastOwner(f"'{user}' is the feed's last owner; make someone else an owner first.")
                pins = others[:1]
            lowers = was is not None and (role is None or not role.includes(was))
            if lowers:
                _write_mirror(storage, feed_key, user, role)
                lowered = True
            try:
                if role is None:
                    storage.transact(PERMISSIONS_TABLE, delete=[current], pin=pins)
                elif current is None:
                    storage.transact(
                        PERMISSIONS_TABLE, insert=[_row(feed_grants_partition(feed_key), user, role)]
                    )
                else:
                    storage.transact(PERMISSIONS_TABLE, replace=[{**current, "Role": role.value}], pin=pins)
            except (RecordChanged, RecordExists):
                continue  # someone changed this feed's grants meanwhile: decide again
            if not lowers:
                _write_mirror(storage, feed_key, user, role)
            return
        raise Conflict("This feed's permissions are being changed by others right now; try again.")
    except FeedhouseError:
        if lowered:
            stored = storage.get(PERMISSIONS_TABLE, feed_grants_partition(feed_key), user)
            _write_mirror(storage, feed_key, user, Role(stored["Role"]) if stored else None)
        raise
    finally:
        _forget(feed_key, [user])


def _row(partition: str, row: str, role: Role) -> dict[str, str]:
    return {"PartitionKey": partition, "RowKey": row, "Role": role.value}


def _write_mirror(storage: Storage, feed_key: str, user: str, role: Role | None) -> None:
    if role is None:
        storage.delete(PERMISSIONS_TABLE, user_grants_partition(user), feed_key)
    else:
        storage.upsert(PERMISSIONS_TABLE, _row(user_grants_partition(user), feed_key, role))
