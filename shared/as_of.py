"""As-of indexes: a feed's simple pages as they were at a past moment, so a build pinned to a date
resolves the same next year, whatever was published since.

A file is in the index as of a moment when its upload time, as pages show it (PEP 700
``upload-time``: a published file's upload, an imported file's original upload, a file saved from an
upstream its upload there), is at or before that moment: the same rule ``uv --exclude-newer``
applies to the live page. A release's yank shows when it was made at or before the moment; a yank
whose time is not known (rows from before yank times were kept) shows at every moment, because
showing a yank never breaks a pinned install while hiding one could hand a resolver a version its
owners withdrew. What is shown is what the feed still serves: a file deleted since (in the recycle
bin or purged) is absent, as its download would fail. Everything else (upstreams, dependency-confusion
rules, cooldown, visibility) is the feed's as it is now.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from shared.errors import BadRequest
from shared.packages import format_time, parse_time

# The earliest moment asked about: before it no Python package index existed, so an earlier one is
# a typo (a two-digit year) rather than a question.
EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
_MAX_LENGTH = 40
# A page of a moment this far past is kept by caches for AS_OF_MAX_AGE seconds: it changes only when
# a file is deleted or an upstream changes a yank. Nearer moments are cached as the live pages are,
# as an upload under way at the moment (its upload time set before its record is written) may land.
SETTLED = timedelta(hours=1)
AS_OF_MAX_AGE = 86400
_EXAMPLE = "2026-11-01T00:00:00Z or 2026-11-01"


class InvalidAsOf(BadRequest):
    code = "invalid_as_of"


@dataclass(frozen=True)
class AsOf:
    """A past moment the index is served as of."""

    moment: datetime  # aware, UTC

    @property
    def text(self) -> str:
        """The moment as records store times (and pages show them)."""
        return format_time(self.moment)

    def includes(self, uploaded: str | None) -> bool:
        """Whether something uploaded (or yanked) at ``uploaded`` had happened by this moment;
        an unknown time (None) has not (callers decide what unknown means for them)."""
        if not uploaded:
            return False
        try:
            return parse_time(uploaded) <= self.moment
        except ValueError:
            return False


def parse_as_of(value: str, *, now: datetime) -> AsOf:
    """An as-of moment from a URL: an ISO 8601 date and time with a time zone, or a date (its start,
    in UTC). 400 for anything else, before 2000 or after ``now`` (a future moment's page would change
    until then, so it could not be kept or reproduced)."""
    text = value.strip()
    if not text or len(text) > _MAX_LENGTH:
        raise InvalidAsOf(f"The as-of time must be a date and time such as {_EXAMPLE}.")
    try:
        if "T" in text or "t" in text or " " in text:
            moment = parse_time(text)
        else:
            moment = datetime.combine(date.fromisoformat(text), time(0), tzinfo=UTC)
    except ValueError:
        hint = " (a '+' in a query string reads as a space: write Z or %2B)" if " " in text else ""
        raise InvalidAsOf(
            f"The as-of time {text!r} is not a date and time such as {_EXAMPLE}{hint}."
        ) from None
    if moment.tzinfo is None:
        raise InvalidAsOf(f"The as-of time {text!r} needs a time zone, such as {_EXAMPLE}.")
    moment = moment.astimezone(UTC)
    if moment < EARLIEST:
        raise InvalidAsOf(f"The as-of time {text!r} is before {EARLIEST.date()}; no index is that old.")
    if moment > now:
        raise InvalidAsOf(
            f"The as-of time {text!r} is in the future: a page of a moment still to come would change "
            "until then. Use a past moment, or the feed's own index for now."
        )
    return AsOf(moment)
