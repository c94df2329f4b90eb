"""The settings catalogue: defaults, parsing, refusals, and that the README documents every setting."""

from pathlib import Path

import pytest

from shared import settings


@pytest.fixture(autouse=True)
def fresh(monkeypatch):
    for name in (s.name for s in settings.SETTINGS):
        monkeypatch.delenv(name, raising=False)
    settings.load.cache_clear()
    yield monkeypatch
    monkeypatch.undo()
    settings.load.cache_clear()


def test_defaults(fresh):
    config = settings.load()
    assert config.max_upload_bytes == 100 * 1024 * 1024
    assert (config.page_max_age, config.recycle_bin_days) == (600, 30)
    assert (config.download_mode, config.download_url_seconds) == ("stream", 300)
    assert config.stream_max_bytes == 64 * 1024 * 1024
    assert config.feed_creators == {"*"}


def test_values_are_read(fresh):
    fresh.setenv("FEEDHOUSE_ADMIN_TOKEN", "  secret  ")
    fresh.setenv("FEEDHOUSE_PAGE_MAX_AGE_SECONDS", "60")
    fresh.setenv("FEEDHOUSE_RECYCLE_BIN_DAYS", "7")
    fresh.setenv("FEEDHOUSE_DOWNLOAD_MODE", "Redirect")
    fresh.setenv("FEEDHOUSE_DOWNLOAD_URL_SECONDS", "0")  # at least one second
    config = settings.load()
    assert config.admin_token == "secret"
    assert (config.page_max_age, config.recycle_bin_days, config.download_mode) == (60, 7, "redirect")
    assert config.download_url_seconds == 1


def test_an_unresolved_key_vault_reference_is_no_admin_token(fresh):
    fresh.setenv(
        "FEEDHOUSE_ADMIN_TOKEN", "@Microsoft.KeyVault(SecretUri=https://kv.vault.azure.net/secrets/admin)"
    )
    assert settings.load().admin_token is None


@pytest.mark.parametrize(
    ("value", "creators"),
    [("*", {"*"}), ("none", set()), ("Alice, bob ,", {"alice", "bob"}), ("", {"*"})],
)
def test_feed_creators(fresh, value, creators):
    fresh.setenv("FEEDHOUSE_FEED_CREATORS", value)
    assert settings.load().feed_creators == creators


@pytest.mark.parametrize("value", ["\u212aim", "alice, admin", "anonymous", "alice, none", "bob smith"])
def test_feed_creators_follow_the_user_name_rule(fresh, value):
    # The Kelvin sign would otherwise fold into 'kim' and let that user create feeds; reserved names
    # never name a user.
    fresh.setenv("FEEDHOUSE_FEED_CREATORS", value)
    with pytest.raises(settings.InvalidSetting, match="FEEDHOUSE_FEED_CREATORS"):
        settings.load()


def test_bad_number_is_named(fresh):
    fresh.setenv("FEEDHOUSE_MAX_UPLOAD_BYTES", "lots")
    with pytest.raises(settings.InvalidSetting, match="FEEDHOUSE_MAX_UPLOAD_BYTES"):
        settings.load()


def test_an_unknown_download_mode_is_refused(fresh):
    fresh.setenv("FEEDHOUSE_DOWNLOAD_MODE", "teleport")
    with pytest.raises(
        settings.InvalidSetting, match="FEEDHOUSE_DOWNLOAD_MODE must be one of stream, redirect"
    ):
        settings.load()


def test_every_setting_is_documented():
    text = (Path(settings.__file__).parents[1] / "README.md").read_text(encoding="utf-8")
    missing = [s.name for s in settings.SETTINGS if f"| `{s.name}` |" not in text]
    assert not missing, f"document these in the README's settings table: {missing}"
