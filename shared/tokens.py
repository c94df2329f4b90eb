"""Personal access tokens: created for a user with a scope and optionally a list of feeds, shown once,
stored only as a hash, revocable at once.

A token reads ``fhpat_<id>_<secret>``. The fixed prefix lets secret scanners recognise a leaked one;
the id makes the lookup one point read; only the secret's SHA-256 is stored (the secret is 256 random
bits, so a fast hash is enough) and it is compared in constant time.

Two rows per token in one table: ``id:<id>`` (what a request is checked against) and ``user:<user>``
(the listing: complete, so a user's tokens are one partition query). Revoking deletes the first, which
ends the token at once; the listing row goes last.

Checking a token reads its id row once per instance and keeps it (shared.memo) for at most
STALE_SECONDS: revoking through this instance forgets it at once, through another takes effect here
within that. Expiry is checked against the clock on every request, so a kept row never lengthens a
token's life.

Lineage: a token created with another token (its parent) is no wider than it in scope, feeds and
lifetime, and revoking a token revokes every token created from it, transitively. The admin's tokens are
roots. The cascade is found at revoke time from the listing rows, which name their parent, so checking
a token on a request stays one point read.

A user holds at most MAX_TOKENS_PER_USER live tokens. Creations of one user's tokens take turns on a row
of the listing partition, replaced in the same transaction that adds the listing row, so concurrent
creations cannot count the same free place twice.
"""

from __future__ import annotations

import contextlib
import enum
import hashlib
import hmac
import secrets
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from shared import history, memo
from shared.errors import BadRequest, Conflict, Forbidden, NotFound, Unauthorized
from shared.keys import TOKEN_ROW, TOKEN_TURN_ROW, TOKENS_TABLE, token_listing_partition, token_partition
from shared.names import feed_name_key, grantee_key, is_publisher_key, user_key
from shared.storage import Record, RecordChanged, RecordExists, Storage

TOKEN_PREFIX = "fhpat_"  # noqa: S105 - the public prefix, not a secret
NAME_MAX_LENGTH = 100
MAX_FEEDS = 50
# Live (unexpired, unrevoked) tokens one user may hold: enough for every machine and CI job of a person,
# few enough that the listing stays one small query and a leaked manage token cannot mint thousands.
MAX_TOKENS_PER_USER = 100
# Last-used times are written at most this often, so using a token is not a write per request.
LAST_USED_RESOLUTION = timedelta(minutes=5)
# Creations of one user's tokens that lose the turn to a concurrent one look again this often.
_CREATE_ATTEMPTS = 5


class Scope(enum.Enum):
    """What a token may be used for, whatever the user's roles allow beyond it."""

    READ = "read"
    PUBLISH = "publish"
    MANAGE = "manage"

    @property
    def rank(self) -> int:
        return list(Scope).index(self)


class InvalidToken(BadRequest):
    code = "invalid_token_request"


class TokenNotFound(NotFound):
    code = "token_not_found"


class TooManyTokens(Conflict):
    code = "too_many_tokens"


