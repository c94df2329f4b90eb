"""HTTP caching rules: strong ETags, conditional requests and Cache-Control, as pure functions.

Pages carry a strong ETag made from their bytes, so two instances rendering the same records answer the
same ETag, and each representation (HTML or JSON, identity or gzip) has its own (uv ignores weak ETags;
pip revalidates with ``If-None-Match``). Files are immutable: their ETag is their sha256.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from email.utils import format_datetime, parsedate_to_datetime

from packaging.version import InvalidVersion, Version

# A file name is never reused (deleted names included), so a file's bytes never change.
FILE_MAX_AGE = 365000000


def body_etag(body: bytes, *, encoding: str | None = None) -> str:
    """A strong ETag for a rendered page; ``encoding`` tells apart the gzip representation of it."""
    digest = hashlib.sha256(body).hexdigest()[:40]
    return f'"{digest}-{encoding}"' if encoding else f'"{digest}"'


def file_etag(sha256: str) -> str:
    return f'"{sha256}"'


def _opaque(tag: str) -> str:
    tag = tag.strip()
    return tag[2:] if tag.startswith(("W/", "w/")) else tag


def none_match(if_none_match: str | None, etag: str) -> bool:
    """True when ``If-None-Match`` names ``etag`` (weak comparison, RFC 9110 §13.1.2) or is ``*``."""
    if not if_none_match:
        return False
    if if_none_match.strip() == "*":
        return True
    return any(_opaque(tag) == _opaque(etag) for tag in if_none_match.split(","))


def if_range_allows(if_range: str | None, etag: str, last_modified: str | None) -> bool:
    """Whether a Range may be honoured under ``If-Range``: its validator must be current (RFC 9110 §13.1.5).

    An entity tag must match strongly; a date must equal Last-Modified exactly.
    """
    if not if_range:
        return True
    value = if_range.strip()
    if value.startswith('"'):
        return value == etag
    if value.startswith(("W/", "w/")) or last_modified is None:
        return False
    try:
        return parsedate_to_datetime(value) == parsedate_to_datetime(last_modified)
    except (TypeError, ValueError, OverflowError):  # a date's numbers can be too large for datetime
        return False


def asks_to_revalidate(cache_control: str | None, user_agent: str | None = None) -> bool:
    """Whether a request's ``Cache-Control`` asks that nothing kept be served without asking the origin
    first: ``no-cache``, or ``max-age=0`` (RFC 9111 §5.2.1), as ``pip --refresh-package`` sends.

    pip 18.1 to 26.1 sends ``max-age=0`` with every page request, whatever its user asked (pip#5670),
    only to make its own HTTP cache revalidate; from such a pip it asks nothing of the server's copies
    (PyPI's CDN, too, ignores it), or every page of every install would cost a storage request. pip
    26.2+ sends it only for ``--refresh-package``, and is then answered from storage.
    """
    max_age_zero = False
    for directive in (cache_control or "").split(","):
        name, _, value = directive.partition("=")
        name = name.strip().lower()
        if name == "no-cache":
            return True
        max_age_zero = max_age_zero or (name == "max-age" and value.strip().strip('"') == "0")
    return max_age_zero and not _pip_that_always_revalidates(user_agent)


# The first pip that sends max-age=0 only when its user asks (NEWS 26.2, pip#13680).
_PIP_ASKING_ONLY_WHEN_TOLD = Version("26.2")


def _pip_that_always_revalidates(user_agent: str | None) -> bool:
    """Whether ``user_agent`` is pip's (``pip/<version> {json}``) and from before 26.2."""
    client, _, version = (user_agent or "").partition(" ")[0].partition("/")
    if client != "pip":
        return False
    try:
        return Version(version) < _PIP_ASKING_ONLY_WHEN_TOLD
    except InvalidVersion:
        return False


def page_cache_control(*, public: bool, max_age: int) -> str:
    """PyPI's simple-page caching; pages of a feed that is not public must stay out of shared caches."""
    return f"max-age={max_age}, {'public' if public else 'private'}"


def file_cache_control(*, public: bool) -> str:
    return f"max-age={FILE_MAX_AGE}, immutable, {'public' if public else 'private'}"


def http_date(timestamp: str) -> str:
    """An ISO 8601 UTC timestamp (as records store them) as an HTTP date."""
    moment = datetime.fromisoformat(timestamp.replace("Z", "+00:00"))
    return format_datetime(moment, usegmt=True)
