from __future__ import annotations

from collections.abc import Iterator

import pytest

from shared.upstream.client import UpstreamClient
from tests.support.upstream_server import FAST_CLIENT, FakeIndex, resolve_test_hosts


@pytest.fixture
def client() -> UpstreamClient:
    return UpstreamClient(FAST_CLIENT, resolver=resolve_test_hosts)


@pytest.fixture
def fake_index() -> Iterator[FakeIndex]:
    with FakeIndex() as index:
        yield index
