"""What the UI's templates show, built from the domain's own objects (feeds, records, tokens, the bin):
no storage is read here, and nothing is decided about who may see what (the handlers asked
``auth.authorize`` before building any of it)."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlsplit

from packaging.metadata import RawMetadata

from shared import untrusted
from shared.auth import Principal
from shared.errors import BadRequest
from shared.feeds import Feed
from shared.packages import ProjectRecords, ReleaseNotFound, StoredFile, version_key
from shared.pypi_json import latest_version
from shared.roles import Role
from shared.upstream.config import FEED, INDEX, PYPI

if TYPE_CHECKING:
    from shared.web.readme import Rendered


def feed_url(feed: str) -> str:
    return f"/-/feeds/{quote(feed, safe='')}/"


def package_url(feed: str, project: str, version: str | None = None) -> str:
    url = f"{feed_url(feed)}packages/{quote(project, safe='')}/"
    return url + f"{quote(version, safe='')}/" if version is not None else url


@dataclass(frozen=True)
class FeedRow:
    name: str
    url: str
    description: str
    visibility: str
    role: str | None  # the visitor's role: granted, or "reader" by visibility; "admin" for the admin


def feed_rows(principal: Principal, feeds: Iterable[Feed], granted: Mapping[str, Role]) -> list[FeedRow]:
    """The feeds a visitor may read (already chosen by ``auth.readable_feeds``), with their role."""
    rows = []
    for feed in feeds:
        role = "admin" if principal.is_admin else (granted[feed.key].value if feed.key in granted else None)
        if role is None and (feed.visibility == "public" or principal.authenticated):
            role = "reader"
        rows.append(FeedRow(feed.name, feed_url(feed.name), feed.description, feed.visibility, role))
    return rows


@dataclass(frozen=True)
class UpstreamRow:
    kind: str
    label: str
    url: str | None = None  # a feed upstream's page


def upstream_rows(upstreams: list[dict[str, Any]]) -> list[UpstreamRow]:
    """A feed's upstreams as its API shows them to the visitor (in full to owners, index upstreams by
    host to everyone else: ``Feed.to_json(manager=...)``)."""
    rows = []
    for upstream in upstreams:
        if upstream["type"] == PYPI:
            rows.append(UpstreamRow("pypi", "PyPI"))
        elif upstream["type"] == FEED:
            rows.append(UpstreamRow("feed", upstream["feed"], feed_url(upstream["feed"])))
        else:
            rows.append(UpstreamRow("index", upstream.get("url") or upstream.get("host") or ""))
    return rows


# The settings form writes upstreams one per line: "pypi", "feed <name>", "index <url> [<credential>]".
UPSTREAM_LINES_HELP = (
    "One upstream per line, in the order they are asked: pypi, feed <name>, or index <url> "
    "[<credential setting>]."
)


def upstream_lines(upstreams: list[dict[str, Any]]) -> str:
    lines = []
    for upstream in upstreams:
        if upstream["type"] == PYPI:
            lines.append(PYPI)
        elif upstream["type"] == FEED:
            lines.append(f"{FEED} {upstream['feed']}")
        else:
            lines.append(
                " ".join(
                    [INDEX, upstream["url"], *([upstream["credential"]] if "credential" in upstream else [])]
                )
            )
    return "\n".join(lines)


def parse_upstream_lines(text: str) -> list[dict[str, Any]]:
    """The API's ``upstreams`` list from the settings form's lines (the API then checks each one)."""
    upstreams: list[dict[str, Any]] = []
    for number, line in enumerate(text.splitlines(), start=1):
        words = line.split()
        if not words:
            continue
        kind = words[0].lower()
        if kind == PYPI and len(words) == 1:
            upstreams.append({"type": PYPI})
        elif kind == FEED and len(words) == 2:
            upstreams.append({"type": FEED, "feed": words[1]})
        elif kind == INDEX and len(words) in (2, 3):
            upstream = {"type": INDEX, "url": words[1]}
            if len(words) == 3:
                upstream["credential"] = words[2]
            upstreams.append(upstream)
        else:
            raise BadRequest(
                f"Upstreams, line {number}: '{line.strip()[:80]}' is not one. {UPSTREAM_LINES_HELP}"
            )
    return upstreams


def pattern_lines(text: str) -> list[str]:
    return [p for line in text.splitlines() for p in line.replace(",", " ").split()]


def whole_number(text: str, label: str) -> int:
    """A form's number field (empty is 0); the API checks its range. ``str.isdigit`` takes "²", and
    int() refuses thousands of digits, hence the checks first."""
    text = text.strip()
    if not text:
        return 0
    if not (text.isascii() and text.isdigit() and len(text) <= 6):
        raise BadRequest(f"{label} must be a whole number.")
    return int(text)


# Packages -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class VersionRow:
    version: str
    url: str
    yanked: bool
    yanked_reason: str | None
    uploaded: str  # the newest upload time of its files


@dataclass(frozen=True)
class Link:
    label: str
    url: str | None  # None: not a web link, shown as text


@dataclass(frozen=True)
class PackageView:
    name: str
    display_name: str
    version: str
    latest: str
    is_latest: bool
    yanked: bool
    yanked_reason: str | None
    files: list[StoredFile]
    versions: list[VersionRow]
    summary: str | None
    requires_python: str | None
    dependencies: list[str]
    extras: list[str]
    license: str | None
    author: str | None
    links: list[Link]
    keywords: list[str]
    classifiers: list[str]
    description: Rendered | None


def versions_newest_first(feed: str, records: ProjectRecords) -> list[VersionRow]:
    by_version: dict[str, list[StoredFile]] = {}
    for f in records.active:
        by_version.setdefault(f.version_key, []).append(f)
    rows = []
    for key, files in by_version.items():
        release = records.releases.get(key)
        yanked = bool(release and release.yanked) or all(f.yanked for f in files)
        reason = (
            (release.yanked_reason if release and release.yanked else files[0].yanked_reason)
            if yanked
            else None
        )
        version = files[0].version
        rows.append(
            VersionRow(
                version,
                package_url(feed, records.project, version),
                yanked,
                reason,
                max(f.uploaded for f in files),
            )
        )
    return sorted(rows, key=lambda r: untrusted.version_order(r.version), reverse=True)


def chosen_version(records: ProjectRecords, wanted: str | None) -> str:
    """The version a package page shows: the one asked for, else PyPI's choice for ``info``."""
    if wanted is None:
        return latest_version(records) or ""
    key = version_key(wanted)
    for f in records.active:
        if f.version_key == key:
            return f.version
    raise ReleaseNotFound(f"No version '{wanted}' of project '{records.project}'.")


