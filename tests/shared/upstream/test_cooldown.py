"""shared/upstream/cooldown.py: the setting's validation and which files it holds back."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from shared.upstream.cooldown import Cooldown, InvalidCooldown, parse_cooldown_days, parse_exceptions

NOW = datetime(2026, 12, 1, tzinfo=UTC)


def test_days_are_a_whole_number_from_0_to_365():
    assert [parse_cooldown_days(d) for d in (0, 7, 365)] == [0, 7, 365]
    for bad in (-1, 366, True, 1.0, "7", None):
        with pytest.raises(InvalidCooldown):
            parse_cooldown_days(bad)


def test_exceptions_are_stored_normalized_once():
    assert parse_exceptions(["Requests", "urllib3 == 2.2.0", "requests", "Zope.Interface==6.0"]) == (
        "requests",
        "urllib3==2.2",
        "zope-interface==6",
    )
    for bad in ("requests", [1], ["==1.0"], ["a==b c"], ["-x"]):
        with pytest.raises(InvalidCooldown):
            parse_exceptions(bad)


def test_a_file_is_held_until_it_is_old_enough_unless_excepted_or_of_unknown_age():
    cooldown = Cooldown(7, ("urgent", "fixed==2"), NOW)
    young = "2026-11-30T00:00:00Z"
    assert cooldown.held_until("pkg", "1.0", young) == datetime(2026, 12, 7, tzinfo=UTC)
    assert cooldown.held_until("pkg", "1.0", "2026-11-24T00:00:00Z") is None  # exactly 7 days: shows
    assert cooldown.held_until("pkg", "1.0", None) is None
    assert cooldown.held_until("urgent", "9", young) is None
    assert cooldown.held_until("fixed", "2.0", young) is None
    assert cooldown.held_until("fixed", "2.1", young) is not None
    assert Cooldown(0, (), NOW).held_until("pkg", "1.0", young) is None
    assert Cooldown(7, (), NOW - timedelta(days=30)).held_until("pkg", "1.0", young) is not None
