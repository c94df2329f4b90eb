"""Browser sessions: who a browser is signed in as, kept server-side in table ``sessions``.

Signing in with a personal access token (or the admin token) creates a session. The browser's cookie
holds only the session's random id; the table holds its SHA-256, the principal the session stands for,
its CSRF secret and its times. It never holds the token: a session made from a personal token records
the token's id, and each request checks the token (``tokens.live``, as the API checks one), so
revoking or expiring the token ends the session (revoking: at once on this instance, within
memo.STALE_SECONDS on others); one made from the admin token records an HMAC of it, so
changing FEEDHOUSE_ADMIN_TOKEN ends every admin session. A session acts as its principal through the
same ``auth.authorize`` checks as the API, with the token's scope and feeds.

``Kind`` says what a session was made from, so another way of signing in adds a kind without changing
what the UI does with a principal. A session made by signing in through the OpenID Connect issuer
(shared/web/signin.py) has no token behind it at all: it records the user's object id, name and group
ids as the ID token stated them, and ends no later than that ID token did (for Entra ID an hour), so
what the issuer vouched for is never stretched. Neither the ID token nor any access or refresh token
is kept: the session needs none of them again, and a stored token would be a credential to steal.

A session ends after IDLE without a request or ABSOLUTE after it began, whichever comes first, or when
the user signs out. Its last-seen time is written at most every TOUCH_EVERY, so browsing is not a write
per page. Ended sessions are deleted when next presented, and by the daily sweep otherwise.

A session's row is kept in memory (shared/memo.py) for at most memo.STALE_SECONDS, as a token's is:
a page costs no more storage requests than the API call it stands for. Signing out through this
instance ends the session here at once, through another instance within that bound; the token or
admin token behind a session is checked on every request all the same (tokens keep their own bound).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from shared import memo, tokens
from shared.auth import ADMIN, Principal, oidc_principal
from shared.keys import (
    SESSION_ROW,
    SESSIONS_PREFIX,
    SESSIONS_TABLE,
    SIGNIN_ROW,
    SIGNINS_PREFIX,
    session_partition,
    signin_partition,
)
from shared.packages import format_time, parse_time
from shared.storage import RecordChanged, Storage

IDLE = timedelta(hours=8)
ABSOLUTE = timedelta(hours=24)
TOUCH_EVERY = timedelta(minutes=5)
# How long a sign-in through the issuer may take, from the redirect there to the way back.
SIGNIN_LIFETIME = timedelta(minutes=10)

TOKEN_KIND = "token"  # noqa: S105 - a kind of session, not a secret; made from a personal access token: TokenId names it
ADMIN_KIND = "admin"  # made from the bootstrap admin token: AdminProof binds it to that token's value
OIDC_KIND = "oidc"  # made by signing in through the issuer: User, Name, Groups, until Expires
_ADMIN_PROOF_LABEL = b"feedhouse browser session of the admin"


@dataclass(frozen=True)
class Session:
    principal: Principal
    csrf: str  # the secret every form of this session carries
    created: datetime
    seen: datetime

    @property
    def ends(self) -> datetime:
        """When the session ends at the latest (sooner if idle): the cookie need not outlive it."""
        ends = self.created + ABSOLUTE
        token = self.principal.token
        if self.principal.signed_in and token is not None and token.expires is not None:
            ends = min(ends, parse_time(token.expires))
        return ends


# Session rows by partition (the SHA-256 of the id); a row that is not there is not kept, so a session
# started through another instance is found at once. Some 300 bytes a row.
_rows: memo.Memo[str, dict] = memo.Memo(max_size=100_000, seconds=memo.STALE_SECONDS)


class _NoSession(Exception):
    pass


def _row(storage: Storage, partition: str) -> dict | None:
    def load() -> dict:
        record = storage.get(SESSIONS_TABLE, partition, SESSION_ROW)
        if record is None:
            raise _NoSession  # raising keeps nothing
        return dict(record)

    try:
        return _rows.get(partition, load)
    except _NoSession:
        return None


def _sha256(session_id: str) -> str:
    return hashlib.sha256(session_id.encode("utf-8")).hexdigest()


def _admin_proof(admin_token: str) -> str:
    # An HMAC keyed by the admin token: nothing stored in the table reveals it or lets anyone forge it.
    return hmac.new(admin_token.encode("utf-8"), _ADMIN_PROOF_LABEL, hashlib.sha256).hexdigest()


def start(storage: Storage, principal: Principal, *, admin_token: str | None) -> tuple[str, Session]:
    """A new session for ``principal`` (the admin or a token's user): its id, for the cookie only, and
    the session."""
    now = datetime.now(UTC)
    session_id = secrets.token_urlsafe(32)
    record = {
        "PartitionKey": session_partition(_sha256(session_id)),
        "RowKey": SESSION_ROW,
        "User": principal.name,
        "Csrf": secrets.token_urlsafe(32),
        "Created": format_time(now),
        "Seen": format_time(now),
    }
    if principal.is_admin:
        if not admin_token:
            raise ValueError("an admin session needs the admin token it is made from")
        record |= {"Kind": ADMIN_KIND, "AdminProof": _admin_proof(admin_token)}
    elif principal.signed_in and principal.token is not None:
        record |= {
            "Kind": OIDC_KIND,
            "Name": principal.display_name or "",
            "Groups": " ".join(principal.groups),
            "Expires": principal.token.expires,
        }
    elif principal.token is not None:
        record |= {"Kind": TOKEN_KIND, "TokenId": principal.token.id}
    else:
        raise ValueError("only a signed-in principal has a session")
    storage.insert(SESSIONS_TABLE, record)
    return session_id, Session(principal, record["Csrf"], now, now)


def resume(storage: Storage, session_id: str, *, admin_token: str | None) -> Session | None:
    """The live session with this id, or None: unknown, signed out, past IDLE or ABSOLUTE, or made from
    a token that no longer works (an ended session is deleted)."""
    if not session_id or len(session_id) > 100:
        return None
    partition = session_partition(_sha256(session_id))
    record = _row(storage, partition)
    if record is None:
        return None
    now = datetime.now(UTC)
    created, seen = parse_time(record["Created"]), parse_time(record["Seen"])
    principal = None
    if now - created < ABSOLUTE and now - seen < IDLE:
        principal = _principal(storage, record, admin_token)
    if principal is None:
        storage.delete(SESSIONS_TABLE, partition, SESSION_ROW)
        _rows.invalidate(partition)
        return None
    if now - seen >= TOUCH_EVERY:
        touched = {"PartitionKey": partition, "RowKey": SESSION_ROW, "Seen": format_time(now)}
        storage.merge(SESSIONS_TABLE, touched)
        _rows.invalidate(partition)
        seen = now
    return Session(principal, record["Csrf"], created, seen)


def _principal(storage: Storage, record: dict, admin_token: str | None) -> Principal | None:
    kind = record.get("Kind")
    if kind == ADMIN_KIND:
        proof = record.get("AdminProof") or ""
        if admin_token and hmac.compare_digest(proof, _admin_proof(admin_token)):
            return ADMIN
        return None
    if kind == TOKEN_KIND:
        token = tokens.live(storage, record.get("TokenId") or "")
        return Principal(token.user, token=token) if token is not None else None
    if kind == OIDC_KIND:
        expires = record.get("Expires") or ""
        if not expires or parse_time(expires) <= datetime.now(UTC):
            return None
        return oidc_principal(
            record["User"],
            record.get("Name") or None,
            tuple(record.get("Groups", "").split()),
            created=record["Created"],
            expires=expires,
        )
    return None


def end(storage: Storage, session_id: str) -> None:
    """Sign out: the session is gone, whatever the browser still holds."""
    if session_id and len(session_id) <= 100:
        partition = session_partition(_sha256(session_id))
        storage.delete(SESSIONS_TABLE, partition, SESSION_ROW)
        _rows.invalidate(partition)


def sweep(storage: Storage, *, now: datetime) -> int:
    """Delete sessions that have ended without being presented again, and sign-ins abandoned on the way
    (the daily timer); how many."""
    ended = [
        r
        for r in storage.partitions_with_prefix(SESSIONS_TABLE, SESSIONS_PREFIX, row=SESSION_ROW)
        if now - parse_time(r["Created"]) >= ABSOLUTE or now - parse_time(r["Seen"]) >= IDLE
    ]
    ended += [
        r
        for r in storage.partitions_with_prefix(SESSIONS_TABLE, SIGNINS_PREFIX, row=SIGNIN_ROW)
        if now - parse_time(r["Created"]) >= SIGNIN_LIFETIME
    ]
    storage.delete_records(SESSIONS_TABLE, ended)
    return len(ended)


# Sign-ins through the issuer under way -------------------------------------------------------------


@dataclass(frozen=True)
class PendingSignin:
    """What the way back from the issuer must match: the request's state and nonce, the PKCE code
    verifier, and where to go once signed in."""

    state: str
    nonce: str
    verifier: str = field(repr=False)
    target: str


def start_signin(storage: Storage, pending: PendingSignin) -> str:
    """Record a sign-in under way; its id, for the browser's cookie only."""
    signin_id = secrets.token_urlsafe(32)
    storage.insert(
        SESSIONS_TABLE,
        {
            "PartitionKey": signin_partition(_sha256(signin_id)),
            "RowKey": SIGNIN_ROW,
            "State": pending.state,
            "Nonce": pending.nonce,
            "Verifier": pending.verifier,
            "Target": pending.target,
            "Created": format_time(datetime.now(UTC)),
        },
    )
    return signin_id


def take_signin(storage: Storage, signin_id: str | None) -> PendingSignin | None:
    """The sign-in under way with this id, deleted as it is read so that it serves one way back only;
    None if unknown, taken already (also by a concurrent request), or older than SIGNIN_LIFETIME."""
    if not signin_id or len(signin_id) > 100:
        return None
    record = storage.get(SESSIONS_TABLE, signin_partition(_sha256(signin_id)), SIGNIN_ROW)
    if record is None:
        return None
    try:
        # Deleted on its ETag: of two requests that read it, one deletes it, the other is refused.
        storage.transact(SESSIONS_TABLE, delete=[record])
    except RecordChanged:
        return None
    if datetime.now(UTC) - parse_time(record["Created"]) >= SIGNIN_LIFETIME:
        return None
    return PendingSignin(record["State"], record["Nonce"], record["Verifier"], record["Target"])
