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


@pytest.fixture(scope="session")
def feedhouse_bin(server, tmp_path_factory):
    """The feedhouse client, installed as a user would: `uv tool install` from the deployment's URL."""
    from tests.e2e.feedhouse_user import install_client

    return install_client(server.url, tmp_path_factory.mktemp("feedhouse-tool"))


@pytest.fixture(scope="session")
def pdm_bin(tmp_path_factory):
    from tests.e2e.feedhouse_user import install_pdm

    return install_pdm(tmp_path_factory.mktemp("pdm"))


@pytest.fixture
def user(tmp_path, feedhouse_bin, pdm_bin):
    """A new user at a fresh machine (HOME of their own) with the client installed."""
    from tests.e2e.feedhouse_user import User

    return User(tmp_path / "home", feedhouse_bin, pdm_bin)
