"""A feed's upstream sources: what an owner may configure, how it is checked and how it is stored.

A feed has an ordered list of upstreams. Each is one of:

- ``{"type": "pypi"}``: public PyPI, the feed dialog's one switch. Its URL is the deployment setting
  FEEDHOUSE_PYPI_URL, so a company mirror or a test server can stand in for it.
- ``{"type": "index", "url": "https://host/simple/", "credential": "FEEDHOUSE_UPSTREAM_CREDENTIAL_X"}``:
  any PEP 503/691 simple index. ``credential`` is optional and is the NAME of an app setting, never a
  secret: the deployment's administrator creates the setting (in Azure usually a Key Vault reference),
  and its value has the form ``https://user:password@host/``. The credential is sent only to that
  scheme, host and port, so naming another feed's credential for one's own host sends nothing.
- ``{"type": "feed", "feed": "other"}``: another feed of this deployment, read with the caller's own
  rights; cycles are refused. ``"other@release"`` names a view of it (shared/views.py): only the
  versions promoted into that view come through.

With the list go the feed's claimed name patterns (``contoso-*``: names that never come from upstream)
whether a reader's download saves upstream files (default on), and the upstream cooldown
(shared/upstream/cooldown.py). The whole configuration is one JSON
string, small enough for a Table property, and holds no secret.
"""

from __future__ import annotations

import base64
import fnmatch
import hashlib
import json
import os
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import unquote, urlsplit, urlunsplit

from shared.errors import BadGateway, BadRequest
from shared.names import feed_name_key, validate_feed_name
from shared.upstream.cooldown import Cooldown, parse_cooldown_days, parse_exceptions
from shared.upstream.url_safety import (
    Resolver,
    UnsafeUpstreamURL,
    UpstreamHostNotFound,
    check_fetchable_url,
    display_url,
    port_of,
    split_fetchable_url,
)

PYPI = "pypi"
INDEX = "index"
FEED = "feed"
KINDS = (PYPI, INDEX, FEED)

MAX_UPSTREAMS = 20  # Azure Artifacts' limit per feed and package type
MAX_CLAIMED_PATTERNS = 100
MAX_PATTERN_LENGTH = 64
# With these limits the largest configuration still fits a Table property (MAX_STORED_BYTES).
MAX_INDEX_URL_LENGTH = 1000
CREDENTIAL_SETTING_PREFIX = "FEEDHOUSE_UPSTREAM_CREDENTIAL_"
_CREDENTIAL_NAME_RE = re.compile(r"^FEEDHOUSE_UPSTREAM_CREDENTIAL_[A-Z0-9_]{1,64}$")
_PATTERN_RE = re.compile(r"^[a-z0-9*?-]+$")
_KEY_VAULT_REFERENCE = "@microsoft.keyvault("
# A Table string property holds at most 64 KiB of UTF-16.
MAX_STORED_BYTES = 64 * 1024
_FORMAT_VERSION = 1

# The fields of a feed's API representation that this module owns.
API_FIELDS = (
    "upstreams",
    "claimed_patterns",
    "readers_save",
    "upstream_cooldown_days",
    "cooldown_exceptions",
)


class InvalidUpstreams(BadRequest):
    code = "invalid_upstreams"


class UpstreamCycle(BadRequest):
    code = "upstream_cycle"


class InvalidClaimedPattern(BadRequest):
    code = "invalid_claimed_pattern"


class CredentialUnavailable(BadGateway):
    """An upstream's credential setting is missing or unusable at fetch time (a deployment problem)."""

    code = "upstream_credential_unavailable"


def pypi_url_from_settings() -> str:
    from shared import settings

    return normalize_index_url(settings.get("FEEDHOUSE_PYPI_URL") or "")


def normalize_index_url(url: str) -> str:
    """An index URL in one form: lower-case scheme and host, no query or fragment, ending in '/'."""
    parts = split_fetchable_url(url)
    if len(url) > MAX_INDEX_URL_LENGTH:
        raise InvalidUpstreams(f"Upstream index URLs are at most {MAX_INDEX_URL_LENGTH} characters long.")
    if parts.query or parts.fragment or url.rstrip().endswith(("?", "#")):
        raise InvalidUpstreams(
            f"'{display_url(url)}' has a query or fragment; give the index's base URL, such as "
            "https://host/simple/ (project pages are that URL plus '<project>/')."
        )
    host = (parts.hostname or "").lower()
    if ":" in host:
        host = f"[{host}]"
    netloc = f"{host}:{parts.port}" if parts.port else host
    path = parts.path if parts.path.endswith("/") else parts.path + "/"
    return urlunsplit((parts.scheme.lower(), netloc, path, "", ""))