@dataclass(frozen=True)
class Token:
    id: str
    user: str
    name: str
    scope: Scope
    # Feed names (feed_name_key), not ids: a token names the feeds it is for, whichever feed has that
    # name now; it only narrows what the user's roles (which belong to a feed's id) allow. None: all.
    feeds: tuple[str, ...] | None
    created: str
    expires: str | None
    last_used: str | None = None
    parent: str | None = None  # the id of the token that created this one; None for the admin's
    secret_sha256: str = field(default="", repr=False)

    def expired(self, now: datetime | None = None) -> bool:
        return self.expires is not None and _parse_time(self.expires) <= (now or datetime.now(UTC))

    def allows_feed(self, feed_name: str) -> bool:
        return self.feeds is None or feed_name_key(feed_name) in self.feeds

    def change_json(self) -> dict[str, Any]:
        """What a user's history says of the token: never its secret, nor its hash."""
        return {
            "id": self.id,
            "name": self.name,
            "scope": self.scope.value,
            "feeds": list(self.feeds) if self.feeds is not None else None,
            "expires": self.expires,
            "parent": self.parent,
        }

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "user": self.user,
            "name": self.name,
            "scope": self.scope.value,
            "feeds": list(self.feeds) if self.feeds is not None else None,
            "created": self.created,
            "expires": self.expires,
            "last_used": self.last_used,
            "parent": self.parent,
        }

    def id_record(self) -> Record:
        """The row a request is checked against."""
        return {
            **self._fields(),
            "PartitionKey": token_partition(self.id),
            "RowKey": TOKEN_ROW,
            "SecretSha256": self.secret_sha256,
        }

    def listing_record(self) -> Record:
        """The row in the user's listing: everything the listing shows and the cascade needs."""
        return {**self._fields(), "PartitionKey": token_listing_partition(self.user), "RowKey": self.id}

    def _fields(self) -> Record:
        return {
            "Id": self.id,
            "User": self.user,
            "Name": self.name,
            "Scope": self.scope.value,
            "Feeds": ",".join(self.feeds) if self.feeds is not None else None,
            "Created": self.created,
            "Expires": self.expires,
            "Parent": self.parent,
        }

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> Token:
        feeds = record.get("Feeds")
        return cls(
            id=record["Id"],
            user=record["User"],
            name=record["Name"],
            scope=Scope(record["Scope"]),
            feeds=tuple(feeds.split(",")) if feeds is not None else None,
            created=record["Created"],
            expires=record.get("Expires"),
            last_used=record.get("LastUsed"),
            parent=record.get("Parent"),
            secret_sha256=record.get("SecretSha256", ""),
        )


def _now() -> datetime:
    return datetime.now(UTC)


