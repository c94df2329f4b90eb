"""`feedhouse doctor`: what each client on this machine uses, and the traps of a private feed, each
with its fix: a token in a URL, a config file, a lockfile or the shell history; a keyring provider
set where the backend cannot answer; a token the deployment refuses; a feed the token cannot read."""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
from dataclasses import asdict, dataclass
from pathlib import Path
from urllib.parse import urlsplit

from feedhouse_keyring import USERNAME

from feedhouse_cli import config
from feedhouse_cli.api import Api
from feedhouse_cli.connect import (
    pdm_config_file,
    poetry_config_file,
    pypirc_file,
    script_python,
    uv_config_file,
)
from feedhouse_cli.errors import FAILED, CliError
from feedhouse_cli.files import parse_ini, parse_toml, read_text
from feedhouse_cli.output import emit_json, table

TOKEN_RE = re.compile(r"fhpat_[0-9a-f]+_[A-Za-z0-9_-]+")
# A URL with a password in it: scheme://user:password@host
CREDENTIAL_URL_RE = re.compile(r"[a-z][a-z0-9+.-]*://[^/\s:@\"']+:[^/\s@\"']+@[^\s\"']+", re.IGNORECASE)
LOCKFILES = ("uv.lock", "poetry.lock", "pdm.lock", "pylock.toml", "requirements.txt", "requirements-dev.txt")
HISTORIES = (".bash_history", ".zsh_history", ".local/share/fish/fish_history", ".python_history")


@dataclass
class Finding:
    severity: str  # "problem" or "info"
    what: str
    fix: str = ""


def _masked(text: str) -> str:
    text = TOKEN_RE.sub("fhpat_…", text)
    return CREDENTIAL_URL_RE.sub(lambda m: re.sub(r"://([^:/@]+):[^@]+@", r"://\1:…@", m.group(0)), text)


def _secret_in(value: str) -> bool:
    return bool(TOKEN_RE.search(value) or CREDENTIAL_URL_RE.search(value))