def _origin(url: str) -> tuple[str, str, int]:
    parts = urlsplit(url)
    return (parts.scheme.lower(), (parts.hostname or "").lower(), port_of(parts))


@dataclass(frozen=True)
class BasicCredential:
    """HTTP Basic credentials for one origin (scheme, host, port); the secret is never in its repr."""

    origin: tuple[str, str, int]
    username: str = field(repr=False)
    password: str = field(repr=False)

    def applies_to(self, url: str) -> bool:
        try:
            return _origin(url) == self.origin
        except (ValueError, KeyError):
            return False

    def authorization(self) -> str:
        token = base64.b64encode(f"{self.username}:{self.password}".encode()).decode("ascii")
        return f"Basic {token}"


def _credential_problem(name: str, value: str | None, url: str) -> tuple[str, BasicCredential | None]:
    """('' , credential) if the setting's value is usable for ``url``, else (what is wrong, None)."""
    if not value:
        return (
            f"The app setting '{name}' is not set. Ask the deployment's administrator to add it, with a "
            "value of the form https://user:password@host/ (or a Key Vault reference to such a secret).",
            None,
        )
    if value.strip().lower().startswith(_KEY_VAULT_REFERENCE):
        return (
            f"The Key Vault reference in app setting '{name}' is not resolved: the app's managed identity "
            "needs permission to read that secret.",
            None,
        )
    try:
        parts = urlsplit(value.strip())
        port = parts.port
    except ValueError:
        parts, port = None, None
    if (
        parts is None
        or parts.scheme.lower() not in ("http", "https")
        or not parts.hostname
        or parts.username is None
        or parts.password is None
    ):
        return (
            f"The app setting '{name}' must hold https://user:password@host/ (user and password "
            "percent-encoded): the host it names is the only one the credential is sent to.",
            None,
        )
    origin = (parts.scheme.lower(), parts.hostname.lower(), port or port_of(parts))
    credential = BasicCredential(origin, unquote(parts.username), unquote(parts.password))
    if not credential.applies_to(url):
        return (
            f"The credential in app setting '{name}' is for another host; it is sent only to the "
            "scheme, host and port its value names.",
            None,
        )
    return "", credential


@dataclass(frozen=True)
class Upstream:
    kind: str
    url: str | None = None  # INDEX: the normalized base URL
    credential: str | None = None  # INDEX: the name of the app setting holding the credential
    feed: str | None = None  # FEED: the feed's name, or ``feed@view`` for a view of it

    @property
    def feed_name(self) -> str:
        """FEED: the name of the feed it reads (without the view)."""
        return (self.feed or "").partition("@")[0]

    @property
    def view(self) -> str | None:
        """FEED: the view of that feed it reads (None: the feed itself)."""
        _feed, at, view = (self.feed or "").partition("@")
        return view if at else None

    @property
    def key(self) -> str:
        """A stable identifier, safe in blob names and keys: the cache of its pages is filed under it."""
        if self.kind == PYPI:
            return PYPI
        identity = self.url if self.kind == INDEX else (self.feed or "").lower()
        return f"{self.kind}-{hashlib.sha256((identity or '').encode()).hexdigest()[:20]}"

    @property
    def label(self) -> str:
        """How messages and the stale-page header name this upstream (no secrets)."""
        if self.kind == PYPI:
            return "PyPI"
        if self.kind == FEED:
            return f"feed '{self.feed}'"
        return display_url(self.url or "")

    def index_url(self, pypi_url: str | None = None) -> str | None:
        """The simple index to fetch pages from (None for a feed upstream)."""
        if self.kind == PYPI:
            return pypi_url or pypi_url_from_settings()
        return self.url

    def resolve_credential(self, environ: Mapping[str, str] | None = None) -> BasicCredential | None:
        """The credential to send at fetch time; CredentialUnavailable if its setting went wrong."""
        if self.kind != INDEX or not self.credential:
            return None
        env = os.environ if environ is None else environ
        problem, credential = _credential_problem(self.credential, env.get(self.credential), self.url or "")
        if credential is None:
            raise CredentialUnavailable(f"Upstream {self.label}: {problem}")
        return credential

    def to_json(self) -> dict[str, Any]:
        """The API and stored form: names the credential setting, never its value."""
        if self.kind == PYPI:
            return {"type": PYPI}
        if self.kind == FEED:
            return {"type": FEED, "feed": self.feed}
        data: dict[str, Any] = {"type": INDEX, "url": self.url}
        if self.credential:
            data["credential"] = self.credential
        return data


