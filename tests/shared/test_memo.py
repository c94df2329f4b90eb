"""The in-memory cache every cache of the process is made of: time to live, LRU, bounds, invalidation
that a concurrent load cannot undo, and no lock held while a value loads."""

from __future__ import annotations

import threading

import pytest

from shared import memo
from shared.memo import Memo


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def loads(values: list[str]):
    """A load function that hands out ``values`` in turn and counts its calls."""
    calls = iter(values)
    return lambda: next(calls)


def test_a_value_is_kept_for_its_time_to_live_then_read_again():
    clock = Clock()
    kept: Memo[str, str] = Memo(max_size=10, seconds=5, clock=clock)
    load = loads(["first", "second"])
    assert kept.get("k", load) == "first"
    clock.now += 4.9
    assert kept.get("k", load) == "first"
    clock.now += 0.2
    assert kept.get("k", load) == "second"


def test_without_a_time_to_live_a_value_stays_until_evicted():
    clock = Clock()
    kept: Memo[str, str] = Memo(max_size=10, clock=clock)
    kept.get("k", loads(["first"]))
    clock.now += 10**9
    assert kept.peek("k") == "first"


def test_the_least_recently_used_entry_goes_first():
    kept: Memo[str, str] = Memo(max_size=2)
    kept.put("a", "A")
    kept.put("b", "B")
    assert kept.peek("a") == "A"  # now b is the least recently used
    kept.put("c", "C")
    assert kept.peek("b") is None
    assert (kept.peek("a"), kept.peek("c")) == ("A", "C")


def test_a_size_bound_counts_what_values_weigh_and_a_value_too_large_is_not_kept():
    kept: Memo[str, bytes] = Memo(max_size=10, size_of=len)
    kept.put("a", b"12345")
    kept.put("b", b"12345")
    kept.put("c", b"1")
    assert kept.peek("a") is None  # 11 units would not fit: the oldest went
    assert kept.peek("b") == b"12345"
    kept.put("huge", b"x" * 11)
    assert kept.peek("huge") is None
    assert kept.get("huge", lambda: b"y" * 11) == b"y" * 11  # still answered, just not kept
    assert kept.peek("huge") is None


def test_invalidate_forgets_a_key_and_invalidate_if_the_keys_it_matches():
    kept: Memo[tuple[str, str], str] = Memo(max_size=10)
    for key in [("f", "a"), ("f", "b"), ("g", "a")]:
        kept.put(key, "v")
    kept.invalidate(("g", "a"))
    assert kept.peek(("g", "a")) is None
    kept.invalidate_if(lambda key: key[0] == "f")
    assert kept.peek(("f", "a")) is None and kept.peek(("f", "b")) is None


def test_a_load_that_began_before_an_invalidation_keeps_nothing():
    """Request X reads the old value from storage; meanwhile request Y changes it and invalidates:
    X's old value must not be kept, or Y's instance would serve it after its own change."""
    kept: Memo[str, str] = Memo(max_size=10, seconds=60)

    def load_racing_a_change() -> str:
        kept.invalidate("k")  # the change lands while this load is under way
        return "old"

    assert kept.get("k", load_racing_a_change) == "old"
    assert kept.get("k", loads(["new"])) == "new"


def test_replace_keeps_the_expiry_of_the_value_it_replaces():
    clock = Clock()
    kept: Memo[str, str] = Memo(max_size=10, seconds=5, clock=clock)
    old = kept.get("k", loads(["old"]))
    clock.now += 4
    kept.replace("k", old, "new")
    assert kept.peek("k") == "new"
    clock.now += 1.5  # 5.5 s after "old" was read
    assert kept.peek("k") is None


def test_replace_does_nothing_once_the_key_holds_another_value_or_none():
    kept: Memo[str, str] = Memo(max_size=10, seconds=5)
    old = kept.get("k", loads(["old"]))
    kept.invalidate("k")
    kept.replace("k", old, "new")
    assert kept.peek("k") is None
    kept.put("k", "other")
    kept.replace("k", old, "new")
    assert kept.peek("k") == "other"


def test_put_unless_changed_keeps_a_value_only_over_what_its_read_began_with():
    clock = Clock()
    kept: Memo[str, str] = Memo(max_size=10, seconds=5, clock=clock)
    kept.put_unless_changed("k", None, "first")  # nothing was kept when its read began
    assert kept.peek("k") == "first"
    seen = kept.peek("k")
    kept.put("k", "written meanwhile")
    kept.put_unless_changed("k", seen, "slow read")  # began before the write: not kept over it
    assert kept.peek("k") == "written meanwhile"
    seen = kept.peek("k")
    clock.now += 4
    kept.put_unless_changed("k", seen, "newer")
    assert kept.peek("k") == "newer"
    clock.now += 4.5  # its own time to live counts from now, unlike replace's
    assert kept.peek("k") == "newer"
    kept.invalidate("k")
    kept.put_unless_changed("k", seen, "after an invalidation")
    assert kept.peek("k") is None


def test_no_lock_is_held_while_a_value_loads():
    """A load is a storage call: other requests must not queue behind it (here: a load that uses
    the same memo would deadlock if it were)."""
    kept: Memo[str, str] = Memo(max_size=10)
    kept.put("other", "x")
    done = threading.Event()

    def load() -> str:
        assert kept.peek("other") == "x"
        kept.put("third", "y")
        return "v"

    thread = threading.Thread(target=lambda: (kept.get("k", load), done.set()), daemon=True)
    thread.start()
    assert done.wait(5), "the memo's lock was held while the value loaded"


def test_many_threads_at_once_never_see_a_value_from_before_the_last_invalidation():
    """Threads load, read and invalidate one key at once, many rounds: once an invalidation has
    returned, no thread may be handed a value from before the change it was made for."""
    kept: Memo[str, int] = Memo(max_size=10, seconds=60)
    lock = threading.Lock()
    stored = [0]  # the value in "storage"
    invalidated = [0]  # the newest value whose invalidation has returned
    errors: list[str] = []

    def read_stored() -> int:
        with lock:
            return stored[0]

    def reader() -> None:
        for _ in range(2000):
            with lock:
                floor = invalidated[0]
            seen = kept.get("k", read_stored)
            if seen < floor:
                errors.append(f"saw {seen} after the change to {floor} was invalidated")

    def writer() -> None:
        for _ in range(500):
            with lock:
                stored[0] += 1
                changed = stored[0]
            kept.invalidate("k")
            with lock:
                invalidated[0] = changed

    threads = [threading.Thread(target=reader) for _ in range(4)] + [threading.Thread(target=writer)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []


def test_forget_all_empties_every_memo():
    first: Memo[str, str] = Memo(max_size=10)
    second: Memo[str, str] = Memo(max_size=10, seconds=5)
    first.put("a", "A")
    second.put("b", "B")
    memo.forget_all()
    assert first.peek("a") is None and second.peek("b") is None


@pytest.mark.parametrize("seconds", [None, 5])
def test_a_value_of_none_is_kept_like_any_other(seconds):
    """An answer of "not found" is worth keeping too (an unknown token, a missing feed)."""
    kept: Memo[str, str | None] = Memo(max_size=10, seconds=seconds)
    calls = []
    for _ in range(3):
        kept.get("k", lambda: calls.append(1))
    assert len(calls) == 1
