"""Grants against real storage: a change cut short never leaves a user's feed list showing more than
the feed's own grants say."""

import secrets

import pytest

from shared import roles
from shared.roles import Role
from tests.support.stored import key_of

WRITES = ("insert", "upsert", "replace", "delete", "transact")


class Crash(Exception):
    """The process dying at one storage write."""


def crash_at(monkeypatch, storage, n: int) -> None:
    """Make the ``n``-th storage write (0-based) from now on fail as a crash would."""
    count = iter(range(10**6))
    for name in WRITES:
        original = getattr(storage, name)

        def write(*args, _original=original, **kwargs):
            if next(count) == n:
                raise Crash
            return _original(*args, **kwargs)

        monkeypatch.setattr(storage, name, write)


RANK = [None, *Role]


@pytest.mark.parametrize(
    ("before", "after"),
    [(None, Role.READER), (Role.READER, Role.OWNER), (Role.OWNER, Role.READER), (Role.CONTRIBUTOR, None)],
)
def test_a_change_cut_short_never_lists_a_feed_above_its_grant(
    storage, feed_name, monkeypatch, before, after
):
    feed = key_of(feed_name)
    roles.grant(storage, feed, "keeper", Role.OWNER)
    for n in range(4):
        user = "u-" + secrets.token_hex(4)
        if before is not None:
            roles.grant(storage, feed, user, before)
        with monkeypatch.context() as patch:
            crash_at(patch, storage, n)
            try:
                if after is None:
                    roles.revoke(storage, feed, user)
                else:
                    roles.grant(storage, feed, user, after)
            except Crash:
                pass
        granted = roles.role_of(storage, feed, user)
        listed = roles.roles_of_user(storage, user).get(feed)
        assert RANK.index(listed) <= RANK.index(granted), (
            f"crash at write {n}: {listed} listed, {granted} held"
        )