@dataclass(frozen=True)
class UpstreamConfig:
    upstreams: tuple[Upstream, ...] = ()
    claimed_patterns: tuple[str, ...] = ()
    readers_save: bool = True
    cooldown_days: int = 0  # shared/upstream/cooldown.py
    cooldown_exceptions: tuple[str, ...] = ()

    def cooldown(self, reference: datetime) -> Cooldown:
        """The feed's upstream cooldown as of ``reference`` (now, or an as-of page's moment)."""
        return Cooldown(self.cooldown_days, self.cooldown_exceptions, reference)

    @property
    def upstream_feeds(self) -> tuple[str, ...]:
        """The feeds this feed uses as upstreams, in order, by name (``feed_name_key``): a feed upstream
        names a feed, whichever feed has that name when it is read."""
        return tuple(feed_name_key(u.feed_name) for u in self.upstreams if u.kind == FEED)

    def to_json(self) -> dict[str, Any]:
        return {
            "upstreams": [u.to_json() for u in self.upstreams],
            "claimed_patterns": list(self.claimed_patterns),
            "readers_save": self.readers_save,
            "upstream_cooldown_days": self.cooldown_days,
            "cooldown_exceptions": list(self.cooldown_exceptions),
        }

    def dumps(self) -> str:
        """The string stored in the feed's record."""
        text = json.dumps({"v": _FORMAT_VERSION, **self.to_json()}, separators=(",", ":"))
        if len(text.encode("utf-16-le")) > MAX_STORED_BYTES:
            raise InvalidUpstreams("The upstream configuration is too large; use fewer or shorter entries.")
        return text

    @classmethod
    def loads(cls, text: str | None) -> UpstreamConfig:
        """Read what ``dumps`` stored (None or '' is the empty configuration)."""
        if not text:
            return cls()
        data = json.loads(text)
        if not isinstance(data, dict) or data.get("v") != _FORMAT_VERSION:
            raise ValueError("not a stored upstream configuration")
        return cls(
            upstreams=tuple(
                _upstream_from_json(u, i, checked=False) for i, u in enumerate(data["upstreams"])
            ),
            claimed_patterns=tuple(data.get("claimed_patterns", ())),
            readers_save=bool(data.get("readers_save", True)),
            cooldown_days=int(data.get("upstream_cooldown_days", 0)),
            cooldown_exceptions=tuple(data.get("cooldown_exceptions", ())),
        )


