"""Storage round trips per request, counted as the access log counts them (shared.storage.counting):
what the speed budgets of the read path are asserted with, never timings."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from shared import storage


def requests_made(action: Callable[[], Any]) -> tuple[Any, int]:
    """``action()``'s result and the HTTP requests it sent to storage."""
    with storage.counting() as count:
        result = action()
    return result, count.value