def _format_time(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _parse_time(text: str) -> datetime:
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def _is_token_id(text: str) -> bool:
    return len(text) == 16 and text.isascii() and text.isalnum()


def parse_token(token: str) -> tuple[str, str] | None:
    """(id, secret) of a string shaped like one of our tokens, else None."""
    if not token.startswith(TOKEN_PREFIX):
        return None
    token_id, sep, secret = token[len(TOKEN_PREFIX) :].partition("_")
    if not sep or not _is_token_id(token_id) or not secret:
        return None
    return token_id, secret


@dataclass(frozen=True)
class TokenRequest:
    """A validated request to create a token."""

    name: str
    scope: Scope
    feeds: tuple[str, ...] | None
    expires: datetime | None
    user: str | None


def parse_token_request(body: Any, *, now: datetime | None = None) -> TokenRequest:
    """Validate a create-token body.

    ``{"name", "scope"?, "feeds"?, "expires"? | "expires_in_days"?, "user"?}``; scope defaults to read.
    """
    if not isinstance(body, dict):
        raise InvalidToken('Send a JSON object such as {"name": "ci", "scope": "read"}.')
    unknown = sorted(set(body) - {"name", "scope", "feeds", "expires", "expires_in_days", "user"})
    if unknown:
        raise InvalidToken(f"Unknown field(s): {', '.join(unknown)}.")
    name = body.get("name")
    if not isinstance(name, str) or not name.strip() or len(name) > NAME_MAX_LENGTH:
        raise InvalidToken(f"'name' is required: a label of at most {NAME_MAX_LENGTH} characters.")
    try:
        scope = Scope(body.get("scope", "read"))
    except ValueError:
        raise InvalidToken("'scope' must be one of read, publish, manage.") from None
    feeds = body.get("feeds")
    if feeds is not None:
        if not isinstance(feeds, list) or not feeds or not all(isinstance(f, str) for f in feeds):
            raise InvalidToken("'feeds' must be a non-empty list of feed names (leave it out for all feeds).")
        if len(feeds) > MAX_FEEDS:
            raise InvalidToken(f"A token can name at most {MAX_FEEDS} feeds.")
        feeds = tuple(sorted({feed_name_key(f) for f in feeds}))
    now = now or _now()
    expires = _parse_expiry(body, now)
    user = body.get("user")
    if user is not None:
        if not isinstance(user, str):
            raise InvalidToken("'user' must be a user name.")
        user = grantee_key(user)
    return TokenRequest(name.strip(), scope, feeds, expires, user)


def _parse_expiry(body: dict[str, Any], now: datetime) -> datetime | None:
    if "expires" in body and "expires_in_days" in body:
        raise InvalidToken("Give either 'expires' or 'expires_in_days', not both.")
    if body.get("expires_in_days") is not None:
        days = body["expires_in_days"]
        if not isinstance(days, int) or isinstance(days, bool) or not 1 <= days <= 3650:
            raise InvalidToken("'expires_in_days' must be a whole number of days from 1 to 3650.")
        return now + timedelta(days=days)
    if body.get("expires") is not None:
        try:
            expires = _parse_time(str(body["expires"]))
        except ValueError:
            raise InvalidToken("'expires' must be an ISO 8601 time such as 2027-01-31T00:00:00Z.") from None
        if expires <= now:
            raise InvalidToken("'expires' must be in the future.")
        return expires
    return None


def create_token(
    storage: Storage,
    *,
    user: str,
    name: str,
    scope: Scope,
    feeds: tuple[str, ...] | None = None,
    expires: datetime | None = None,
    parent: Token | None = None,
) -> tuple[Token, str]:
    """Create a token; returns it and the secret string, which is never available again.

    ``parent`` is the token the request came with (None for the admin): the new token is no wider than
    it, and is revoked with it.
    """
    # A trusted publisher's tokens are minted for it (shared/trusted_publishing.py); no one else's name
    # may be reserved or take another shape.
    user = user if is_publisher_key(user) else grantee_key(user)
    if parent is not None:
        _no_wider_than(parent, scope, feeds, expires)
    now = _now()
    for _ in range(_CREATE_ATTEMPTS):
        rows = storage.partition(TOKENS_TABLE, token_listing_partition(user))
        turn = next((r for r in rows if r["RowKey"] == TOKEN_TURN_ROW), None)
        listed = [Token.from_record(r) for r in rows if r["RowKey"] != TOKEN_TURN_ROW]
        expired = [t for t in listed if t.expired(now)]
        if len(listed) - len(expired) >= MAX_TOKENS_PER_USER:
            raise TooManyTokens(
                f"User '{user}' already holds {MAX_TOKENS_PER_USER} live tokens, the most one user may hold; "
                "revoke one (DELETE /api/tokens/{id}) first."
            )
        secret = secrets.token_urlsafe(32)
        token = Token(
            id=secrets.token_hex(8),
            user=user,
            name=name,
            scope=scope,
            feeds=feeds,
            created=_format_time(now),
            expires=_format_time(expires) if expires else None,
            parent=parent.id if parent is not None else None,
            secret_sha256=_hash(secret),
        )
        try:
            # Taking the turn fails if another creation took it since this one counted.
            if turn is None:
                first = {
                    "PartitionKey": token_listing_partition(user),
                    "RowKey": TOKEN_TURN_ROW,
                    "Taken": token.created,
                }
                storage.transact(TOKENS_TABLE, insert=[first, token.listing_record()])
            else:
                storage.transact(
                    TOKENS_TABLE, insert=[token.listing_record()], replace=[{**turn, "Taken": token.created}]
                )
        except (RecordChanged, RecordExists):
            continue
        try:
            storage.insert(TOKENS_TABLE, token.id_record())
        except RecordExists:  # 64 random bits collided with another user's token; never overwrite
            storage.delete(TOKENS_TABLE, token_listing_partition(user), token.id)
            continue
        finally:
            _forget({token.id})  # had the id been tried before it existed, "no such token" was kept
        break
    else:
        raise Conflict(f"Other tokens of user '{user}' were being created at the same moment; try again.")
    if parent is not None and _id_record(storage, parent.id) is None:
        # The parent was revoked while this one was being made. Its revocation deleted the parent's row
        # before looking for children, and this token was listed before looking at the parent, so
        # either that revocation found it, or this check sees the parent gone.
        _end(storage, user, {token.id})
        raise Unauthorized("The token is not valid: it was revoked while creating this one.")
    # Expired tokens can never work again; removing them keeps the listing partition small. (Their
    # children expired no later, so there is no cascade to follow.)
    for gone in expired:
        storage.delete(TOKENS_TABLE, token_partition(gone.id), TOKEN_ROW)
        _forget({gone.id})
        storage.delete(TOKENS_TABLE, token_listing_partition(user), gone.id)
    history.record_for_user(storage, user, history.TOKEN_CREATE, **token.change_json())
    return token, f"{TOKEN_PREFIX}{token.id}_{secret}"


def _no_wider_than(
    parent: Token, scope: Scope, feeds: tuple[str, ...] | None, expires: datetime | None
) -> None:
    """A token never creates a token that may do more, or for longer, than itself."""
    if scope.rank > parent.scope.rank:
        raise Forbidden(
            f"A token with scope '{parent.scope.value}' cannot create one with the wider scope "
            f"'{scope.value}'."
        )
    if parent.feeds is not None and (feeds is None or not set(feeds) <= set(parent.feeds)):
        raise Forbidden(
            f"This token is limited to the feeds {', '.join(parent.feeds)}; so is any token it creates."
        )
    # Refused rather than shortened: a client that asked for 90 days and silently got 1 would find out
    # only when its token stopped working.
    if parent.expires is not None and (expires is None or expires > _parse_time(parent.expires)):
        raise Forbidden(
            f"This token expires at {parent.expires}; a token it creates must expire by then too: "
            "give 'expires' no later than that."
        )


# Tokens as requests are checked against them, by id (None: no such token), each kept for at most
# STALE_SECONDS; at most 10,000 of them, about 1 KiB each.
_checked: memo.Memo[str, Token | None] = memo.Memo(max_size=10_000, seconds=memo.STALE_SECONDS)


def _forget(token_ids: set[str]) -> None:
    """This instance's next check of these tokens reads them again (they were created or revoked)."""
    for token_id in token_ids:
        _checked.invalidate(token_id)


def _checked_token(storage: Storage, token_id: str) -> Token | None:
    def load() -> Token | None:
        record = _id_record(storage, token_id)
        return Token.from_record(record) if record is not None else None

    return _checked.get(token_id, load)


def verify(storage: Storage, token: str) -> Token | None:
    """The live token a secret string belongs to, or None (unknown, revoked, expired or malformed)."""
    parsed = parse_token(token)
    if parsed is None:
        return None
    token_id, secret = parsed
    found = _checked_token(storage, token_id)
    if found is None:
        return None
    if not hmac.compare_digest(found.secret_sha256.encode(), _hash(secret).encode()):
        return None
    return _in_use(storage, found)


def live(storage: Storage, token_id: str) -> Token | None:
    """The token ``token_id`` while it works (neither revoked nor expired), its use noted as ``verify``
    notes it; None otherwise. For a browser session made from the token, which knows its id, never its
    secret (shared/web/sessions.py): the session ends when the token does, within the bound that
    ``verify`` keeps to."""
    found = _checked_token(storage, token_id) if _is_token_id(token_id) else None
    return _in_use(storage, found) if found is not None else None


def _in_use(storage: Storage, found: Token) -> Token | None:
    """``found``, just used, unless it has expired."""
    token_id = found.id
    now = _now()
    if found.expired(now):
        return None
    if found.last_used is None or _parse_time(found.last_used) < now - LAST_USED_RESOLUTION:
        # Best effort: a lost update only makes last_used a little older. The id row's copy decides
        # when to write; the listing row's is what the listing shows.
        last_used = {"LastUsed": _format_time(now)}
        with contextlib.suppress(Exception):
            storage.merge(
                TOKENS_TABLE, {**last_used, "PartitionKey": token_partition(token_id), "RowKey": TOKEN_ROW}
            )
            storage.merge(
                TOKENS_TABLE,
                {**last_used, "PartitionKey": token_listing_partition(found.user), "RowKey": token_id},
            )
        # The kept copy says so too (until it would have expired anyway): otherwise every request
        # until then would write again.
        _checked.replace(token_id, found, replace(found, last_used=last_used["LastUsed"]))
    return found


def _listing(storage: Storage, user: str) -> dict[str, Token]:
    rows = storage.partition(TOKENS_TABLE, token_listing_partition(user))
    return {r["RowKey"]: Token.from_record(r) for r in rows if r["RowKey"] != TOKEN_TURN_ROW}


def holder_key(user: str) -> str:
    """A token holder: a user, or a trusted publisher (whose name no user can have)."""
    return user if is_publisher_key(user) else user_key(user)


def list_tokens(storage: Storage, user: str) -> list[Token]:
    """A user's tokens, from their listing rows alone: one partition query."""
    return sorted(_listing(storage, holder_key(user)).values(), key=lambda t: (t.created, t.id))


def _id_record(storage: Storage, token_id: str) -> Record | None:
    """A token's own row (the one requests are checked against); None for any text that is no token id."""
    return storage.get(TOKENS_TABLE, token_partition(token_id), TOKEN_ROW) if _is_token_id(token_id) else None


def get_token(storage: Storage, token_id: str) -> Token:
    record = _id_record(storage, token_id)
    if record is None:
        raise TokenNotFound(f"No token with id '{token_id}'.")
    return Token.from_record(record)


def revoke(storage: Storage, user: str, token_id: str) -> None:
    """End ``user``'s token ``token_id`` and every token created from it, transitively, at once.

    TokenNotFound if the user has no such token (a listing row left without its id row, by a crash
    between the two writes, can be revoked too).
    """
    user = holder_key(user)
    listed = _listing(storage, user)
    if token_id not in listed:
        record = _id_record(storage, token_id)
        if record is None or record["User"] != user:
            raise TokenNotFound(f"No token with id '{token_id}'.")
    _end(storage, user, {token_id} | _descendants({token_id}, listed))
    history.record_for_user(storage, user, history.TOKEN_REVOKE, id=token_id)


def _end(storage: Storage, user: str, doomed: set[str]) -> None:
    """Revoke tokens of ``user``, and the descendants of each, transitively.

    Deleting id rows ends tokens at once. After each round the listing is read again: a token created
    by a doomed one while this runs is listed before its creator checks that its parent still stands
    (create_token), so a read after the parent's row is gone either shows it or its creator sees the
    parent gone. Listing rows go last, so a crash part-way leaves the rest revocable.
    """
    ended: set[str] = set()
    while fresh := doomed - ended:
        try:
            for token_id in sorted(fresh):
                storage.delete(TOKENS_TABLE, token_partition(token_id), TOKEN_ROW)
        finally:
            _forget(fresh)  # even if a delete failed part-way: whatever did go, goes here at once
        ended |= fresh
        doomed |= _descendants(ended, _listing(storage, user))
    for token_id in sorted(ended):
        storage.delete(TOKENS_TABLE, token_listing_partition(user), token_id)


def _descendants(roots: set[str], listed: dict[str, Token]) -> set[str]:
    children: dict[str, list[str]] = {}
    for token in listed.values():
        if token.parent is not None:
            children.setdefault(token.parent, []).append(token.id)
    found: set[str] = set()
    pending = list(roots)
    while pending:
        for child in children.get(pending.pop(), ()):
            if child not in found and child not in roots:
                found.add(child)
                pending.append(child)
    return found
