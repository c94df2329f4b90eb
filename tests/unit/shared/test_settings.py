import pytest

from shared import settings


@pytest.fixture(autouse=True)
def fresh(monkeypatch):
    settings.load.cache_clear()
    yield monkeypatch
    monkeypatch.undo()
    settings.load.cache_clear()


def test_an_unresolved_key_vault_reference_is_no_admin_token(fresh):
    fresh.setenv(
        "FEEDHOUSE_ADMIN_TOKEN", "@Microsoft.KeyVault(SecretUri=https://kv.vault.azure.net/secrets/admin)"
    )
    assert settings.load().admin_token is None


def test_defaults_and_values(fresh):
    fresh.delenv("FEEDHOUSE_MAX_UPLOAD_BYTES", raising=False)
    fresh.setenv("FEEDHOUSE_ADMIN_TOKEN", "  secret  ")
    loaded = settings.load()
    assert loaded.max_upload_bytes == 100 * 1024 * 1024
    assert loaded.admin_token == "secret"


@pytest.mark.parametrize(
    ("value", "creators"),
    [("*", {"*"}), ("none", set()), ("Alice, bob ,", {"alice", "bob"}), ("", {"*"})],
)
def test_feed_creators(fresh, value, creators):
    fresh.setenv("FEEDHOUSE_FEED_CREATORS", value)
    assert settings.load().feed_creators == creators


def test_bad_number_is_named(fresh):
    fresh.setenv("FEEDHOUSE_MAX_UPLOAD_BYTES", "lots")
    with pytest.raises(settings.InvalidSetting, match="FEEDHOUSE_MAX_UPLOAD_BYTES"):
        settings.load()
