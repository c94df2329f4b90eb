"""Which deployment and token a command uses, and where `feedhouse login` keeps them.

The deployment URLs (no secret) are in ``config.toml`` under the platform's config directory
(platformdirs: ~/.config/feedhouse on Linux). The token goes to the system keyring when one works here,
else to ``credentials.ini`` beside it, created readable by the user only. The keyring backend
(feedhouse_keyring) reads both, so pip, uv and twine find what login stored. FEEDHOUSE_URL and
FEEDHOUSE_TOKEN override both for one command (CI).
"""

from __future__ import annotations

import configparser
import contextlib
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import feedhouse_keyring
import tomlkit
from keyring.errors import KeyringError

from feedhouse_cli.api import normalize_url
from feedhouse_cli.errors import AUTH, FAILED, CliError


@dataclass(frozen=True)
class Target:
    url: str
    token: str | None


def read_settings() -> tomlkit.TOMLDocument:
    path = feedhouse_keyring.config_file()
    if not path.is_file():
        return tomlkit.document()
    try:
        return tomlkit.parse(path.read_text(encoding="utf-8"))
    except tomlkit.exceptions.ParseError as error:
        raise CliError(f"{path} is not valid TOML ({error}); fix or remove it.", FAILED) from None


def write_private(path: Path, text: str, mode: int = 0o644) -> None:
    """Replace ``path`` whole (a reader never sees half a file), created with ``mode`` from the start."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        os.chmod(tmp, mode)
        with os.fdopen(fd, "w", encoding="utf-8") as file:
            file.write(text)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def write_settings(document: tomlkit.TOMLDocument) -> None:
    write_private(feedhouse_keyring.config_file(), tomlkit.dumps(document))


def default_url() -> str | None:
    url = os.environ.get("FEEDHOUSE_URL") or read_settings().get("url")
    return normalize_url(str(url)) if url else None


def target(url: str | None = None, *, need_token: bool = True) -> Target:
    """The deployment (``--url``, else FEEDHOUSE_URL, else the one logged in to) and its token
    (FEEDHOUSE_TOKEN, else the stored one)."""
    url = normalize_url(url) if url else default_url()
    if url is None:
        raise CliError("No deployment: run `feedhouse login <deployment URL>` or set FEEDHOUSE_URL.", AUTH)
    token = os.environ.get("FEEDHOUSE_TOKEN") or stored_token(url)
    if need_token and not token:
        raise CliError(f"Not logged in to {url}: run `feedhouse login {url}` (or set FEEDHOUSE_TOKEN).", AUTH)
    return Target(url, token)


def stored_token(url: str) -> str | None:
    """The token for what login stored for ``url`` (the credentials file, or the system keyring): the
    token, or a sign-in's current access token."""
    for base, token in feedhouse_keyring.file_tokens():
        if normalize_url(base) == url:
            return feedhouse_keyring.usable_token(base, token, in_keyring=False)
    if url in keyring_deployments():
        stored = feedhouse_keyring.system_token(url)
        return feedhouse_keyring.usable_token(url, stored, in_keyring=True) if stored else None
    return None


def keep_signin(url: str, stored: str, *, in_keyring: bool) -> None:
    """Store a sign-in again where it was, once using it changed it (a rotated refresh token)."""
    if in_keyring:
        backend = feedhouse_keyring.system_keyring()
        if backend is not None:
            with contextlib.suppress(KeyringError):
                backend.set_password(feedhouse_keyring.SERVICE, url, stored)
        return
    path, parser = _credentials()
    if parser.has_section(url):
        parser[url]["token"] = stored
        _write_credentials(path, parser)


def keyring_deployments() -> list[str]:
    return feedhouse_keyring.keyring_deployments()


def _credentials() -> tuple[Path, configparser.ConfigParser]:
    path = feedhouse_keyring.credentials_file()
    parser = configparser.ConfigParser(interpolation=None)
    if path.is_file():
        try:
            parser.read(path, encoding="utf-8")
        except configparser.Error as error:
            raise CliError(f"{path} is not a valid credentials file ({error}); fix or remove it.") from None
    return path, parser


def _write_credentials(path: Path, parser: configparser.ConfigParser) -> None:
    lines = []
    for section in parser.sections():
        lines.append(f"[{section}]")
        lines += [f"{key} = {value}" for key, value in parser[section].items()]
        lines.append("")
    write_private(path, "\n".join(lines), mode=0o600)


def store_login(url: str, token: str, *, use_keyring: bool) -> str:
    """Keep ``token`` for ``url`` and make ``url`` the default deployment; say where it went."""
    document = read_settings()
    listed = [u for u in keyring_deployments() if u != url]
    where = None
    backend = feedhouse_keyring.system_keyring() if use_keyring else None
    if backend is not None:
        try:
            backend.set_password(feedhouse_keyring.SERVICE, url, token)
            listed.append(url)
            where = f"the system keyring ({type(backend).__module__}.{type(backend).__name__})"
        except KeyringError:
            where = None  # a keyring that is there but locked or refusing: the file, as without one
    path, parser = _credentials()
    if where is None:
        if not parser.has_section(url):
            parser.add_section(url)
        parser[url]["token"] = token
        where = f"{path} (readable by you only)"
    elif parser.has_section(url):
        parser.remove_section(url)  # one place per deployment: no stale copy left behind
    if path.is_file() or parser.sections():
        _write_credentials(path, parser)
    document["url"] = url
    document["keyring"] = listed
    write_settings(document)
    return where


def forget_login(url: str) -> list[str]:
    """Remove what login stored for ``url``; what was removed."""
    removed = []
    path, parser = _credentials()
    if parser.remove_section(url):
        _write_credentials(path, parser)
        removed.append(f"the token in {path}")
    document = read_settings()
    if url in keyring_deployments():
        backend = feedhouse_keyring.system_keyring()
        if backend is not None:
            with contextlib.suppress(KeyringError):
                backend.delete_password(feedhouse_keyring.SERVICE, url)
                removed.append("the token in the system keyring")
        document["keyring"] = [u for u in keyring_deployments() if u != url]
    if document.get("url") == url:
        del document["url"]
        removed.append(f"{url} as the default deployment")
    if feedhouse_keyring.config_file().is_file():
        write_settings(document)
    return removed
