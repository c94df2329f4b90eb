"""Personal access tokens: created for a user with a scope and optionally a list of feeds, shown once,
stored only as a hash, revocable at once.

A token reads ``fhpat_<id>_<secret>``. The fixed prefix lets secret scanners recognise a leaked one;
the id makes the lookup one point read; only the secret's SHA-256 is stored (the secret is 256 random
bits, so a fast hash is enough) and it is compared in constant time.

Two rows per token in one table: ``id:<id>`` (what a request is checked against) and ``user:<user>``
(so a user's tokens are one partition query). Revoking deletes the first, which ends the token at
once; the listing row goes second.
"""

from __future__ import annotations

import contextlib
import enum
import hashlib
import hmac
import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from shared.errors import BadRequest, NotFound
from shared.names import feed_key, grantee_key, user_key
from shared.storage import TOKENS_TABLE, RecordExists, Storage

TOKEN_PREFIX = "fhpat_"  # noqa: S105 - the public prefix, not a secret
NAME_MAX_LENGTH = 100
MAX_FEEDS = 50
# Last-used times are written at most this often, so using a token is not a write per request.
LAST_USED_RESOLUTION = timedelta(minutes=5)
_ROW = "token"


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


@dataclass(frozen=True)
class Token:
    id: str
    user: str
    name: str
    scope: Scope
    feeds: tuple[str, ...] | None  # feed keys; None means every feed the user may use
    created: str
    expires: str | None
    last_used: str | None = None
    secret_sha256: str = field(default="", repr=False)

    def expired(self, now: datetime | None = None) -> bool:
        return self.expires is not None and _parse_time(self.expires) <= (now or datetime.now(UTC))

    def allows_feed(self, key: str) -> bool:
        return self.feeds is None or key in self.feeds

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
        }

    def to_record(self, partition: str) -> dict[str, Any]:
        return {
            "PartitionKey": partition,
            "RowKey": _ROW if partition.startswith("id:") else self.id,
            "Id": self.id,
            "User": self.user,
            "Name": self.name,
            "Scope": self.scope.value,
            "Feeds": ",".join(self.feeds) if self.feeds is not None else None,
            "Created": self.created,
            "Expires": self.expires,
            "SecretSha256": self.secret_sha256,
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


def parse_token(token: str) -> tuple[str, str] | None:
    """(id, secret) of a string shaped like one of our tokens, else None."""
    if not token.startswith(TOKEN_PREFIX):
        return None
    token_id, sep, secret = token[len(TOKEN_PREFIX) :].partition("_")
    if not sep or len(token_id) != 16 or not token_id.isalnum() or not secret:
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
        feeds = tuple(sorted({feed_key(f) for f in feeds}))
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
) -> tuple[Token, str]:
    """Create a token; returns it and the secret string, which is never available again."""
    token_id = secrets.token_hex(8)
    secret = secrets.token_urlsafe(32)
    token = Token(
        id=token_id,
        user=grantee_key(user),
        name=name,
        scope=scope,
        feeds=feeds,
        created=_format_time(_now()),
        expires=_format_time(expires) if expires else None,
        secret_sha256=_hash(secret),
    )
    try:
        storage.insert(TOKENS_TABLE, token.to_record(f"id:{token_id}"))
    except RecordExists:  # 64 random bits collided; vanishingly rare, but never overwrite
        return create_token(storage, user=user, name=name, scope=scope, feeds=feeds, expires=expires)
    storage.insert(TOKENS_TABLE, token.to_record(f"user:{token.user}"))
    return token, f"{TOKEN_PREFIX}{token_id}_{secret}"


def verify(storage: Storage, token: str) -> Token | None:
    """The live token a secret string belongs to, or None (unknown, revoked, expired or malformed)."""
    parsed = parse_token(token)
    if parsed is None:
        return None
    token_id, secret = parsed
    record = storage.get(TOKENS_TABLE, f"id:{token_id}", _ROW)
    if record is None:
        return None
    found = Token.from_record(record)
    if not hmac.compare_digest(found.secret_sha256.encode(), _hash(secret).encode()):
        return None
    now = _now()
    if found.expired(now):
        return None
    if found.last_used is None or _parse_time(found.last_used) < now - LAST_USED_RESOLUTION:
        # Best effort: a lost update only makes last_used a little older.
        with contextlib.suppress(Exception):
            storage.merge(
                TOKENS_TABLE,
                {"PartitionKey": f"id:{token_id}", "RowKey": _ROW, "LastUsed": _format_time(now)},
            )
    return found


def list_tokens(storage: Storage, user: str) -> list[Token]:
    """A user's live tokens (their lookup rows hold last-used times)."""
    tokens = []
    for row in storage.partition(TOKENS_TABLE, f"user:{user_key(user)}"):
        record = storage.get(TOKENS_TABLE, f"id:{row['Id']}", _ROW)
        if record is not None:
            tokens.append(Token.from_record(record))
    return sorted(tokens, key=lambda t: t.created)


def get_token(storage: Storage, token_id: str) -> Token:
    record = None
    if token_id.isalnum() and len(token_id) == 16:
        record = storage.get(TOKENS_TABLE, f"id:{token_id}", _ROW)
    if record is None:
        raise TokenNotFound(f"No token with id '{token_id}'.")
    return Token.from_record(record)


def revoke(storage: Storage, token: Token) -> None:
    storage.delete(TOKENS_TABLE, f"id:{token.id}", _ROW)
    storage.delete(TOKENS_TABLE, f"user:{token.user}", token.id)
