"""The SAS window of redirect downloads, and the user-delegation key cache behind it."""

from datetime import UTC, datetime, timedelta

from shared.downloads import CLOCK_SKEW, sas_window
from shared.storage import DelegationKeys

T0 = datetime(2030, 1, 1, 12, 0, 0, tzinfo=UTC)


def test_one_url_per_window_valid_at_least_one_window():
    first = sas_window(T0 + timedelta(seconds=1), 300)
    assert first == sas_window(T0 + timedelta(seconds=299), 300)
    assert first != sas_window(T0 + timedelta(seconds=300), 300)
    start, expiry = first
    assert start == T0 - CLOCK_SKEW
    assert expiry == T0 + timedelta(seconds=600)
    for offset in (0, 150, 299):
        assert expiry - (T0 + timedelta(seconds=offset)) > timedelta(seconds=300)


def test_delegation_key_is_kept_until_a_url_would_outlive_it():
    fetched = []

    def fetch(start, expiry):
        fetched.append((start, expiry))
        return f"key{len(fetched)}"

    keys = DelegationKeys(fetch)
    assert keys.valid_until(T0 + timedelta(minutes=10), now=T0) == "key1"
    start, expiry = fetched[0]
    assert start < T0 and expiry >= T0 + DelegationKeys.LIFETIME
    # Later URLs that expire before the key are signed with the same key.
    assert keys.valid_until(T0 + timedelta(hours=23), now=T0 + timedelta(hours=22)) == "key1"
    # One that would outlive it gets a fresh key, before the old one has expired.
    assert (
        keys.valid_until(T0 + timedelta(hours=24, minutes=5), now=T0 + timedelta(hours=23, minutes=55))
        == "key2"
    )
    assert len(fetched) == 2
    assert fetched[1][1] >= T0 + timedelta(hours=24, minutes=5)
