"""The keyring backend in clients/feedhouse-keyring: which services it answers, and with what."""

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
