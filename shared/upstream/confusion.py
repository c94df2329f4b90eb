"""Pure rules for whether a project page shows a name's upstream versions: dependency-confusion protection.

Dependency confusion: once a name is published to the feed, an attacker's upload of the same name
to PyPI must not reach the feed's users. So upstream versions of a project are hidden when

- the project has files published to this feed (files saved from upstreams do not count: saving one
  version of ``requests`` must not hide its others), or
- its name matches one of the feed's claimed patterns (``contoso-*``), published or not,

unless an owner allowed external versions for that project (the explicit, per-project choice wins
over a pattern). Merging the files that may show is shared.upstream.sources' work.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from packaging.utils import canonicalize_name

from shared.upstream.config import matches_claimed


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
