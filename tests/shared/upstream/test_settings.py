import pytest

from shared import settings
from shared.upstream.client import ClientConfig
from shared.upstream.config import pypi_url_from_settings
from shared.upstream.page_cache import CachePolicy

UPSTREAM_SETTINGS = [s for s in settings.SETTINGS if "UPSTREAM" in s.name or s.name == "FEEDHOUSE_PYPI_URL"]


@pytest.fixture(autouse=True)
def clean(monkeypatch):
    for setting in UPSTREAM_SETTINGS:
        monkeypatch.delenv(setting.name, raising=False)


def test_defaults():
    config = ClientConfig.from_settings()
    assert config == ClientConfig()
    assert not config.allow_private
    policy = CachePolicy.from_settings()
    assert policy.ttl == 1800
    assert policy.claim_seconds > config.page_timeout
    assert pypi_url_from_settings() == "https://pypi.org/simple/"
    assert all(s.default is not None and not s.deployed for s in UPSTREAM_SETTINGS)


def test_values_are_read_and_checked(monkeypatch):
    monkeypatch.setenv("FEEDHOUSE_UPSTREAM_ALLOW_PRIVATE", "TRUE")
    monkeypatch.setenv("FEEDHOUSE_UPSTREAM_READ_TIMEOUT", "2.5")
    monkeypatch.setenv("FEEDHOUSE_UPSTREAM_CACHE_SECONDS", "30")
    monkeypatch.setenv("FEEDHOUSE_PYPI_URL", "HTTPS://Mirror.Example/pypi/simple")
    config = ClientConfig.from_settings()
    assert (config.allow_private, config.read_timeout) == (True, 2.5)
    assert CachePolicy.from_settings().failure_backoff == 30
    assert pypi_url_from_settings() == "https://mirror.example/pypi/simple/"
    for name, value in [
        ("FEEDHOUSE_UPSTREAM_ALLOW_PRIVATE", "maybe"),
        ("FEEDHOUSE_UPSTREAM_READ_TIMEOUT", "0"),
        ("FEEDHOUSE_UPSTREAM_READ_TIMEOUT", "soon"),
        ("FEEDHOUSE_UPSTREAM_READ_TIMEOUT", "inf"),
    ]:
        monkeypatch.setenv(name, value)
        with pytest.raises(settings.InvalidSetting, match=name):
            ClientConfig.from_settings()
        monkeypatch.delenv(name)
