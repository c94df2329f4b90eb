import pytest

from tests.clients.cli import Cli, isolate


@pytest.fixture
def cli(tmp_path, monkeypatch, capsys) -> Cli:
    home = tmp_path / "home"
    home.mkdir()
    isolate(home, monkeypatch)
    return Cli(home, monkeypatch, capsys)
