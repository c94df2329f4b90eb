"""Other programs' configuration files, edited in place: comments, order and other entries kept.

TOML with tomlkit, INI with configupdater (configparser would drop every comment on writing). A file
that does not parse is never written: the command stops and names it, so nothing of the user's is lost.
"""

from __future__ import annotations

import configparser
import difflib
import os
from dataclasses import dataclass
from pathlib import Path

import tomlkit
from configupdater import ConfigUpdater

from feedhouse_cli.config import write_private
from feedhouse_cli.errors import FAILED, CliError


def read_text(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as error:
        raise CliError(f"Cannot read {path}: {error}", FAILED) from None


def parse_toml(path: Path, text: str | None) -> tomlkit.TOMLDocument:
    try:
        return tomlkit.parse(text or "")
    except tomlkit.exceptions.ParseError as error:
        raise CliError(f"{path} is not valid TOML ({error}): left as it is; fix it and run again.") from None


def parse_ini(path: Path, text: str | None) -> ConfigUpdater:
    updater = ConfigUpdater()
    try:
        updater.read_string(text or "", source=str(path))
    except configparser.Error as error:  # configupdater raises configparser's errors
        raise CliError(f"{path} is not valid INI ({error}): left as it is; fix it and run again.") from None
    return updater


def ini_section(updater: ConfigUpdater, name: str):
    """The section ``name``, added at the end (after a blank line) when missing."""
    if not updater.has_section(name):
        sections = updater.sections()
        if sections:
            updater[sections[-1]].add_after.space().section(name)
        else:
            updater.add_section(name)
    return updater[name]


@dataclass
class Change:
    """A file as it is and as it will be."""

    path: Path
    before: str | None
    after: str
    mode: int = 0o644

    @property
    def changed(self) -> bool:
        return self.before != self.after

    def diff(self) -> str:
        lines = difflib.unified_diff(
            (self.before or "").splitlines(keepends=True),
            self.after.splitlines(keepends=True),
            fromfile=str(self.path) if self.before is not None else "/dev/null",
            tofile=str(self.path),
        )
        return "".join(lines)

    def write(self) -> None:
        mode = self.mode
        if self.before is not None:
            mode = os.stat(self.path).st_mode & 0o777  # keep the permissions the user gave it
        write_private(self.path, self.after, mode=mode)
