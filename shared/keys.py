"""Where everything is stored: every table, partition key, row key and blob name, spelled here once.

Records live in Azure Table Storage, bytes in one blob container; the README's "Storage layout"
table says the same for operators. Everything of a feed is stored under its key (``Feed.key``, an
id it gets at creation, never its name: shared/feeds.py), except the feed's own row, which is found
by the feed's name.

Partitions are chosen so that what one request reads is one partition query or one point read: a
feed's projects, a project's files (with its releases and settings), a feed's recycle bin, a feed's
grants and a user's grants, a user's tokens. Rows that share a partition with rows of another kind
start with a character the other kind can never start with: '@' in the feeds partition (no feed
name starts with it), '~' in a files partition (no file name does), '~' in a token listing (token
ids are alphanumeric). ':' separates parts because neither a feed key, a normalized project name nor
a canonical version contains it.

Blob names are content-addressed: two uploads racing on one file name write different blobs, and
the insert-only file record decides which one the feed serves.
"""

from __future__ import annotations

import hashlib
from datetime import datetime

from shared.names import feed_name_key

# Tables and the blob container (infra/ creates them in Azure; shared.storage creates them in Azurite).
FEEDS_TABLE = "feeds"
PROJECTS_TABLE = "projects"
FILES_TABLE = "files"
TOKENS_TABLE = "tokens"
PERMISSIONS_TABLE = "permissions"
RECYCLE_BIN_TABLE = "recyclebin"
PUBLISHERS_TABLE = "publishers"
SESSIONS_TABLE = "sessions"
HISTORY_TABLE = "history"
LOCKFILES_TABLE = "lockfiles"
DOWNLOADS_TABLE = "downloads"
TABLE_NAMES: tuple[str, ...] = (
    FEEDS_TABLE,
    PROJECTS_TABLE,
    FILES_TABLE,
    TOKENS_TABLE,
    PERMISSIONS_TABLE,
    RECYCLE_BIN_TABLE,
    PUBLISHERS_TABLE,
    SESSIONS_TABLE,
    HISTORY_TABLE,
    LOCKFILES_TABLE,
    DOWNLOADS_TABLE,
)
BLOB_CONTAINER = "packages"

# Table feeds --------------------------------------------------------------------------------------

# All feeds share one partition: listing them is one partition query.
FEEDS_PARTITION = "feed"
_NOT_A_FEED = "@"
# No feed: pinned in the same transaction as a feed's row by a write that adds a feed upstream, so
# that such writes (and their cycle checks) happen one at a time.
UPSTREAM_GRAPH_ROW = _NOT_A_FEED + "upstream-graph"
_TOMBSTONE = _NOT_A_FEED + "deleted:"


def feed_row(name: str) -> str:
    """A feed's row: its name in lower case, as names are unique regardless of case (BadRequest for a
    name no feed can have)."""
    return feed_name_key(name)


def is_feed_row(row: str) -> bool:
    return not row.startswith(_NOT_A_FEED)


def tombstone_row(feed_key: str) -> str:
    """The row that says a deleted feed's key is still to be swept."""
    return _TOMBSTONE + feed_key


def is_tombstone_row(row: str) -> bool:
    return row.startswith(_TOMBSTONE)


# Table projects: a feed's projects, one row each, keyed by the normalized project name ------------


def projects_partition(feed_key: str) -> str:
    return feed_key


# Table files: a project's files, one row each, keyed by file name, with rows that are no file ------


def files_partition(feed_key: str, project: str) -> str:
    return f"{feed_key}:{project}"


def feed_files_prefix(feed_key: str) -> str:
    """What every files partition of a feed starts with."""
    return files_partition(feed_key, "")


_NOT_A_FILE = "~"
_RELEASE = _NOT_A_FILE + "release:"
_WHEEL_CLAIM = _NOT_A_FILE + "wheel:"
# The owner's choice whether upstream versions of the project may show, read with the page's query.
UPSTREAMING_ROW = _NOT_A_FILE + "upstreaming"


def is_file_row(row: str) -> bool:
    return not row.startswith(_NOT_A_FILE)


def release_row(version_key: str) -> str:
    """The row of a release, by its canonical version: its yanked state, the claim on its one sdist."""
    return _RELEASE + version_key


