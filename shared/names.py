"""Names: feeds, projects and file names, their validation and their normal forms.

Every name that becomes part of a storage key or a URL passes through here first.
"""

from __future__ import annotations

import re

from packaging.utils import canonicalize_name

from shared.errors import BadRequest

# PyPI's rule for project names (warehouse PROJECT_NAME_RE).
_PROJECT_NAME_RE = re.compile(r"^([A-Z0-9]|[A-Z0-9][A-Z0-9._-]*[A-Z0-9])$", re.IGNORECASE)

FEED_NAME_MAX_LENGTH = 64
# Azure Artifacts' feed-name rule lists these characters as forbidden; '%' is refused as well because
# a feed name is a URL path segment and a percent sign there would need escaping everywhere.
_FEED_FORBIDDEN = set('@~;{}\\+=<>|/?:&$*"#[]%')
# `admin` and `runtime` are route prefixes the Functions host owns; `api` and `-` (the client's
# downloads, /-/client/) are ours.
RESERVED_FEED_NAMES = frozenset({"api", "admin", "runtime", "-"})

_FILENAME_MAX_LENGTH = 255
# User names: e-mail addresses and directory names fit; nothing that could break a key or a URL.
# ASCII only, checked before lower-casing: see user_key.
_USER_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9._@+-]{0,99}$")
# Names that already mean someone: the bootstrap admin and callers without credentials (as recorded in
# uploader, yank and delete fields), and 'none', which FEEDHOUSE_FEED_CREATORS reads as "nobody". Other
# recorded actors cannot collide: files saved from upstreams record 'upstream:<label>', and ':' is no
# user-name character.
RESERVED_USER_NAMES = frozenset({"admin", "anonymous", "none"})


class InvalidFeedName(BadRequest):
    code = "invalid_feed_name"


class InvalidProjectName(BadRequest):
    code = "invalid_project_name"


class InvalidFilename(BadRequest):
    code = "invalid_filename"


class InvalidUserName(BadRequest):
    code = "invalid_user_name"


def validate_feed_name(name: str) -> str:
    """Return ``name`` if it is a usable feed name, else raise InvalidFeedName saying why."""
    if not isinstance(name, str) or not name:
        raise InvalidFeedName("A feed name is required.")
    if len(name) > FEED_NAME_MAX_LENGTH:
        raise InvalidFeedName(f"Feed names are at most {FEED_NAME_MAX_LENGTH} characters long.")
    if not name.isascii() or not name.isprintable() or any(c.isspace() for c in name):
        raise InvalidFeedName("Feed names use printable ASCII characters and no whitespace.")
    bad = sorted(set(name) & _FEED_FORBIDDEN)
    if bad:
        raise InvalidFeedName(f"Feed names cannot contain {' '.join(bad)}.")
    if name[0] in "_." or name.endswith("."):
        raise InvalidFeedName("Feed names cannot start with '_' or '.', nor end with '.'.")
    if ".." in name:
        raise InvalidFeedName("Feed names cannot contain '..'.")
    if name.lower() in RESERVED_FEED_NAMES:
        raise InvalidFeedName(f"'{name}' is reserved; choose another feed name.")
    return name


def feed_name_key(name: str) -> str:
    """A feed name's case-insensitive form: the key of the feed's row (names are unique regardless of
    case), and how upstream configurations and token feed lists compare the feeds they name.

    Never where a feed's contents are stored: that is ``Feed.key``, an id the feed gets at creation, so
    that nothing of a deleted feed reaches a later feed of the same name."""
    return validate_feed_name(name).lower()


def validate_project_name(name: str) -> str:
    if not name or not _PROJECT_NAME_RE.match(name):
        raise InvalidProjectName(
            f"'{name}' is an invalid project name: start and end with a letter or numeral, "
            "containing only ASCII numeric and '.', '_' and '-'."
        )
    return name


def normalize_project_name(name: str) -> str:
    """PEP 503 normal form; raises InvalidProjectName for names PyPI would refuse."""
    return canonicalize_name(validate_project_name(name))


