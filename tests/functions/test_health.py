import pytest

from functions.health import health
from shared import storage
from tests.support.http import json_of, request


def health_with_these_settings(monkeypatch):
    """/api/health with the environment as monkeypatched, then the session's storage again."""
    storage.reset()
    try:
        return health(request("GET", "/api/health"))
    finally:
        monkeypatch.undo()
        storage.reset()


def test_health_ok(app_env):
    response = health(request("GET", "/api/health"))
    assert response.status_code == 200
    assert json_of(response) == {"status": "ok"}


def test_health_503_when_storage_does_not_answer(app_env, monkeypatch):
    # A port nothing listens on: storage is unreachable.
    monkeypatch.setenv(
        "FEEDHOUSE_STORAGE_CONNECTION_STRING",
        "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=a2V5;"
        "BlobEndpoint=http://127.0.0.1:9/devstoreaccount1;TableEndpoint=http://127.0.0.1:9/devstoreaccount1;",
    )
    response = health_with_these_settings(monkeypatch)
    assert response.status_code == 503
    assert json_of(response)["error"] == "unavailable"


@pytest.mark.usefixtures("app_env")
def test_missing_storage_settings_is_503_not_a_crash(monkeypatch):
    monkeypatch.delenv("FEEDHOUSE_STORAGE_CONNECTION_STRING")
    monkeypatch.delenv("FEEDHOUSE_STORAGE_ACCOUNT_NAME", raising=False)
    assert health_with_these_settings(monkeypatch).status_code == 503
