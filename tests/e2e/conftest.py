"""Fixtures of the end-to-end tests: a fresh feed on the running host, and isolated clients."""

from __future__ import annotations

import secrets

import pytest

from tests.e2e.clients import Clients
from tests.e2e.test_publish_and_install import create_feed


@pytest.fixture
def feed(server) -> str:
    name = "e2e-" + secrets.token_hex(4)
    create_feed(server, name)
    return name


@pytest.fixture
def clients(tmp_path) -> Clients:
    return Clients(tmp_path / "home")
