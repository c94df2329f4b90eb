"""Values kept in memory between requests, per process: bounded, thread-safe, each for at most a time
to live, the least recently used dropped first, and forgotten at once when this process changes them.

cachetools keeps the entries (expiry and LRU eviction, bounded by a count or by a size). What it
does not do, and ``Memo`` adds:

- a lock: cachetools' caches are not thread-safe, and the Python worker runs requests on threads.
  The lock is the memo's own and is never held while a value is loaded (a storage call);
- loads that race a change: a load that began before an ``invalidate`` does not keep its result,
  or a request that read the old value just before this process changed it would put it back, and
  the process that made the change would serve the old value for a whole time to live;
- an entry's expiry is fixed when its value was read from storage (``replace`` keeps it), so a
  time to live bounds how old what is served can be, whatever happens to the entry meanwhile;
- ``forget_all``, which empties every memo of the process (shared.storage.reset calls it, for tests
  that point the app at other storage).
"""

from __future__ import annotations

import math
import threading
import time
import weakref
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Generic, TypeVar

import cachetools

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")

# How long a value that other instances may change (a token's validity, a feed's settings, its
# grants, a file's state) is kept: what another instance changes is seen here within this. A change
# made through this instance invalidates its copy at once.
STALE_SECONDS = 5.0
# How long a project's page (and the project list) is served from what this instance keeps before it
# asks storage again: shorter, because a page decides what an installer finds, and a job that
# installs what another just published through another instance must find it. A client that asks to
# revalidate (request Cache-Control: no-cache or max-age=0, as `pip --refresh-package` sends) is
# answered from storage.
PAGE_STALE_SECONDS = 1.0

_memos: weakref.WeakSet[Memo] = weakref.WeakSet()  # every memo of the process
_registering = threading.Lock()


@dataclass(frozen=True)
class _Entry(Generic[V]):
    value: V
    expires: float  # on the memo's clock


class Memo(Generic[K, V]):
    """Values by key, each kept for at most ``seconds`` (None: until evicted) and in all at most
    ``max_size`` entries, or ``max_size`` units of ``size_of(value)`` (a value larger than that is
    not kept)."""

    def __init__(
        self,
        *,
        max_size: int,
        seconds: float | None = None,
        size_of: Callable[[V], int] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._seconds = seconds
        self._clock = clock
        self._size_of = size_of
        self._max_size = max_size
        self._lock = threading.Lock()
        self._generation = 0  # advanced by every invalidation: loads begun before it keep nothing
        self._entries = self._new_entries()
        with _registering:
            _memos.add(self)

    def _new_entries(self) -> cachetools.TLRUCache:
        size_of = self._size_of
        return cachetools.TLRUCache(
            self._max_size,
            ttu=lambda _key, entry, _now: entry.expires,
            timer=self._clock,
            getsizeof=(lambda entry: size_of(entry.value)) if size_of is not None else None,
        )

    def get(self, key: K, load: Callable[[], V]) -> V:
        """The value kept for ``key``, else ``load()``'s, which is then kept (unless this memo was
        invalidated while it loaded)."""
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None:
                return entry.value
            generation = self._generation
        expires = self._expiry()  # measured from before the load: the value is at least this old
        value = load()
        with self._lock:
            if generation == self._generation:
                self._keep(key, _Entry(value, expires))
        return value

    def peek(self, key: K) -> V | None:
        """The value kept for ``key``, or None."""
        with self._lock:
            entry = self._entries.get(key)
        return entry.value if entry is not None else None

    def put(self, key: K, value: V) -> None:
        """Keep ``value`` for ``key``, read just now."""
        with self._lock:
            self._keep(key, _Entry(value, self._expiry()))

    def put_unless_changed(self, key: K, seen: V | None, value: V) -> None:
        """Keep ``value`` for ``key``, read just now, if ``key`` still holds ``seen`` (None: nothing),
        the value it held when that read began: a slow read does not undo a faster one's keeping."""
        with self._lock:
            entry = self._entries.get(key)
            if (entry.value if entry is not None else None) is seen:
                self._keep(key, _Entry(value, self._expiry()))

    def replace(self, key: K, old: V, new: V) -> None:
        """Keep ``new`` instead of ``old`` for ``key``, until ``old`` would have expired; nothing if
        ``key`` no longer holds ``old`` (it was invalidated, or loaded again, meanwhile)."""
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None and entry.value is old:
                self._keep(key, _Entry(new, entry.expires))

    def invalidate(self, key: K) -> None:
        """Forget ``key``: this process's next use reads it again."""
        with self._lock:
            self._generation += 1
            self._entries.pop(key, None)

    def invalidate_if(self, matches: Callable[[K], bool]) -> None:
        """Forget every key ``matches`` says so of."""
        with self._lock:
            self._generation += 1
            for key in [k for k in self._entries if matches(k)]:
                self._entries.pop(key, None)

    def clear(self) -> None:
        with self._lock:
            self._generation += 1
            self._entries = self._new_entries()

    def _expiry(self) -> float:
        return math.inf if self._seconds is None else self._clock() + self._seconds

    def _keep(self, key: K, entry: _Entry[V]) -> None:
        try:
            self._entries[key] = entry
        except ValueError:  # larger than the whole memo may hold: not kept
            self._entries.pop(key, None)


def forget_all() -> None:
    """Empty every memo of the process."""
    with _registering:
        memos = list(_memos)
    for memo in memos:
        memo.clear()
