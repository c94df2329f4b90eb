"""Upstream cooldown: external versions younger than a feed's ``upstream_cooldown_days`` are held back,
so a malicious release on PyPI cannot reach the feed's users before the community notices it.

- **Age** is the upstream's upload time of each file (PEP 700 ``upload-time`` on JSON pages; for a
  file a feed upstream saved from its own upstreams, the upload time it recorded). A file younger than
  the cooldown is left out of pages and cannot be downloaded through the feed; a version is held
  back while any of its files is, until the youngest of them is old enough.
- **Unknown age**: an upstream that serves HTML only (PEP 503 defines no upload time) gives none. Such
  files are shown: holding them back would hide everything such an upstream has, forever, which
  makes the cooldown a switch that turns the upstream off. The package API's ``cooldown`` says which
  upstream files had no time, so an owner who needs the guarantee knows to use a JSON upstream.
- **What it covers**: external versions only, from PyPI and index upstreams, and the files feed
  upstreams saved from theirs. Files published to the feed, or to a feed upstream, are this
  deployment's own; files already saved into the feed stay (they were vetted by being installed, and
  builds depend on them).
- **Exceptions** for urgent fixes: ``cooldown_exceptions`` lists project names (every version of it
  shows at once) or ``project==version`` (that version only).
- **As-of pages** (shared/as_of.py) apply it relative to their moment, so such a page stays what the
  live page showed then.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from shared import packages
from shared.errors import BadRequest
from shared.names import normalize_project_name

MAX_COOLDOWN_DAYS = 365
MAX_EXCEPTIONS = 100
_MAX_EXCEPTION_LENGTH = 200


class InvalidCooldown(BadRequest):
    code = "invalid_cooldown"


def parse_cooldown_days(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_COOLDOWN_DAYS:
        raise InvalidCooldown(
            f"'upstream_cooldown_days' must be a whole number of days from 0 (off) to {MAX_COOLDOWN_DAYS}."
        )
    return value


def parse_exceptions(value: Any) -> tuple[str, ...]:
    """``cooldown_exceptions``: project names, or ``project==version``; stored normalized."""
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise InvalidCooldown(
            "'cooldown_exceptions' must be a list of project names or project==version strings, "
            'such as ["requests", "urllib3==2.2.2"].'
        )
    if len(value) > MAX_EXCEPTIONS:
        raise InvalidCooldown(f"A feed has at most {MAX_EXCEPTIONS} cooldown exceptions.")
    exceptions: list[str] = []
    for raw in value:
        name, separator, version = raw.strip().partition("==")
        try:
            if len(raw) > _MAX_EXCEPTION_LENGTH:
                raise BadRequest("too long")
            project = normalize_project_name(name.strip())
            if separator:
                packages.parse_version(version.strip(), project)
        except (BadRequest, packages.ReleaseNotFound):
            raise InvalidCooldown(
                f"Cooldown exception {raw[:_MAX_EXCEPTION_LENGTH]!r} is neither a project name nor "
                "project==version."
            ) from None
        entry = f"{project}=={packages.version_key(version.strip())}" if separator else project
        if entry not in exceptions:
            exceptions.append(entry)
    return tuple(exceptions)


@dataclass(frozen=True)
class Cooldown:
    """A feed's cooldown as of ``reference`` (now, or an as-of page's moment)."""

    days: int
    exceptions: tuple[str, ...]
    reference: datetime

    def exempt(self, project: str, version: str) -> bool:
        return project in self.exceptions or f"{project}=={packages.version_key(version)}" in self.exceptions

    def held_until(self, project: str, version: str, uploaded: str | None) -> datetime | None:
        """Until when a file of ``version`` uploaded upstream at ``uploaded`` is held back; None if it
        shows (no cooldown, an exception, old enough, or no upload time known: see the module)."""
        if not self.days or not uploaded or self.exempt(project, version):
            return None
        try:
            until = packages.parse_time(uploaded) + timedelta(days=self.days)
        except ValueError:
            return None
        return until if until > self.reference else None
