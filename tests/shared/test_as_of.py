"""shared/as_of.py: which moments an as-of index may be of, and what it includes."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from shared.as_of import InvalidAsOf, parse_as_of

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "moment"),
    [
        ("2026-11-01", datetime(2026, 11, 1, tzinfo=UTC)),
        ("2026-11-01T00:00:00Z", datetime(2026, 11, 1, tzinfo=UTC)),
        ("2026-11-01T01:30:00+01:00", datetime(2026, 11, 1, 0, 30, tzinfo=UTC)),
        (" 2026-11-01T00:00:00.5Z ", datetime(2026, 11, 1, 0, 0, 0, 500000, tzinfo=UTC)),
        ("2026-12-01T12:00:00Z", NOW),  # now is not the future
    ],
)
def test_moments_are_read_in_utc(text, moment):
    assert parse_as_of(text, now=NOW).moment == moment


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "must be a date and time"),
        ("tomorrow", "not a date and time"),
        ("2026-02-30", "not a date and time"),
        ("2026-11-01T00:00:00", "needs a time zone"),
        ("1999-12-31T23:59:59Z", "before 2000-01-01"),
        ("2026-12-01T12:00:01Z", "in the future"),
        ("2026-11-01T00:00:00 01:00", "%2B"),
    ],
)
def test_bad_moments_are_refused_with_a_message(text, message):
    with pytest.raises(InvalidAsOf) as refused:
        parse_as_of(text, now=NOW)
    assert message in refused.value.message
    assert refused.value.status == 400


def test_includes_what_happened_by_then_and_not_what_has_no_time():
    as_of = parse_as_of("2026-11-01", now=NOW)
    assert as_of.includes("2026-10-31T23:59:59.999999Z")
    assert as_of.includes("2026-11-01T00:00:00.000000Z")
    assert not as_of.includes("2026-11-01T00:00:00.000001Z")
    assert not as_of.includes(None) and not as_of.includes("garbage")