def release_of_row(row: str) -> str | None:
    """The canonical version a release row is of; None for any other row."""
    return row.removeprefix(_RELEASE) if row.startswith(_RELEASE) else None


_PROMOTION = _NOT_A_FILE + "view:"


def promotion_row(view_id: str, version_key: str) -> str:
    """The record that a release was promoted into a view (by the view's id: a removed view's
    promotions stay behind, unread, and a view added later under its name starts empty)."""
    return f"{_PROMOTION}{view_id}:{version_key}"


def promotion_of_row(row: str) -> tuple[str, str] | None:
    """(view id, canonical version) of a promotion row; None for any other row."""
    if not row.startswith(_PROMOTION):
        return None
    view_id, _, release = row.removeprefix(_PROMOTION).partition(":")
    return view_id, release


def wheel_claim_row(identity: str) -> str:
    """The row that makes one wheel file the only one of its identity (version, build tag, tag set),
    keyed by a hash of it: a tag set can be longer than a row key may be."""
    return _WHEEL_CLAIM + hashlib.sha256(identity.encode()).hexdigest()


# Table recyclebin: the versions of a feed that may have files in its bin ------------------------


def bin_partition(feed_key: str) -> str:
    return feed_key


def bin_row(project: str, version_key: str) -> str:
    return f"{project}:{version_key}"


# Table tokens: a token's own row (checked on every request) and its row in its user's listing -------

TOKEN_ROW = "token"  # noqa: S105 - a row key, not a secret
# Replaced in the same transaction that adds a listing row, so a user's token creations take turns.
TOKEN_TURN_ROW = "~turn"  # noqa: S105 - a row key, not a secret


def token_partition(token_id: str) -> str:
    return f"id:{token_id}"


def token_listing_partition(user: str) -> str:
    """A user's tokens, one row each keyed by token id."""
    return f"user:{user}"


# Table permissions: each grant twice, in its feed's partition (row: user) and its user's (row: feed key)

USER_GRANTS_PREFIX = "@"  # what every user's partition starts with; it starts no feed key


def feed_grants_partition(feed_key: str) -> str:
    return feed_key


def user_grants_partition(user: str) -> str:
    return USER_GRANTS_PREFIX + user


# Table publishers: a feed's trusted publishers, and the index the token exchange looks them up in --


# The CI tokens exchanged already, by the SHA-256 of issuer and jti, until they expire.
USED_TOKENS_PARTITION = "used"


def publisher_feed_partition(feed_key: str) -> str:
    return f"feed:{feed_key}"


def publisher_match_partition(issuer: str, subject: str) -> str:
    """Publishers whose tokens come from ``issuer`` for ``subject`` (a GitHub repository, or a token's
    sub), hashed: issuer URLs and subjects hold characters no key may."""
    return "match:" + hashlib.sha256(f"{issuer}\n{subject}".encode()).hexdigest()


# Table sessions: one row per browser session, in a partition of its own keyed by the hash of its id

SESSION_ROW = "session"
SESSIONS_PREFIX = "session:"  # what every session's partition starts with


def session_partition(id_sha256: str) -> str:
    """A session's partition: the SHA-256 of its id, never the id itself (which only the browser holds)."""
    return SESSIONS_PREFIX + id_sha256


# A sign-in through the OpenID Connect issuer under way (between the redirect there and the way back),
# likewise keyed by the hash of the id its browser holds.
SIGNIN_ROW = "signin"
SIGNINS_PREFIX = "signin:"


def signin_partition(id_sha256: str) -> str:
    return SIGNINS_PREFIX + id_sha256


# Table history: a feed's change history, and a user's (tokens), each entry two rows (shared/history.py)

OLDEST_FIRST = "o:"
NEWEST_FIRST = "n:"
# Microseconds since 1970 have 16 digits until the year 2286; inverted, they count down from this.
_LAST_MICROSECOND = 10**17 - 1


def feed_history_partition(feed_key: str) -> str:
    return f"feed:{feed_key}"


def user_history_partition(user: str) -> str:
    return f"user:{user}"


