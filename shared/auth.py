"""Who is calling and what they may do.

Every handler asks one question, ``authorize(token, feed, permission)``, before it touches a feed.
Credentials come from the Authorization header and are compared in constant time.

Until per-user tokens exist, reads are open and the bootstrap admin (FEEDHOUSE_ADMIN_TOKEN) is the only
writer.
"""

from __future__ import annotations

import base64
import binascii
import enum
import hashlib
import hmac
from dataclasses import dataclass
from typing import TYPE_CHECKING

from shared.errors import Unauthorized

if TYPE_CHECKING:
    from shared.feeds import Feed

REALM = "Feedhouse"


class Permission(enum.Enum):
    """What an action needs, from least to most."""

    READ = "read"  # list, download
    SAVE_FROM_UPSTREAM = "save from upstream"
    PUBLISH = "publish"  # upload, yank
    MANAGE = "manage"  # delete packages, edit the feed, its permissions and upstreams, delete it
    CREATE_FEED = "create feeds"


@dataclass(frozen=True)
class Principal:
    name: str
    is_admin: bool = False


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


def authenticate(token: str | None, admin_token: str | None) -> Principal:
    """The principal a token belongs to; ANONYMOUS without one, Unauthorized for a bad one."""
    if token is None:
        return ANONYMOUS
    if is_admin_token(token, admin_token):
        return ADMIN
    raise Unauthorized("The token is not valid.")


def authorize(principal: Principal, feed: Feed | None, permission: Permission) -> None:
    """Raise unless ``principal`` may do what ``permission`` names on ``feed``.

    ``feed`` is None for actions outside any feed and for a feed that does not exist: callers answer
    404 for the latter only after this check, so the check must not depend on whether it exists.
    """
    if permission is Permission.READ or principal.is_admin:
        return
    raise Unauthorized(
        "Authentication required: send a token as the HTTP Basic password (any user name) "
        "or as a Bearer token."
    )
