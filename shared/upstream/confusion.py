"""Pure rules for what a project page shows from upstreams: dependency-confusion protection and merging.

Dependency confusion: once a name is published to the feed, an attacker's upload of the same name
to PyPI must not reach the feed's users. So upstream versions of a project are hidden when

- the project has files published to this feed (files saved from upstreams do not count: saving one
  version of ``requests`` must not hide its others), or
- its name matches one of the feed's claimed patterns (``contoso-*``), published or not,

unless an owner allowed external versions for that project (the explicit, per-project choice wins
over a pattern). Merging follows Azure Artifacts' order: files published to the feed, then files
saved from upstreams, then live upstream files in upstream order; a filename appears once, first wins.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Generic, Protocol, TypeVar

from packaging.utils import canonicalize_name

from shared.upstream.config import matches_claimed

LOCAL = "local"
SAVED = "saved"
UPSTREAM = "upstream"


class HasFilename(Protocol):
    @property
    def filename(self) -> str: ...


F = TypeVar("F", bound=HasFilename)


@dataclass(frozen=True)
class ConfusionPolicy:
    """What a feed knows when it decides whether upstream versions of a name may show."""

    published: frozenset[str] = frozenset()  # normalized names with files published to the feed
    allow_external: frozenset[str] = frozenset()  # normalized names an owner allowed upstream versions for
    claimed_patterns: tuple[
        str, ...
    ] = ()  # normalized patterns (shared.upstream.config.parse_claimed_patterns)

    @classmethod
    def build(
        cls,
        published: Iterable[str] = (),
        allow_external: Iterable[str] = (),
        claimed_patterns: Iterable[str] = (),
    ) -> ConfusionPolicy:
        """A policy from names in any spelling (they are normalized here)."""
        return cls(
            frozenset(canonicalize_name(n) for n in published),
            frozenset(canonicalize_name(n) for n in allow_external),
            tuple(claimed_patterns),
        )


def why_upstream_hidden(project: str, policy: ConfusionPolicy) -> str | None:
    """Why upstream versions of ``project`` are hidden in this feed, or None if they may show."""
    name = canonicalize_name(project)
    if name in policy.allow_external:
        return None
    if matches_claimed(name, policy.claimed_patterns):
        return f"'{name}' matches a name pattern this feed claims, so it never comes from upstream."
    if name in policy.published:
        return (
            f"'{name}' is published to this feed, so its upstream versions are hidden "
            "(dependency-confusion protection). A feed owner can allow external versions for it."
        )
    return None


def upstream_visible(project: str, policy: ConfusionPolicy) -> bool:
    return why_upstream_hidden(project, policy) is None


@dataclass(frozen=True)
class MergedFile(Generic[F]):
    filename: str
    origin: str  # LOCAL, SAVED or UPSTREAM
    upstream: str | None  # for UPSTREAM: the key of the upstream it comes from
    file: F


def merge_files(
    local: Iterable[F],
    saved: Iterable[F],
    live: Iterable[tuple[str, Iterable[F]]] = (),
) -> list[MergedFile[F]]:
    """One list of files for a project page: published, then saved, then each upstream's in order.

    ``live`` holds (upstream key, files) in the feed's upstream order, already filtered by
    ``upstream_visible``. A filename appears once: the first source that has it wins, so a file saved
    from an upstream is served from the feed even while the upstream still lists it.
    """
    merged: dict[str, MergedFile[F]] = {}

    def add(files: Iterable[F], origin: str, upstream: str | None) -> None:
        for f in files:
            if f.filename not in merged:
                merged[f.filename] = MergedFile(f.filename, origin, upstream, f)

    add(local, LOCAL, None)
    add(saved, SAVED, None)
    for key, files in live:
        add(files, UPSTREAM, key)
    return list(merged.values())
