"""The history's keys and where an entry's who and client come from (storage-backed paging and each
kind of entry: tests/functions/test_history.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from shared import history
from shared.errors import BadRequest
from shared.keys import NEWEST_FIRST, OLDEST_FIRST, history_row


def test_row_keys_sort_by_time_in_both_orders_and_never_collide():
    start = datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=UTC)
    times = [start + timedelta(microseconds=n) for n in (0, 1, 999_999, 10**12)]
    oldest = [history_row(OLDEST_FIRST, t, "0" * 16) for t in times]
    newest = [history_row(NEWEST_FIRST, t, "0" * 16) for t in times]
    assert oldest == sorted(oldest) and newest == sorted(newest, reverse=True)
    assert all(k.startswith(OLDEST_FIRST) for k in oldest) and all(k.startswith(NEWEST_FIRST) for k in newest)
    # The same microsecond: the random part keeps the keys apart.
    assert history_row(OLDEST_FIRST, start, "a" * 16) != history_row(OLDEST_FIRST, start, "b" * 16)
    # Fixed width, so that string order is time order (1970 and 2286 alike).
    assert len({len(history_row(o, t, "0" * 16)) for o in (OLDEST_FIRST, NEWEST_FIRST) for t in times}) == 1


def test_who_and_which_client_come_from_the_request():
    assert history._origin.get() is None
    history.note_user("nobody")  # outside a request: nothing to note
    with history.request_origin("x" * 1000):
        history.note_user("alice")
        origin = history._origin.get()
        assert origin is not None and (origin.user, origin.agent) == ("alice", "x" * 256)
    with history.request_origin(None):
        origin = history._origin.get()
        assert origin is not None and (origin.user, origin.agent) == (None, None)
    assert history._origin.get() is None


@pytest.mark.parametrize("bad", ["", "Newest", "asc"])
def test_an_order_is_oldest_or_newest(bad):
    assert history.parse_order(None) == NEWEST_FIRST
    assert history.parse_order("oldest") == OLDEST_FIRST
    with pytest.raises(BadRequest, match="'order' must be 'oldest' or 'newest'"):
        history.parse_order(bad)
