"""The feed page's "Connect to feed" panel: ready-to-copy setup for each client, with this deployment's
real URLs.

Never a secret: where a client needs the token, the snippet reads it from ``$FEEDHOUSE_TOKEN`` (or the
keyring backend gives it), and the panel says where to create one. The forms are those `feedhouse
connect` writes (clients/feedhouse/src/feedhouse_cli/connect.py) and the README's "Pointing clients at a
private feed" explains: an index URL naming the user ``__token__`` for the keyring route, since pip and
uv ask a keyring only for a URL with a user name.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from urllib.parse import quote, urlsplit, urlunsplit

TOKEN_VARIABLE = "FEEDHOUSE_TOKEN"  # noqa: S105 - the variable's name, not a secret
TOKEN_USER = "__token__"  # noqa: S105 - the customary user name, not a secret


@dataclass(frozen=True)
class Snippet:
    label: str  # what it is, or the file it goes in
    code: str


@dataclass(frozen=True)
class Client:
    key: str  # an id for the page
    title: str
    intro: str
    snippets: list[Snippet] = field(default_factory=list)
    note: str = ""


def index_name(feed: str) -> str:
    """The feed's name where a client names an index, repository or source (uv allows only these
    characters); the same as `feedhouse connect` uses."""
    return re.sub(r"[^A-Za-z0-9._-]+", "-", feed).strip("-._") or "feedhouse"


def uv_variable(name: str) -> str:
    """uv's environment variable prefix for an index: its name upper-cased, other characters as ``_``."""
    return "UV_INDEX_" + re.sub(r"[^A-Z0-9]", "_", name.upper())


def _with_user(url: str, password: str | None = None) -> str:
    parts = urlsplit(url)
    userinfo = TOKEN_USER if password is None else f"{TOKEN_USER}:{password}"
    return urlunsplit((parts.scheme, f"{userinfo}@{parts.netloc}", parts.path, "", ""))


def clients(base: str, feed: str, *, public: bool, client_wheel: str, today: str) -> list[Client]:
    """The panel for feed ``feed`` of the deployment at ``base`` (scheme and host, no trailing slash).

    ``public``: installing needs no token, so the install lines carry none. ``today`` (a date, UTC)
    names the as-of index that pins a build to the feed as it is today.
    """
    segment = quote(feed, safe="")
    index = f"{base}/{segment}/simple/"
    upload = f"{base}/{segment}/upload/"
    name = index_name(feed)
    token = f"${TOKEN_VARIABLE}"
    install_index = index if public else _with_user(index, "${" + TOKEN_VARIABLE + "}")
    client_index = f"{base}/-/client/simple/"
    keyring_note = (
        "The keyring route needs the keyring backend: the first line of the feedhouse tab installs it, "
        f"and feedhouse login {base} stores your token for it."
    )
    uv_env = uv_variable(name)
    return [
        Client(
            "feedhouse",
            "feedhouse client",
            "Installs this deployment's client, keeps your token in the system keyring and configures "
            "pip, uv, twine, poetry and pdm for the feed, with no token in any file.",
            [
                Snippet(
                    "Shell",
                    f"uv tool install --index {client_index} feedhouse\n"
                    f"feedhouse login {base}\n"
                    f"feedhouse connect {feed}",
                ),
                Snippet("Without uv", f"pipx install {base}/-/client/{client_wheel}"),
            ],
        ),
        Client(
            "pip",
            "pip",
            "Install from the feed in one command, or point pip at it for good.",
            [
                Snippet("Install once (shell)", f'pip install --index-url "{install_index}" PACKAGE'),
                Snippet(
                    "pip.conf, through the keyring backend "
                    "(~/.config/pip/pip.conf; Windows: %APPDATA%\\pip\\pip.ini)",
                    f"[global]\nindex-url = {_with_user(index)}\nkeyring-provider = subprocess",
                ),
                Snippet(
                    "pip.conf, token in the URL (it then sits in the file)",
                    f"[global]\nindex-url = {_with_user(index, '<your token>')}",
                ),
                Snippet(
                    "A build pinned to the feed as it was at the start of today (an as-of index: what is "
                    "published later never reaches it)",
                    f"[global]\nindex-url = {_with_user(f'{base}/{segment}/as-of/{today}/simple/')}\n"
                    "keyring-provider = subprocess",
                ),
            ],
            keyring_note,
        ),
        Client(
            "uv",
            "uv",
            "Add the feed to a project's pyproject.toml as its default index (or to uv.toml, without "
            "the tool.uv. prefix).",
            [
                Snippet(
                    "pyproject.toml",
                    f'[[tool.uv.index]]\nname = "{name}"\nurl = "{_with_user(index)}"\n'
                    f'publish-url = "{_with_user(upload)}"\ndefault = true',
                ),
                Snippet(
                    "Shell: the token from the environment",
                    f'export {uv_env}_USERNAME={TOKEN_USER}\nexport {uv_env}_PASSWORD="{token}"\n'
                    f'uv add PACKAGE\nuv publish --publish-url {upload} --token "{token}" dist/*',
                ),
                Snippet(
                    "Shell: the token from the keyring backend",
                    "export UV_KEYRING_PROVIDER=subprocess\n"
                    f"uv add PACKAGE\nuv publish --index {name} dist/*",
                ),
            ],
            keyring_note,
        ),
        Client(
            "twine",
            "twine",
            "Publish with twine: a repository in ~/.pypirc, the token from the environment or the keyring.",
            [
                Snippet(
                    "~/.pypirc",
                    f"[distutils]\nindex-servers = {name}\n\n[{name}]\nrepository = {upload}\n"
                    f"username = {TOKEN_USER}",
                ),
                Snippet("Shell", f'TWINE_PASSWORD="{token}" twine upload -r {name} dist/*'),
                Snippet(
                    "Shell, without ~/.pypirc",
                    f'twine upload --repository-url {upload} -u {TOKEN_USER} -p "{token}" dist/*',
                ),
            ],
        ),
        Client(
            "poetry",
            "poetry",
            "Install from the feed in a poetry project, and publish to it.",
            [
                Snippet(
                    "Shell",
                    f"poetry source add --priority=primary {name} {index}\n"
                    f"poetry config repositories.{name} {upload}\n"
                    f'poetry config http-basic.{name} {TOKEN_USER} "{token}"\n'
                    f"poetry publish -r {name}",
                ),
            ],
        ),
        Client(
            "pdm",
            "pdm",
            "Install from the feed with pdm, and publish to it.",
            [
                Snippet(
                    "Shell",
                    f"pdm config pypi.url {index}\npdm config pypi.username {TOKEN_USER}\n"
                    f'pdm config pypi.password "{token}"\n'
                    f"pdm config repository.{name}.url {upload}\n"
                    f"pdm config repository.{name}.username {TOKEN_USER}\n"
                    f'pdm config repository.{name}.password "{token}"\n'
                    f"pdm publish -r {name}",
                ),
            ],
        ),
    ]
