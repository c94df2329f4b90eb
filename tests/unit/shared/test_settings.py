"""The settings this issue adds: defaults, parsing, and a clear error for a bad download mode."""

from pathlib import Path

import pytest

from shared import settings


@pytest.fixture
def fresh(monkeypatch):
    for name in (s.name for s in settings.SETTINGS):
        monkeypatch.delenv(name, raising=False)
    settings.load.cache_clear()
    yield monkeypatch
    settings.load.cache_clear()


def test_defaults(fresh):
    config = settings.load()
    assert (config.page_max_age, config.recycle_bin_days) == (600, 30)
    assert (config.download_mode, config.download_url_seconds) == ("stream", 300)


def test_values_are_read(fresh):
    fresh.setenv("FEEDHOUSE_PAGE_MAX_AGE_SECONDS", "60")
    fresh.setenv("FEEDHOUSE_RECYCLE_BIN_DAYS", "7")
    fresh.setenv("FEEDHOUSE_DOWNLOAD_MODE", "Redirect")
    fresh.setenv("FEEDHOUSE_DOWNLOAD_URL_SECONDS", "0")  # at least one second
    config = settings.load()
    assert (config.page_max_age, config.recycle_bin_days, config.download_mode) == (60, 7, "redirect")
    assert config.download_url_seconds == 1


def test_an_unknown_download_mode_is_refused(fresh):
    fresh.setenv("FEEDHOUSE_DOWNLOAD_MODE", "teleport")
    with pytest.raises(
        settings.InvalidSetting, match="FEEDHOUSE_DOWNLOAD_MODE must be one of stream, redirect"
    ):
        settings.load()


def test_every_new_setting_is_deployed_and_documented():
    text = (Path(settings.__file__).parents[1] / "README.md").read_text(encoding="utf-8")
    for name in (
        "FEEDHOUSE_PAGE_MAX_AGE_SECONDS",
        "FEEDHOUSE_RECYCLE_BIN_DAYS",
        "FEEDHOUSE_DOWNLOAD_MODE",
        "FEEDHOUSE_DOWNLOAD_URL_SECONDS",
    ):
        setting = next(s for s in settings.SETTINGS if s.name == name)
        assert setting.deployed and setting.default
        assert f"| `{name}` |" in text