def _upstream_from_json(value: Any, index: int, *, checked: bool) -> Upstream:
    where = f"upstreams[{index}]"
    if not isinstance(value, dict):
        raise InvalidUpstreams(
            f'{where} must be an object such as {{"type": "pypi"}}, '
            '{"type": "index", "url": "https://host/simple/"} or {"type": "feed", "feed": "name"}.'
        )
    kind = value.get("type")
    allowed = {PYPI: {"type"}, INDEX: {"type", "url", "credential"}, FEED: {"type", "feed"}}
    if kind not in allowed:
        raise InvalidUpstreams(f"{where}.type must be one of {', '.join(KINDS)}.")
    unknown = sorted(set(value) - allowed[kind])
    if unknown:
        raise InvalidUpstreams(f"{where}: unknown field(s) for a '{kind}' upstream: {', '.join(unknown)}.")
    if kind == PYPI:
        return Upstream(PYPI)
    if kind == FEED:
        name = value.get("feed")
        if not isinstance(name, str):
            raise InvalidUpstreams(f"{where}.feed must be the name of a feed of this deployment.")
        if checked:
            feed, at, view = name.partition("@")
            validate_feed_name(feed)
            if at and (not view or any(c in view for c in "@/") or len(view) > 64):
                raise InvalidUpstreams(f"{where}.feed: '{name}' names no view; write it as feed@view.")
        return Upstream(FEED, feed=name)
    url = value.get("url")
    if not isinstance(url, str):
        raise InvalidUpstreams(f"{where}.url must be the simple index URL, such as https://host/simple/.")
    credential = value.get("credential")
    if credential is not None and (
        not isinstance(credential, str) or not _CREDENTIAL_NAME_RE.match(credential)
    ):
        raise InvalidUpstreams(
            f"{where}.credential must be the name of an app setting starting with "
            f"{CREDENTIAL_SETTING_PREFIX} (upper-case letters, digits, '_'), never the secret itself."
        )
    try:
        normalized = normalize_index_url(url) if checked else url
    except (UnsafeUpstreamURL, InvalidUpstreams) as exc:
        raise InvalidUpstreams(f"{where}.url: {exc.message}") from None
    return Upstream(INDEX, url=normalized, credential=credential or None)


def parse_upstreams(
    value: Any,
    *,
    feed_name: str,
    allow_private: bool,
    resolver: Resolver | None = None,
    environ: Mapping[str, str] | None = None,
) -> tuple[Upstream, ...]:
    """Validate the ``upstreams`` list of a create or PATCH body for feed ``feed_name``.

    Index URLs are checked for safety now (their hosts resolved); the client checks again at every
    connection. Credential settings must exist and be meant for the URL's host.
    """
    if not isinstance(value, list):
        raise InvalidUpstreams(
            '\'upstreams\' must be a list, in lookup order, such as [{"type": "pypi"}]; [] turns them off.'
        )
    if len(value) > MAX_UPSTREAMS:
        raise InvalidUpstreams(f"A feed has at most {MAX_UPSTREAMS} upstreams.")
    upstreams = tuple(_upstream_from_json(item, i, checked=True) for i, item in enumerate(value))
    seen: set[str] = set()
    own = feed_name_key(feed_name)
    env = os.environ if environ is None else environ
    for i, upstream in enumerate(upstreams):
        if upstream.key in seen:
            raise InvalidUpstreams(f"upstreams[{i}] repeats an earlier upstream ({upstream.label}).")
        seen.add(upstream.key)
        if upstream.kind == FEED and feed_name_key(upstream.feed_name) == own:
            raise UpstreamCycle("A feed cannot be its own upstream.")
        if upstream.kind == INDEX:
            try:
                check_fetchable_url(upstream.url or "", allow_private=allow_private, resolver=resolver)
            except (UnsafeUpstreamURL, UpstreamHostNotFound) as exc:
                raise InvalidUpstreams(f"upstreams[{i}].url: {exc.message}") from None
            if upstream.credential:
                problem, _ = _credential_problem(
                    upstream.credential, env.get(upstream.credential), upstream.url or ""
                )
                if problem:
                    raise InvalidUpstreams(f"upstreams[{i}].credential: {problem}")
    return upstreams


def normalize_pattern(pattern: str) -> str:
    """A claimed pattern in the normal form of project names (PEP 503), wildcards kept."""
    return re.sub(r"[-_.]+", "-", pattern.strip()).lower()


def parse_claimed_patterns(value: Any) -> tuple[str, ...]:
    """Validate claimed name patterns: project names with '*' (any run) and '?' (one character)."""
    if not isinstance(value, list) or not all(isinstance(p, str) for p in value):
        raise InvalidClaimedPattern("'claimed_patterns' must be a list of strings such as [\"contoso-*\"].")
    if len(value) > MAX_CLAIMED_PATTERNS:
        raise InvalidClaimedPattern(f"A feed claims at most {MAX_CLAIMED_PATTERNS} name patterns.")
    patterns: list[str] = []
    for raw in value:
        pattern = normalize_pattern(raw)
        if not pattern or len(pattern) > MAX_PATTERN_LENGTH or not _PATTERN_RE.match(pattern):
            raise InvalidClaimedPattern(
                f"'{raw[:MAX_PATTERN_LENGTH]}' is not a usable pattern: use letters, digits, '-', '_', "
                f"'.', '*' (any characters) and '?' (one character), at most {MAX_PATTERN_LENGTH} long."
            )
        if pattern not in patterns:
            patterns.append(pattern)
    return tuple(patterns)


