"""Bounded in-process memory for what the read path keeps between requests.

An ``LRU`` keeps values by key up to a number of entries and of bytes (each value's size is told at
``put``), dropping the least recently used first. It is thread-safe with one short lock per
operation; nothing is computed or fetched under it, so a slow storage call never holds up another
request's lookup (two requests missing the same key may both compute it: the later ``put`` wins,
and both results are equally right, as only values that are a function of their key are kept).

Every LRU made here is also forgotten by ``clear_all``, which ``shared.storage.reset`` calls, so tests
that point the app at fresh storage start with empty memory.
"""

from __future__ import annotations

import threading
import weakref
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

V = TypeVar("V")

_instances: weakref.WeakSet[LRU] = weakref.WeakSet()


class LRU(Generic[V]):
    def __init__(self, *, max_entries: int, max_bytes: int) -> None:
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self._lock = threading.Lock()
        self._entries: OrderedDict[Hashable, tuple[V, int]] = OrderedDict()
        self._bytes = 0
        _instances.add(self)

    def get(self, key: Hashable) -> V | None:
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return None
            self._entries.move_to_end(key)
            return entry[0]

    def put(self, key: Hashable, value: V, size: int) -> None:
        """Keep ``value`` under ``key``, as ``size`` bytes; one larger than the whole budget is not kept."""
        with self._lock:
            old = self._entries.pop(key, None)
            if old is not None:
                self._bytes -= old[1]
            if size > self.max_bytes:
                return
            self._entries[key] = (value, size)
            self._bytes += size
            while len(self._entries) > self.max_entries or self._bytes > self.max_bytes:
                _key, (_value, dropped) = self._entries.popitem(last=False)
                self._bytes -= dropped

    def get_or_make(self, key: Hashable, make: Callable[[], V], size: Callable[[V], int]) -> V:
        """The value kept under ``key``, else ``make()``'s, then kept (made outside the lock)."""
        value = self.get(key)
        if value is None:
            value = make()
            self.put(key, value, size(value))
        return value

    def discard(self, key: Hashable) -> None:
        with self._lock:
            old = self._entries.pop(key, None)
            if old is not None:
                self._bytes -= old[1]

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._bytes = 0

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)

    @property
    def bytes(self) -> int:
        with self._lock:
            return self._bytes


def clear_all() -> None:
    """Forget everything every LRU keeps (tests point the app at fresh storage)."""
    for instance in list(_instances):
        instance.clear()
