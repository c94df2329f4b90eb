"""Who is calling and what they may do.

Every handler asks ``authorize(storage, principal, feed, permission)`` before it touches a feed.
What a caller may do on a feed is their role there (from a grant, or from the feed's visibility),
narrowed by their token's scope and feed list. The bootstrap admin (FEEDHOUSE_ADMIN_TOKEN) may do
everything. Credentials come from the Authorization header and are compared in constant time: a
personal access token, or, where a deployment names an OpenID Connect issuer, that issuer's access
token (shared/oidc.py), whose user's roles include those granted to their groups.
"""

from __future__ import annotations

import base64
import binascii
import enum
import hashlib
import hmac
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from shared import oidc, roles, settings, tokens
from shared.errors import Forbidden, Unauthorized
from shared.names import InvalidUserName, grantee_key, group_key
from shared.roles import Role
from shared.tokens import Scope, Token

if TYPE_CHECKING:
    from shared.feeds import Feed
    from shared.storage import Storage

REALM = "Feedhouse"


class Permission(enum.Enum):
    """What an action needs."""

    READ = "read"  # list, download
    SAVE_FROM_UPSTREAM = "save from upstream"
    PUBLISH = "publish"  # upload, yank
    MANAGE = "manage"  # delete packages, edit the feed, its permissions and upstreams, delete it
    CREATE_FEED = "create feeds"
    MANAGE_TOKENS = "manage tokens"


# The least role that grants a feed permission.
REQUIRED_ROLE = {
    Permission.READ: Role.READER,
    Permission.SAVE_FROM_UPSTREAM: Role.COLLABORATOR,
    Permission.PUBLISH: Role.CONTRIBUTOR,
    Permission.MANAGE: Role.OWNER,
}
# The least token scope that allows a permission.
REQUIRED_SCOPE = {
    Permission.READ: Scope.READ,
    Permission.SAVE_FROM_UPSTREAM: Scope.READ,
    Permission.PUBLISH: Scope.PUBLISH,
    Permission.MANAGE: Scope.MANAGE,
    Permission.CREATE_FEED: Scope.MANAGE,
    Permission.MANAGE_TOKENS: Scope.MANAGE,
}


@dataclass(frozen=True)
class Principal:
    name: str
    is_admin: bool = False
    # A personal access token, or for a caller signed in with an OpenID Connect token, a stand-in that
    # allows what their roles allow (scope manage, every feed) until the OIDC token expires.
    token: Token | None = None
    # Signed in with an OpenID Connect token: their name there, and their groups' grantee keys.
    display_name: str | None = None
    groups: tuple[str, ...] = ()
    signed_in: bool = False

    @property
    def authenticated(self) -> bool:
        return self.is_admin or self.token is not None


ANONYMOUS = Principal("anonymous")
ADMIN = Principal("admin", is_admin=True)