def matches_claimed(project: str, patterns: Iterable[str]) -> bool:
    """Whether the normalized ``project`` matches any claimed pattern."""
    return any(fnmatch.fnmatchcase(project, pattern) for pattern in patterns)


def apply_changes(
    current: UpstreamConfig,
    changes: Mapping[str, Any],
    *,
    feed_name: str,
    allow_private: bool,
    resolver: Resolver | None = None,
    environ: Mapping[str, str] | None = None,
) -> UpstreamConfig:
    """The configuration after a create or PATCH body: the API_FIELDS present replace, the rest stay."""
    upstreams = current.upstreams
    if "upstreams" in changes:
        upstreams = parse_upstreams(
            changes["upstreams"],
            feed_name=feed_name,
            allow_private=allow_private,
            resolver=resolver,
            environ=environ,
        )
    claimed = current.claimed_patterns
    if "claimed_patterns" in changes:
        claimed = parse_claimed_patterns(changes["claimed_patterns"])
    readers_save = current.readers_save
    if "readers_save" in changes:
        if not isinstance(changes["readers_save"], bool):
            raise InvalidUpstreams("'readers_save' must be true or false.")
        readers_save = changes["readers_save"]
    cooldown_days = current.cooldown_days
    if "upstream_cooldown_days" in changes:
        cooldown_days = parse_cooldown_days(changes["upstream_cooldown_days"])
    exceptions = current.cooldown_exceptions
    if "cooldown_exceptions" in changes:
        exceptions = parse_exceptions(changes["cooldown_exceptions"])
    config = UpstreamConfig(upstreams, claimed, readers_save, cooldown_days, exceptions)
    config.dumps()  # refuses a configuration too large to store
    return config


# Feeds as upstreams: cycles ---------------------------------------------------------------------

UpstreamFeedsOf = Callable[[str], Iterable[str] | None]


def find_cycle(feed: str, upstream_feeds_of: UpstreamFeedsOf) -> list[str] | None:
    """A path of feed names (``feed_name_key``) from ``feed`` back to itself through upstream feeds, or None.

    ``upstream_feeds_of(key)`` gives a feed's upstream feeds' names (None or () for none). Every feed is
    visited once, so a cycle elsewhere in the graph cannot loop the search.
    """
    start = feed_name_key(feed)
    path: list[str] = [start]
    on_path = {start}
    done: set[str] = set()
    iterators = [iter(upstream_feeds_of(start) or ())]
    while iterators:
        child = next(iterators[-1], None)
        if child is None:
            iterators.pop()
            finished = path.pop()
            on_path.discard(finished)
            done.add(finished)
            continue
        child = child.lower()
        if child == start:
            return [*path, child]
        if child in on_path or child in done:
            continue
        path.append(child)
        on_path.add(child)
        iterators.append(iter(upstream_feeds_of(child) or ()))
    return None


def check_upstream_feeds(feed_name: str, config: UpstreamConfig, upstream_feeds_of: UpstreamFeedsOf) -> None:
    """Refuse a configuration naming a missing feed or closing a cycle of feeds.

    ``upstream_feeds_of(key)`` returns None for a feed that does not exist, else its upstream feeds' names
    as stored; this feed's own entry is taken from ``config`` (it is not stored yet).
    """
    own = feed_name_key(feed_name)
    for upstream in config.upstreams:
        key = feed_name_key(upstream.feed_name) if upstream.kind == FEED else None
        if key is not None and key != own and upstream_feeds_of(key) is None:
            raise InvalidUpstreams(
                f"Feed '{upstream.feed}' does not exist; create it first or remove it from the upstreams."
            )

    def lookup(key: str) -> Iterable[str] | None:
        return config.upstream_feeds if key == own else upstream_feeds_of(key)

    cycle = find_cycle(own, lookup)
    if cycle is not None:
        raise UpstreamCycle(
            "These upstreams would make a cycle of feeds: "
            + " -> ".join(cycle)
            + ". Remove one of these feed upstreams."
        )
