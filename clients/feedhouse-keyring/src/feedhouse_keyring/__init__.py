"""A keyring backend for Feedhouse feeds: the token for a configured URL, from the environment or a file."""

from __future__ import annotations

import configparser
import os
from pathlib import Path
from urllib.parse import urlsplit

from keyring.backend import KeyringBackend
from keyring.credentials import SimpleCredential
from keyring.errors import PasswordDeleteError, PasswordSetError

USERNAME = "__token__"
_DEFAULT_PORTS = {"http": 80, "https": 443}


def _credentials_file() -> Path:
    configured = os.environ.get("FEEDHOUSE_CREDENTIALS_FILE")
    if configured:
        return Path(configured)
    base = os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config"
    return Path(base) / "feedhouse" / "credentials.ini"


def configured_tokens() -> list[tuple[str, str]]:
    """(base URL, token) pairs: the environment's first, then the credentials file's."""
    pairs = []
    url, token = os.environ.get("FEEDHOUSE_URL"), os.environ.get("FEEDHOUSE_TOKEN")
    if url and token:
        pairs.append((url, token))
    path = _credentials_file()
    if path.is_file():
        parser = configparser.ConfigParser(interpolation=None)
        parser.read(path, encoding="utf-8")
        pairs += [
            (section, parser[section]["token"])
            for section in parser.sections()
            if parser[section].get("token")
        ]
    return pairs


def _origin(url: str) -> tuple[str, str, int | None, str]:
    parts = urlsplit(url if "://" in url else f"//{url}")
    scheme = parts.scheme.lower()
    port = parts.port or _DEFAULT_PORTS.get(scheme)
    return scheme, (parts.hostname or "").lower(), port, parts.path


def matches(service: str, base_url: str) -> bool:
    """Whether keyring's ``service`` (a URL, or host[:port] as uv also asks) lies under ``base_url``."""
    scheme, host, port, path = _origin(base_url)
    s_scheme, s_host, s_port, s_path = _origin(service)
    if not host or s_host != host:
        return False
    if s_scheme:  # a full URL: same origin, and under the base path (whole segments: /team is not /teammate)
        base, below = path.rstrip("/"), s_path.rstrip("/")
        return s_scheme == scheme and s_port == port and (below == base or below.startswith(base + "/"))
    # host[:port] only: the port must agree when given
    return s_port in (None, port)


def token_for(service: str) -> str | None:
    for base_url, token in configured_tokens():
        if matches(service, base_url):
            return token
    return None


class FeedhouseKeyring(KeyringBackend):
    """Answers only for configured Feedhouse URLs; every other service falls through to other backends."""

    priority = 9.5  # type: ignore[assignment]  # above the system keyrings, like artifacts-keyring

    def get_password(self, service: str, username: str) -> str | None:
        if username not in (None, USERNAME):
            return None
        return token_for(service)

    def get_credential(self, service: str, username: str | None) -> SimpleCredential | None:
        token = token_for(service)
        if token is None or username not in (None, USERNAME):
            return None
        return SimpleCredential(USERNAME, token)

    def set_password(self, service: str, username: str, password: str) -> None:
        raise PasswordSetError("feedhouse-keyring reads tokens from FEEDHOUSE_TOKEN or its credentials file")

    def delete_password(self, service: str, username: str) -> None:
        raise PasswordDeleteError(
            "feedhouse-keyring reads tokens from FEEDHOUSE_TOKEN or its credentials file"
        )