class Doctor:
    def __init__(self, url: str | None, project: Path) -> None:
        self.findings: list[Finding] = []
        self.project = project
        self.url = url
        self.token = None
        self.api: Api | None = None

    def problem(self, what: str, fix: str) -> None:
        self.findings.append(Finding("problem", _masked(what), fix))

    def info(self, what: str) -> None:
        self.findings.append(Finding("info", _masked(what)))

    # the login

    def login(self) -> None:
        try:
            target = config.target(self.url)
        except CliError as error:
            self.problem(error.message, "feedhouse login <deployment URL>")
            return
        self.url, self.token = target.url, target.token
        self.api = Api(target.url, target.token)
        try:
            who = self.api.call("GET", "/api/whoami")
        except CliError as error:
            self.problem(
                f"{target.url} refuses the stored token or cannot be reached: {error.message}",
                f"feedhouse login {target.url} (with a live token: an expired or revoked one is refused)",
            )
            self.api = None
            return
        token = who.get("token")
        if token is None:  # the bootstrap admin token
            self.info(f"logged in to {target.url} as the admin")
            return
        self.info(
            f"logged in to {target.url} as {who.get('user')}, token {token.get('name')!r}"
            f" (scope {token.get('scope')}, expires {token.get('expires') or 'never'})"
        )

    def feed_of(self, index_url: str) -> str | None:
        """The feed an index or upload URL of this deployment names."""
        if not self.url:
            return None
        base, parts = urlsplit(self.url), urlsplit(index_url)
        if (parts.hostname, parts.port) != (base.hostname, base.port) or parts.scheme != base.scheme:
            return None
        rest = parts.path[len(base.path) :].strip("/").split("/")
        return rest[0] if len(rest) >= 2 and rest[1] in ("simple", "upload") else None

    def readable(self, client: str, index_url: str) -> None:
        feed = self.feed_of(index_url)
        if feed is None or self.api is None:
            return
        try:
            self.api.call("GET", f"/api/feeds/{feed}")
        except CliError as error:
            self.problem(
                f"{client} uses feed {feed!r}, which the token cannot read: {error.message}",
                f"ask an owner of {feed} for a role (feedhouse permissions grant {feed} <you> reader),"
                " or log in with a token that covers it",
            )

    # clients

    def pip(self) -> None:
        pip = shutil.which("pip") or shutil.which("pip3")
        if pip is None:
            return
        try:
            debug = subprocess.run(
                [pip, "config", "debug"], capture_output=True, text=True, timeout=60, check=False
            )
        except (OSError, subprocess.TimeoutExpired):
            return
        settings: dict[str, tuple[str, str]] = {}
        source = ""
        for line in debug.stdout.splitlines():
            if line.startswith("  ") and not line.startswith("    "):
                source = line.strip().split(", exists:")[0]
                if "=" in source:  # env_var: PIP_INDEX_URL='…'
                    key, _, value = source.partition("=")
                    settings[key.lower().removeprefix("pip_").replace("_", "-")] = (value.strip("'"), key)
            elif line.startswith("    ") and ": " in line:
                key, _, value = line.strip().partition(": ")
                settings[key.split(".", 1)[-1]] = (value, source)
        index, where = settings.get("index-url", ("https://pypi.org/simple", "pip's default"))
        self.info(f"pip ({pip}) installs from {index} ({where})")
        for key in ("index-url", "extra-index-url"):
            value, where = settings.get(key, ("", ""))
            if _secret_in(value):
                self.problem(
                    f"pip's {key} in {where} holds a password or token",
                    "take it out of the URL: `feedhouse connect <feed> --pip` keeps it in the keyring",
                )
        if "extra-index-url" in settings:
            self.info(
                f"pip also reads extra-index-url {settings['extra-index-url'][0]}: the highest version of"
                " a name wins across indexes (dependency confusion)"
            )
        provider = settings.get("keyring-provider", ("", ""))[0]
        if provider == "import":
            python = script_python(pip)
            if (
                python
                and subprocess.run(
                    [python, "-c", "import feedhouse_keyring"], capture_output=True, timeout=60, check=False
                ).returncode
            ):
                self.problem(
                    f"pip's keyring-provider is import, but the Feedhouse backend is not installed beside"
                    f" that pip ({python}): pip finds no token and says only '(from versions: none)'",
                    "`feedhouse connect <feed> --pip` (keyring-provider = subprocess), or install"
                    f" the backend there: {python} -m pip install <deployment>/-/client/<wheel>",
                )
        elif provider == "subprocess":
            self.keyring_command(f"pip ({pip})", index, pip)
        self.readable("pip", index)

    def keyring_command(self, who: str, url: str, pip: str | None = None) -> None:
        """Whether the `keyring` command a subprocess provider runs gives the token for ``url``."""
        path = os.environ.get("PATH", "")
        if pip is not None:
            # pip skips a keyring in its own scripts directory
            scripts = Path(script_python(pip) or "").parent
            path = os.pathsep.join(p for p in path.split(os.pathsep) if Path(p) != scripts)
        keyring = shutil.which("keyring", path=path)
        if keyring is None:
            self.problem(
                f"{who} asks a `keyring` command for the token, and none is on PATH",
                "install the client with `uv tool install` or `pipx install` (it brings one)",
            )
            return
        parts = urlsplit(url)
        bare = parts._replace(netloc=parts.netloc.rpartition("@")[2]).geturl()
        found = subprocess.run(
            [keyring, "get", bare, USERNAME], capture_output=True, text=True, timeout=60, check=False
        )
        if self.token and found.stdout.strip() != self.token:
            self.problem(
                f"{who} asks {keyring} for the token of {bare}, and it does not give the one you logged in"
                " with",
                "put the feedhouse client's `keyring` first on PATH (uv tool install / pipx)",
            )

    def uv(self) -> None:
        files = [uv_config_file(), self.project / "uv.toml", self.project / "pyproject.toml"]
        for path in files:
            text = read_text(path)
            if text is None:
                continue
            try:
                document = parse_toml(path, text)
            except CliError as error:
                self.problem(error.message, f"fix {path}")
                continue
            settings = document.get("tool", {}).get("uv", {}) if path.name == "pyproject.toml" else document
            for index in settings.get("index", []):
                url = str(index.get("url", ""))
                self.info(f"uv index {index.get('name')!r} {url} ({path})")
                if _secret_in(url):
                    self.problem(
                        f"uv index {index.get('name')!r} in {path} holds a password or token",
                        "`feedhouse connect <feed> --uv` keeps it in the keyring",
                    )
                elif self.feed_of(url) is not None:
                    if settings.get("keyring-provider") != "subprocess" and not os.environ.get(
                        "UV_KEYRING_PROVIDER"
                    ):
                        self.problem(
                            f"uv index {index.get('name')!r} ({path}) needs the token, and uv has no keyring"
                            " provider: it sends none",
                            "`feedhouse connect <feed> --uv`",
                        )
                    elif "@" not in urlsplit(url).netloc:
                        name = re.sub(r"\W", "_", str(index.get("name"))).upper()
                        if not os.environ.get(f"UV_INDEX_{name}_USERNAME"):
                            self.problem(
                                f"uv index {index.get('name')!r} ({path}) names no user, and uv asks the"
                                " keyring only for a known user name",
                                "`feedhouse connect <feed> --uv` (puts __token__@ in the URL)",
                            )
                    self.readable("uv", url)

    def twine(self) -> None:
        path = pypirc_file()
        text = read_text(path)
        if text is None:
            return
        try:
            updater = parse_ini(path, text)
        except CliError as error:
            self.problem(error.message, f"fix {path}")
            return
        for section in updater.sections():
            if updater[section].has_option("repository"):
                self.info(f"twine -r {section} uploads to {updater[section]['repository'].value} ({path})")
            if updater[section].has_option("password"):
                self.problem(f"{path} [{section}] holds a password", "remove it: twine asks the keyring")

    def poetry_and_pdm(self) -> None:
        for client, path, key in (
            ("poetry", poetry_config_file(), "repositories"),
            ("pdm", pdm_config_file(), "repository"),
        ):
            try:
                document = parse_toml(path, read_text(path))
            except CliError as error:
                self.problem(error.message, f"fix {path}")
                continue
            for name, repository in document.get(key, {}).items():
                self.info(f"{client} -r {name} publishes to {repository.get('url')} ({path})")
            if client == "pdm" and "pypi" in document:
                self.info(f"pdm installs from {document['pypi'].get('url')} ({path})")
        for path in (poetry_config_file().with_name("auth.toml"), pdm_config_file()):
            text = read_text(path)
            if text and (TOKEN_RE.search(text) or re.search(r"^\s*password\s*=", text, re.MULTILINE)):
                self.problem(
                    f"{path} holds a password or token", "remove it: the keyring backend has the token"
                )

    def lockfiles_and_history(self) -> None:
        for name in LOCKFILES:
            path = self.project / name
            text = read_text(path) or ""
            for number, line in enumerate(text.splitlines(), 1):
                if _secret_in(line):
                    self.problem(
                        f"{path}:{number} holds a token or password: {line.strip()[:120]}",
                        "revoke that token (feedhouse tokens revoke <id>) and regenerate the file from an"
                        " index URL without credentials (pip-compile: --no-emit-index-url)",
                    )
                    break
        for name in HISTORIES:
            path = Path.home() / name
            try:
                text = path.read_bytes().decode("utf-8", "replace")
            except OSError:
                continue
            if TOKEN_RE.search(text):
                self.problem(
                    f"{path} holds a Feedhouse token",
                    "revoke it (feedhouse tokens revoke <id>), then"
                    " remove the line; give tokens on standard input (feedhouse login --token-stdin)",
                )

    def run(self) -> list[Finding]:
        self.login()
        self.pip()
        self.uv()
        self.twine()
        self.poetry_and_pdm()
        self.lockfiles_and_history()
        return self.findings


def doctor(args: argparse.Namespace) -> None:
    findings = Doctor(args.url, Path(args.project or ".").resolve()).run()
    if args.json:
        emit_json({"findings": [asdict(f) for f in findings]})
    else:
        table([(f.severity, f.what, f.fix) for f in findings], ("", "finding", "fix"))
    problems = [f for f in findings if f.severity == "problem"]
    if problems:
        raise CliError(f"{len(problems)} problem(s) found", FAILED)


def add_parser(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser(
        "doctor",
        parents=[common],
        help="diagnose this machine: each client's index, tokens in URLs or files, keyring trouble",
    )
    p.add_argument(
        "--project", metavar="DIR", help="the project whose lockfiles and settings to check (default: .)"
    )
    p.set_defaults(handler=doctor)