def history_row(order: str, at: datetime, unique: str) -> str:
    """An entry's row in ``order`` (OLDEST_FIRST or NEWEST_FIRST): its time to the microsecond, as
    17 digits or inverted, then what makes it unique among entries of the same microsecond."""
    micros = int(at.timestamp()) * 1_000_000 + at.microsecond
    sortable = micros if order == OLDEST_FIRST else _LAST_MICROSECOND - micros
    return f"{order}{sortable:017d}:{unique}"


# Table lockfiles: the lockfiles registered on a feed (shared/retaining.py), one row each -----------


def lockfiles_partition(feed_key: str) -> str:
    return feed_key


def lockfile_row(name: str) -> str:
    """A registered lockfile's row: the SHA-256 of the name it was registered under, as names hold
    characters ('/', '#', '?') no row key may."""
    return hashlib.sha256(name.encode()).hexdigest()


# Blobs ------------------------------------------------------------------------------------------


def feed_blobs_prefix(feed_key: str) -> str:
    """What the name of every blob of a feed starts with."""
    return f"{feed_key}/"


def file_blob(feed_key: str, project: str, sha256: str, filename: str) -> str:
    return f"{feed_blobs_prefix(feed_key)}{project}/{sha256}/{filename}"


def metadata_blob(file_blob: str) -> str:
    """A file's core metadata (METADATA or PKG-INFO), beside the file, named as PEP 658 names its URL."""
    return file_blob + ".metadata"


def provenance_blob(file_blob: str, provenance_sha256: str) -> str:
    """A file's PEP 740 provenance (its attestations, shared/attestations.py), beside the file, named
    by its own digest too: two uploads of the same bytes may carry different attestations, and the
    file's record names the blob of the upload that won."""
    return f"{file_blob}.provenance-{provenance_sha256}.json"


def documents_prefix(feed_key: str) -> str:
    """What the name of every page document of a feed starts with (shared/page_documents.py).
    Normalized project names never start with '_', so these cannot meet a project's own blobs."""
    return f"{feed_blobs_prefix(feed_key)}_documents/"


def project_documents_prefix(feed_key: str) -> str:
    """What the name of every project's page document of a feed starts with (not its project list's)."""
    return f"{documents_prefix(feed_key)}projects/"


def project_document_blob(feed_key: str, project: str) -> str:
    """A project's page document."""
    return f"{project_documents_prefix(feed_key)}{project}.json"


def project_list_blob(feed_key: str) -> str:
    """The document of a feed's project list."""
    return f"{documents_prefix(feed_key)}projects.json"


def upstream_page_blob(feed_key: str, upstream_key: str, project: str) -> str:
    """An upstream's cached page of a project. Normalized project names never start with '_', so this
    cannot meet a project's own blobs."""
    return f"{feed_blobs_prefix(feed_key)}_upstream/{upstream_key}/{project}.json.gz"


def lockfile_blob(feed_key: str, row: str) -> str:
    """A registered lockfile as it was sent. Normalized project names never start with '_'."""
    return f"{feed_blobs_prefix(feed_key)}_lockfiles/{row}/lockfile"


def lockfile_pins_blob(feed_key: str, row: str) -> str:
    """What a registered lockfile pins (Lockfile.to_json), read by retention instead of the lockfile."""
    return f"{feed_blobs_prefix(feed_key)}_lockfiles/{row}/pins.json"


# Table downloads: download counts (shared/download_counts.py) -------------------------------------

# A project's counts share a partition (as its files do): one flush writes a project's file and
# version counts in one transaction, and the package API reads them with one query. The feed's totals
# are a row of their own partition: every project's flush adds to it.
_FILE_COUNT = "file:"
_VERSION_COUNT = "version:"
FEED_COUNT_ROW = "feed"


def project_counts_partition(feed_key: str, project: str) -> str:
    return f"{feed_key}:{project}"


def feed_counts_partition(feed_key: str) -> str:
    return feed_key


def file_count_row(filename: str) -> str:
    return _FILE_COUNT + filename


def version_count_row(version_key: str) -> str:
    return _VERSION_COUNT + version_key


def count_row_of(row: str) -> tuple[str, str] | None:
    """("file", file name) or ("version", canonical version) of a count row; None for any other."""
    for kind, prefix in (("file", _FILE_COUNT), ("version", _VERSION_COUNT)):
        if row.startswith(prefix):
            return kind, row.removeprefix(prefix)
    return None
