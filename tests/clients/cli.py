"""Run the feedhouse command in-process, in an isolated HOME, and read what it printed."""

from __future__ import annotations

import io
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from feedhouse_cli.main import main


@dataclass
class Result:
    code: int
    out: str
    err: str


class Cli:
    def __init__(self, home: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
        self.home = home
        self.monkeypatch = monkeypatch
        self.capsys = capsys

    def __call__(self, *argv: str, stdin: str = "", env: dict[str, str] | None = None) -> Result:
        with self.monkeypatch.context() as patch:
            for key, value in (env or {}).items():
                patch.setenv(key, value)
            patch.setattr(sys, "stdin", io.StringIO(stdin))
            self.capsys.readouterr()
            try:
                code = main(list(argv))
            except SystemExit as exit_:  # argparse: --help, usage errors
                code = int(exit_.code or 0)
            captured = self.capsys.readouterr()
        return Result(code, captured.out, captured.err)

    def ok(self, *argv: str, **kwargs) -> Result:
        result = self(*argv, **kwargs)
        assert result.code == 0, result
        return result


def isolate(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No FEEDHOUSE_ settings, a HOME and config directory of the test's own, and keyring limited to
    the Feedhouse backend (so no system keyring of the machine running the tests is ever touched)."""
    for key in ("FEEDHOUSE_URL", "FEEDHOUSE_TOKEN", "FEEDHOUSE_CREDENTIALS_FILE"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / ".config"))
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "feedhouse_keyring.FeedhouseKeyring")
