"""Feed roles: who holds which role on which feed.

Each grant is two rows of one table: ``<feed key>`` / user (a feed's permissions are one partition)
and ``@<user>`` / feed key (a user's feeds are one partition; '@' can start no feed name).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from shared.errors import BadRequest, Conflict, NotFound
from shared.names import grantee_key, user_key
from shared.storage import PERMISSIONS_TABLE, Storage


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


def role_of(storage: Storage, feed_key: str, user: str) -> Role | None:
    record = storage.get(PERMISSIONS_TABLE, feed_key, user_key(user))
    return Role(record["Role"]) if record else None


def grants(storage: Storage, feed_key: str) -> list[Grant]:
    return sorted(
        (Grant(r["RowKey"], Role(r["Role"])) for r in storage.partition(PERMISSIONS_TABLE, feed_key)),
        key=lambda g: (-g.role.rank, g.user),
    )


def roles_of_user(storage: Storage, user: str) -> dict[str, Role]:
    """Feed key → role, for every feed the user holds a role on."""
    return {r["RowKey"]: Role(r["Role"]) for r in storage.partition(PERMISSIONS_TABLE, f"@{user_key(user)}")}


def grant(storage: Storage, feed_key: str, user: str, role: Role) -> Grant:
    """Give ``user`` ``role`` on the feed, replacing any role they had; the last owner stays an owner."""
    user = grantee_key(user)
    current = role_of(storage, feed_key, user)
    if current is Role.OWNER and role is not Role.OWNER:
        _keep_an_owner(storage, feed_key, user)
    storage.upsert(PERMISSIONS_TABLE, {"PartitionKey": feed_key, "RowKey": user, "Role": role.value})
    storage.upsert(PERMISSIONS_TABLE, {"PartitionKey": f"@{user}", "RowKey": feed_key, "Role": role.value})
    return Grant(user, role)


def revoke(storage: Storage, feed_key: str, user: str) -> None:
    user = user_key(user)
    current = role_of(storage, feed_key, user)
    if current is None:
        raise GrantNotFound(f"'{user}' holds no role on this feed.")
    if current is Role.OWNER:
        _keep_an_owner(storage, feed_key, user)
    storage.delete(PERMISSIONS_TABLE, feed_key, user)
    storage.delete(PERMISSIONS_TABLE, f"@{user}", feed_key)


def revoke_all(storage: Storage, feed_key: str) -> None:
    """Forget every grant on a feed (it is being deleted)."""
    for g in grants(storage, feed_key):
        storage.delete(PERMISSIONS_TABLE, f"@{g.user}", feed_key)
        storage.delete(PERMISSIONS_TABLE, feed_key, g.user)


def _keep_an_owner(storage: Storage, feed_key: str, leaving: str) -> None:
    owners = [g.user for g in grants(storage, feed_key) if g.role is Role.OWNER]
    if owners == [leaving]:
        raise LastOwner(f"'{leaving}' is the feed's last owner; make someone else an owner first.")