def token_from_authorization(header: str | None) -> str | None:
    """The secret in ``Authorization``: a Bearer token, or the password of HTTP Basic (any user name)."""
    if not header:
        return None
    scheme, _, value = header.strip().partition(" ")
    value = value.strip()
    if scheme.lower() == "bearer":
        return value or None
    if scheme.lower() == "basic":
        try:
            decoded = base64.b64decode(value, validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return None
        _user, sep, password = decoded.partition(":")
        return password if sep and password else None
    return None


def _digest(secret: str) -> bytes:
    return hashlib.sha256(secret.encode("utf-8")).digest()


def is_admin_token(token: str | None, admin_token: str | None) -> bool:
    # Comparing fixed-length digests keeps the comparison constant-time whatever the lengths.
    if not token or not admin_token:
        return False
    return hmac.compare_digest(_digest(token), _digest(admin_token))


def authenticate(
    storage: Storage,
    token: str | None,
    admin_token: str | None,
    *,
    issuer: str | None = None,
    audiences: tuple[str, ...] = (),
) -> Principal:
    """The principal a token belongs to; ANONYMOUS without one; Unauthorized for one that isn't live.

    With an OpenID Connect ``issuer``, a JWT is that issuer's access token (never a personal access
    token, which has no dots): valid, it signs its subject in; otherwise it is refused, saying why.
    """
    if token is None:
        return ANONYMOUS
    if is_admin_token(token, admin_token):
        return ADMIN
    if oidc.looks_like_jwt(token):
        if issuer is None:
            raise oidc.InvalidOidcToken(
                "The token is a JWT, but this deployment accepts no OpenID Connect tokens "
                "(FEEDHOUSE_OIDC_ISSUER is not set); use a personal access token."
            )
        return _signed_in(token, issuer, audiences)
    found = tokens.verify(storage, token)
    if found is None:
        raise Unauthorized("The token is not valid: it is unknown, revoked or expired.")
    return Principal(found.user, token=found)


def _signed_in(token: str, issuer: str, audiences: tuple[str, ...]) -> Principal:
    return principal_from_claims(oidc.validate(token, issuer=issuer, audiences=audiences))


def principal_from_claims(claims: dict) -> Principal:
    """The user validated claims name (an access token's, or the ID token of a browser sign-in): its
    ``oid`` (Entra ID's object id of the user or service principal, immutable; ``sub`` for other
    providers), shown with its ``name``. Names are mutable and only shown, never authorized on."""
    subject = claims.get("oid") or claims.get("sub")
    try:
        user = grantee_key(subject if isinstance(subject, str) else "")
    except InvalidUserName:
        raise oidc.InvalidOidcToken(
            f"The token's subject ({subject!r}, from 'oid' or 'sub') cannot be a Feedhouse user name."
        ) from None
    groups = claims.get("groups") or []
    if not isinstance(groups, list) or not all(isinstance(g, str) for g in groups):
        raise oidc.InvalidOidcToken("The token's 'groups' claim must be a list of group ids.")
    try:
        group_keys = tuple(sorted({group_key(g) for g in groups}))
    except InvalidUserName:
        raise oidc.InvalidOidcToken(
            "The token's 'groups' claim holds an id that is no group object id."
        ) from None
    display = claims.get("name") or claims.get("preferred_username")
    display = display if isinstance(display, str) else None
    return oidc_principal(
        user, display, group_keys, created=_timestamp(claims["iat"]), expires=_timestamp(claims["exp"])
    )


def oidc_principal(
    user: str, display: str | None, groups: tuple[str, ...], *, created: str, expires: str
) -> Principal:
    """A user signed in through the OpenID Connect issuer until ``expires``: with a stand-in token that
    allows what their roles allow (scope manage, every feed), as long as the proof of it lasts."""
    stand_in = Token(
        id="oidc",
        user=user,
        name=display or user,
        scope=Scope.MANAGE,
        feeds=None,
        created=created,
        expires=expires,
    )
    return Principal(user, token=stand_in, display_name=display, groups=groups, signed_in=True)


def _timestamp(value: int | float) -> str:
    # PyJWT has checked that iat and exp are numbers.
    return datetime.fromtimestamp(value, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _login_required() -> Unauthorized:
    return Unauthorized(
        "Authentication required: send a token as the HTTP Basic password (any user name) "
        "or as a Bearer token."
    )


def feed_role(storage: Storage, principal: Principal, feed: Feed) -> Role | None:
    """The caller's role on a feed: their grant, or what the feed's visibility gives everyone."""
    if principal.is_admin:
        return Role.OWNER
    granted = (
        roles.best_role(storage, feed.key, principal.name, principal.groups) if principal.token else None
    )
    visible = feed.visibility == "public" or (feed.visibility == "organization" and principal.authenticated)
    if visible and (granted is None or not granted.includes(Role.READER)):
        return Role.READER
    return granted


def readable_feeds(principal: Principal, feeds: Iterable[Feed], granted: Mapping[str, Role]) -> list[Feed]:
    """The feeds a caller may read, given their grants (feed key → role): what GET /api/feeds lists."""

    def readable(feed: Feed) -> bool:
        if principal.is_admin or feed.visibility == "public":
            return True
        if principal.token is None or not principal.token.allows_feed(feed.name):
            return False
        return feed.visibility == "organization" or feed.key in granted

    return [f for f in feeds if readable(f)]


def _check_token(principal: Principal, permission: Permission, feed: Feed | None) -> None:
    token = principal.token
    if token is None:
        return
    if not token.scope.rank >= REQUIRED_SCOPE[permission].rank:
        raise Forbidden(
            f"This token's scope is '{token.scope.value}'; '{permission.value}' needs a token with scope "
            f"'{REQUIRED_SCOPE[permission].value}' or more."
        )
    if feed is not None and not token.allows_feed(feed.name):
        raise Forbidden(
            f"This token is limited to the feeds {', '.join(token.feeds or ())}; not '{feed.name}'."
        )
    if feed is None and token.feeds is not None and permission is Permission.CREATE_FEED:
        raise Forbidden("A token limited to some feeds cannot create feeds.")


def may_create_feeds(principal: Principal) -> bool:
    if principal.is_admin:
        return True
    if not principal.authenticated:
        return False
    creators = settings.load().feed_creators
    return "*" in creators or principal.name in creators


def authorize(storage: Storage, principal: Principal, feed: Feed | None, permission: Permission) -> None:
    """Raise Unauthorized (401) or Forbidden (403) unless ``principal`` may do ``permission`` on ``feed``.

    ``feed`` is None for actions outside any feed, and for a feed that does not exist: callers answer
    404 for the latter only after this check, so anonymous callers learn nothing about which feeds exist.
    """
    if principal.is_admin:
        return
    if permission in (Permission.CREATE_FEED, Permission.MANAGE_TOKENS):
        if not principal.authenticated:
            raise _login_required()
        _check_token(principal, permission, None)
        if permission is Permission.CREATE_FEED and not may_create_feeds(principal):
            raise Forbidden(f"User '{principal.name}' may not create feeds (see FEEDHOUSE_FEED_CREATORS).")
        return
    if feed is None:
        if not principal.authenticated:
            raise _login_required()
        return
    if feed.visibility == "public" and permission is Permission.READ:
        return
    role = feed_role(storage, principal, feed)
    needed = REQUIRED_ROLE[permission]
    if role is None or not role.includes(needed):
        if not principal.authenticated:
            raise _login_required()
        has = f"has {role.value}" if role else "holds no role there"
        raise Forbidden(
            f"User '{principal.name}' lacks the '{permission.value}' permission on feed '{feed.name}': "
            f"it needs the {needed.value} role (or higher) and the user {has}."
        )
    _check_token(principal, permission, feed)


def may_save(storage: Storage, principal: Principal, feed: Feed, *, readers_save: bool) -> bool:
    """Whether the caller's downloads save upstream files into ``feed``: with SAVE_FROM_UPSTREAM
    (collaborators and above), or as a signed-in reader while the feed's ``readers_save`` is on.

    Both within the token's scope and feeds. ``authorize`` lets anyone read a public feed without
    looking at the token, so the reader's way checks the token's feed list itself: a token limited
    to other feeds reads a public feed as an anonymous caller does, and saves nothing into it either.
    Anonymous callers never save (otherwise anyone could make a public feed store all of PyPI at its
    owner's expense).
    """
    if may(storage, principal, feed, Permission.SAVE_FROM_UPSTREAM):
        return True
    if not readers_save or principal.token is None or not principal.token.allows_feed(feed.key):
        return False
    return may(storage, principal, feed, Permission.READ)


def may(storage: Storage, principal: Principal, feed: Feed, permission: Permission) -> bool:
    """Whether ``authorize`` would let ``principal`` do ``permission`` on ``feed``."""
    try:
        authorize(storage, principal, feed, permission)
    except (Unauthorized, Forbidden):
        return False
    return True
