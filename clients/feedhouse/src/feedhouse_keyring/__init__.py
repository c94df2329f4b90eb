"""A keyring backend for Feedhouse feeds: the token for a configured URL, from the environment, the
credentials file, or the system keyring where `feedhouse login` put it. Where login kept a sign-in
through the deployment's identity provider (`--device-code`), the token is a current access token from
it (feedhouse_keyring.signin), and a sign-in that changed on the way (a new refresh token) is kept
again where it was."""

from __future__ import annotations

import configparser
import os
from pathlib import Path
from urllib.parse import urlsplit

import platformdirs
import tomlkit
from keyring.backend import KeyringBackend
from keyring.credentials import SimpleCredential
from keyring.errors import KeyringError, PasswordDeleteError, PasswordSetError

USERNAME = "__token__"
# System keyring entries are (SERVICE, deployment URL): one namespace of ours, never a URL that another
# program's exact-match lookup could hit by accident.
SERVICE = "feedhouse"
_DEFAULT_PORTS = {"http": 80, "https": 443}


def config_dir() -> Path:
    """Where Feedhouse's configuration lives, as the platform has it (~/.config/feedhouse on Linux)."""
    return Path(platformdirs.user_config_dir("feedhouse", appauthor=False))


def credentials_file() -> Path:
    configured = os.environ.get("FEEDHOUSE_CREDENTIALS_FILE")
    return Path(configured) if configured else config_dir() / "credentials.ini"


def config_file() -> Path:
    """The client's settings (no secret): the deployments logged in to, and the default one."""
    return config_dir() / "config.toml"


def file_tokens() -> list[tuple[str, str]]:
    path = credentials_file()
    if not path.is_file():
        return []
    parser = configparser.ConfigParser(interpolation=None)
    parser.read(path, encoding="utf-8")
    return [
        (section, parser[section]["token"]) for section in parser.sections() if parser[section].get("token")
    ]


def keyring_deployments() -> list[str]:
    """The deployments whose token `feedhouse login` put into the system keyring."""
    path = config_file()
    if not path.is_file():
        return []
    try:
        document = tomlkit.parse(path.read_text(encoding="utf-8"))
    except tomlkit.exceptions.ParseError:
        return []  # `feedhouse doctor` says what is wrong with it; a keyring lookup just finds nothing
    listed = document.get("keyring", [])
    return [str(url) for url in listed] if isinstance(listed, list) else []


def system_keyring() -> KeyringBackend | None:
    """The platform's own keyring (macOS Keychain, Windows Credential Locker, Secret Service, KWallet),
    when one is usable here; never this backend, nor keyring's fail, null or chaining stand-ins, nor
    a plaintext file store (priority below 1)."""
    from keyring.backend import get_all_keyring
    from keyring.backends import chainer, fail, null
    from keyring.core import load_env

    skip = (FeedhouseKeyring, chainer.ChainerBackend, fail.Keyring, null.Keyring)
    # PYTHON_KEYRING_BACKEND names the one backend keyring uses: then that one, or none that stores.
    chosen = load_env()
    candidates = [chosen] if chosen is not None else get_all_keyring()
    usable = [k for k in candidates if not isinstance(k, skip) and k.priority >= 1]
    return max(usable, key=lambda k: k.priority, default=None)


def system_token(base_url: str) -> str | None:
    backend = system_keyring()
    if backend is None:
        return None
    try:
        return backend.get_password(SERVICE, base_url)
    except KeyringError:
        return None


def configured_tokens() -> list[tuple[str, str]]:
    """(base URL, token) pairs: the environment's first, then the credentials file's."""
    pairs = []
    url, token = os.environ.get("FEEDHOUSE_URL"), os.environ.get("FEEDHOUSE_TOKEN")
    if url and token:
        pairs.append((url, token))
    return pairs + file_tokens()


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


def usable_token(base_url: str, stored: str, *, in_keyring: bool) -> str | None:
    """The token to send for what login stored: a token as it is, a sign-in's current access token."""
    from feedhouse_keyring import signin

    if not signin.is_signin(stored):
        return stored
    token, changed = signin.access_token(stored)
    if changed is not None:
        from feedhouse_cli import config

        config.keep_signin(base_url, changed, in_keyring=in_keyring)
    return token


def token_for(service: str) -> str | None:
    for base_url, token in configured_tokens():
        if matches(service, base_url):
            return usable_token(base_url, token, in_keyring=False)
    # Last, and only for a URL of ours: the system keyring may prompt or unlock, so it is not asked
    # about every other host pip or uv looks up.
    for base_url in keyring_deployments():
        if matches(service, base_url):
            stored = system_token(base_url)
            return usable_token(base_url, stored, in_keyring=True) if stored else None
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
        raise PasswordSetError("the Feedhouse backend only reads tokens: `feedhouse login` stores them")

    def delete_password(self, service: str, username: str) -> None:
        raise PasswordDeleteError("the Feedhouse backend only reads tokens: `feedhouse login` stores them")