def validate_filename(filename: str) -> str:
    """Refuse file names that could escape a storage key or a URL path segment."""
    if not filename:
        raise InvalidFilename("The uploaded file has no name.")
    if any(ord(c) < 32 or ord(c) == 127 for c in filename):
        raise InvalidFilename(
            "Cannot upload a file with non-printable characters (ordinals 0-31) or the DEL character "
            "(ordinal 127) in the name."
        )
    if "/" in filename or "\\" in filename:
        raise InvalidFilename("Cannot upload a file with '/' or '\\' in the name.")
    if ".." in filename:
        raise InvalidFilename("Cannot upload a file with '..' in the name.")
    if any(c in filename for c in "#?%") or not filename.isascii():
        raise InvalidFilename("Distribution file names use ASCII letters, digits and '._-+!' only.")
    if len(filename) > _FILENAME_MAX_LENGTH:
        raise InvalidFilename(f"File names are at most {_FILENAME_MAX_LENGTH} characters long.")
    return filename


def user_key(name: str) -> str:
    """A user's normal form (user names are case-insensitive): 1-100 of a-z 0-9 . _ @ + -.

    Non-ASCII is refused rather than normalized. ``str.lower()`` folds the Kelvin sign into 'k' and
    ``casefold()`` the long s into 's', so a name that merely looks different would address a real
    user's grants; NFKC plus casefold closes those but still lets Cyrillic a (U+0430) pass for Latin a
    (only a confusables table would catch that). Within ASCII, lower-casing maps exactly A-Z to a-z,
    so two names share a key only if they differ in case alone.

    This addresses users who may already hold something, reserved names included (so grants and
    tokens stored under them can be found and removed); ``grantee_key`` is for giving something.
    """
    key = name.strip() if isinstance(name, str) else ""
    if not key.isascii():
        raise InvalidUserName(f"'{name}' is not a valid user name: user names use ASCII characters only.")
    key = key.lower()
    if not _USER_NAME_RE.match(key) or ".." in key:
        raise InvalidUserName(
            f"'{name}' is not a valid user name: use 1-100 letters, digits and '.', '_', '@', '+', '-'."
        )
    return key


# A group of the identity provider (an Entra ID group's object id, from a token's 'groups' claim) as a
# grantee: ':' is no user-name character, so no user name can spell one.
GROUP_PREFIX = "group:"


def group_key(object_id: str) -> str:
    """``group:<object id>``, the object id in a user name's characters and lower case."""
    return GROUP_PREFIX + user_key(object_id)


# A trusted publisher (shared/trusted_publishing.py) as a grantee and as the user of the tokens it mints.
PUBLISHER_PREFIX = "publisher:"


def publisher_key(publisher_id: str) -> str:
    return PUBLISHER_PREFIX + publisher_id


def is_publisher_key(name: str) -> bool:
    return name.startswith(PUBLISHER_PREFIX) and name[len(PUBLISHER_PREFIX) :].isalnum()


def grant_key(name: str, *, giving: bool) -> str:
    """Whom a feed role is for: ``group:<object id>`` for a group, else a user (``grantee_key`` when a
    role is being given, ``user_key`` when an existing one is addressed)."""
    if isinstance(name, str) and name.strip().lower().startswith(GROUP_PREFIX):
        try:
            return group_key(name.strip()[len(GROUP_PREFIX) :])
        except InvalidUserName:
            raise InvalidUserName(
                f"'{name}' is not a valid group: write group:<object id>, the id in letters, digits, '-'."
            ) from None
    if isinstance(name, str) and is_publisher_key(name.strip().lower()):
        # Given only by registering the publisher; addressed (read, revoked) like any grantee.
        return name.strip().lower()
    return grantee_key(name) if giving else user_key(name)


def grantee_key(name: str) -> str:
    """``user_key`` of a user who is being given something (a token, a role, a feed, the right to
    create feeds): reserved names are refused, so they keep meaning only what they mean."""
    key = user_key(name)
    if key in RESERVED_USER_NAMES:
        raise InvalidUserName(
            f"'{name}' is reserved ({', '.join(sorted(RESERVED_USER_NAMES))} name no user); "
            "choose another user name."
        )
    return key
