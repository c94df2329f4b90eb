"""The keyring backend (feedhouse_keyring in clients/feedhouse): which services it answers, and how."""

import feedhouse_keyring
import keyring.backend
import pytest
from feedhouse_keyring import USERNAME, FeedhouseKeyring, matches


@pytest.mark.parametrize(
    ("service", "base", "expected"),
    [
        ("https://feeds.example/team/simple/", "https://feeds.example", True),
        ("https://feeds.example/team/simple/", "https://feeds.example/team", True),
        ("https://feeds.example/teammate/simple/", "https://feeds.example/team", False),
        ("https://FEEDS.example:443/team/", "https://feeds.example/", True),
        ("http://feeds.example/team/", "https://feeds.example", False),
        ("https://feeds.example:8443/team/", "https://feeds.example", False),
        ("https://evil.example/team/", "https://feeds.example", False),
        ("https://feeds.example.evil/team/", "https://feeds.example", False),
        ("feeds.example", "https://feeds.example", True),
        ("127.0.0.1:7071", "http://127.0.0.1:7071", True),
        ("127.0.0.1:7072", "http://127.0.0.1:7071", False),
    ],
)
def test_matches(service, base, expected):
    assert matches(service, base) is expected


def test_environment_token(monkeypatch, tmp_path):
    monkeypatch.setenv("FEEDHOUSE_URL", "https://feeds.example")
    monkeypatch.setenv("FEEDHOUSE_TOKEN", "fhpat_env")
    monkeypatch.setenv("FEEDHOUSE_CREDENTIALS_FILE", str(tmp_path / "none.ini"))
    backend = FeedhouseKeyring()
    credential = backend.get_credential("https://feeds.example/team/simple/", None)
    assert (credential.username, credential.password) == (USERNAME, "fhpat_env")
    assert backend.get_password("https://feeds.example/team/upload/", "__token__") == "fhpat_env"
    assert backend.get_password("https://feeds.example/team/upload/", "alice") is None
    assert backend.get_credential("https://pypi.org/simple/", None) is None


def test_credentials_file(monkeypatch, tmp_path):
    monkeypatch.delenv("FEEDHOUSE_URL", raising=False)
    monkeypatch.delenv("FEEDHOUSE_TOKEN", raising=False)
    path = tmp_path / "credentials.ini"
    path.write_text("[https://a.example/team]\ntoken = fhpat_a\n\n[https://b.example]\ntoken = fhpat_b\n")
    monkeypatch.setenv("FEEDHOUSE_CREDENTIALS_FILE", str(path))
    backend = FeedhouseKeyring()
    assert backend.get_password("https://a.example/team/simple/x/", None) == "fhpat_a"
    assert backend.get_password("https://a.example/other/simple/", None) is None
    assert backend.get_password("https://b.example/anything/", None) == "fhpat_b"


def test_never_stores(monkeypatch):
    import keyring.errors

    with pytest.raises(keyring.errors.PasswordSetError):
        FeedhouseKeyring().set_password("https://a.example", "__token__", "x")


class MemoryKeyring(keyring.backend.KeyringBackend):
    """A stand-in for the system keyring (Keychain, Credential Locker, Secret Service)."""

    priority = 5  # type: ignore[assignment]

    def __init__(self) -> None:
        self.entries: dict[tuple[str, str], str] = {}

    def get_password(self, service, username):
        return self.entries.get((service, username))

    def set_password(self, service, username, password):
        self.entries[(service, username)] = password

    def delete_password(self, service, username):
        del self.entries[(service, username)]


def test_login_uses_the_system_keyring_where_one_works(monkeypatch, tmp_path):
    from feedhouse_cli import config

    system = MemoryKeyring()
    monkeypatch.setattr(feedhouse_keyring, "system_keyring", lambda: system)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    for key in ("FEEDHOUSE_URL", "FEEDHOUSE_TOKEN", "FEEDHOUSE_CREDENTIALS_FILE"):
        monkeypatch.delenv(key, raising=False)

    where = config.store_login("https://feeds.example", "fhpat_sys", use_keyring=True)
    assert "system keyring" in where
    assert system.entries == {("feedhouse", "https://feeds.example"): "fhpat_sys"}
    assert not (tmp_path / "feedhouse" / "credentials.ini").exists()
    assert "fhpat_sys" not in (tmp_path / "feedhouse" / "config.toml").read_text()
    # pip, uv and twine get it through the backend, for that deployment's URLs only.
    assert FeedhouseKeyring().get_password("https://feeds.example/team/simple/", None) == "fhpat_sys"
    assert FeedhouseKeyring().get_password("https://other.example/team/simple/", None) is None

    config.forget_login("https://feeds.example")
    assert system.entries == {}
    assert FeedhouseKeyring().get_password("https://feeds.example/team/simple/", None) is None
