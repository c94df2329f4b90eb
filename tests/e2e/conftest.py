"""Fixtures of the end-to-end tests: a fresh feed on the running host, and isolated clients."""

import pytest

from tests.e2e.api import create_feed
from tests.e2e.clients import Clients


@pytest.fixture
def feed(server) -> str:
    """A new private feed, created through the API with the admin token."""
    return create_feed(server)


@pytest.fixture
def clients(tmp_path) -> Clients:
    return Clients(tmp_path / "home")