def _web_link(url: str) -> str | None:
    """A link the page may make: http(s) only (a ``javascript:`` URL in metadata stays text)."""
    try:
        scheme = urlsplit(url.strip()).scheme.lower()
    except ValueError:
        return None
    return url.strip() if scheme in ("http", "https") else None


def package_view(
    feed: str,
    records: ProjectRecords,
    display_name: str,
    version: str,
    metadata: RawMetadata | None,
    description: Rendered | None,
) -> PackageView:
    key = version_key(version)
    files = sorted(
        (f for f in records.active if f.version_key == key),
        key=lambda f: (f.filetype != "bdist_wheel", f.filename),
    )
    versions = versions_newest_first(feed, records)
    row = next((v for v in versions if version_key(v.version) == key), None)
    raw: dict[str, Any] = dict(metadata or {})
    links = [Link(label, _web_link(url)) for label, url in (raw.get("project_urls") or {}).items()]
    if raw.get("home_page"):
        links.insert(0, Link("Homepage", _web_link(raw["home_page"])))
    author = (
        raw.get("author") or raw.get("author_email") or raw.get("maintainer") or raw.get("maintainer_email")
    )
    latest = latest_version(records) or version
    return PackageView(
        name=records.project,
        display_name=display_name,
        version=version,
        latest=latest,
        is_latest=version_key(latest) == key,
        yanked=bool(row and row.yanked),
        yanked_reason=row.yanked_reason if row else None,
        files=files,
        versions=versions,
        summary=raw.get("summary"),
        requires_python=raw.get("requires_python")
        or next((f.requires_python for f in files if f.requires_python), None),
        dependencies=list(raw.get("requires_dist") or []),
        extras=list(raw.get("provides_extra") or []),
        license=raw.get("license_expression") or raw.get("license"),
        author=author,
        links=links,
        keywords=list(raw.get("keywords") or []),
        classifiers=list(raw.get("classifiers") or []),
        description=description,
    )


def project_matches(query: str, name: str) -> bool:
    """Search by substring of the normalized name: case, and runs of ``-_.``, compare alike (PEP 503's
    rule, applied without requiring the query to be a whole valid name)."""
    return re.sub(r"[-_.]+", "-", query.strip()).lower() in name
