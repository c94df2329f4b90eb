"""`feedhouse connect <feed>`: point pip, uv, twine, poetry and pdm at a feed, then check each one.

No file written here ever holds the token: the clients get it from the keyring backend (feedhouse_keyring),
which reads what `feedhouse login` stored. Each client reaches the backend its own way, and the choices
below follow from it (README, "Pointing clients at a private feed"):

- pip: ``keyring-provider = subprocess`` runs the ``keyring`` command that this distribution installs
  beside the backend (on PATH through uv tool or pipx), so it works whatever environment pip runs in;
  ``import`` would need the backend inside every environment. pip skips a ``keyring`` in its own
  scripts directory, and pips before 23.3 ask the command only for a URL that names a user: hence
  ``__token__@`` in the index URL (a user name, not a secret).
- uv: the same subprocess provider; uv asks it only for a known user name, which the URL gives.
- pdm: asks keyring through unearth: the package if importable in pdm's environment, else the command.
- twine and poetry import keyring in their own environment: the backend must be installed there (the
  check says how when it is not).
"""

from __future__ import annotations

import argparse
import hashlib
import os
import re
import secrets
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib.metadata import version
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import platformdirs
import tomlkit
from feedhouse_keyring import USERNAME

from feedhouse_cli import config
from feedhouse_cli.api import Api, segment
from feedhouse_cli.errors import FAILED, CliError
from feedhouse_cli.files import Change, ini_section, parse_ini, parse_toml, read_text
from feedhouse_cli.output import table

CLIENTS = ("pip", "uv", "twine", "poetry", "pdm")
CHECK_TIMEOUT = 180


@dataclass(frozen=True)
class Feed:
    deployment: str
    name: str
    token: str

    @property
    def index(self) -> str:
        return f"{self.deployment}/{segment(self.name)}/simple/"

    @property
    def upload(self) -> str:
        return f"{self.deployment}/{segment(self.name)}/upload/"

    @property
    def key(self) -> str:
        """The name of the index, repository or source in the clients' files (uv allows only these
        characters)."""
        return re.sub(r"[^A-Za-z0-9._-]+", "-", self.name).strip("-._") or "feedhouse"

    @property
    def wheel_url(self) -> str:
        return f"{self.deployment}/-/client/feedhouse-{version('feedhouse')}-py3-none-any.whl"


def with_user(url: str) -> str:
    """``url`` naming the user ``__token__``: pip and uv then ask the keyring for its password."""
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, f"{USERNAME}@{parts.netloc}", parts.path, "", ""))


# Where each client keeps its user configuration (as each one computes it).


def _xdg_config() -> Path:
    return Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config")


def pip_config_file() -> Path:
    if os.name == "nt":
        return Path(os.environ["APPDATA"]) / "pip" / "pip.ini"
    if sys.platform == "darwin":
        legacy_mac = Path.home() / "Library" / "Application Support" / "pip"
        if legacy_mac.is_dir():  # pip prefers it on macOS when it exists
            return legacy_mac / "pip.conf"
    return _xdg_config() / "pip" / "pip.conf"


def uv_config_file() -> Path:
    if os.name == "nt":
        return Path(os.environ["APPDATA"]) / "uv" / "uv.toml"
    return _xdg_config() / "uv" / "uv.toml"


def pypirc_file() -> Path:
    return Path.home() / ".pypirc"


def poetry_config_file() -> Path:
    configured = os.environ.get("POETRY_CONFIG_DIR")
    base = (
        Path(configured)
        if configured
        else Path(platformdirs.user_config_dir("pypoetry", appauthor=False, roaming=True))
    )
    return base / "config.toml"


def pdm_config_file() -> Path:
    return Path(platformdirs.user_config_dir("pdm", appauthor=False)) / "config.toml"


# What each client's files become.


@dataclass
class Plan:
    client: str
    changes: list[Change] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def plan_pip(feed: Feed, project: Path | None) -> Plan:
    path = pip_config_file()
    text = read_text(path)
    updater = parse_ini(path, text)
    section = ini_section(updater, "global")
    section["index-url"] = with_user(feed.index)
    section["keyring-provider"] = "subprocess"
    plan = Plan("pip", [Change(path, text, str(updater))])
    if section.has_option("extra-index-url"):
        plan.notes.append(
            f"{path} also has extra-index-url: pip picks the highest version across all indexes, so a"
            " public package can stand in for yours (dependency confusion). Prefer the feed alone,"
            " with PyPI as its upstream."
        )
    for name in ("install", "download", "wheel"):
        if updater.has_section(name) and updater[name].has_option("index-url"):
            plan.notes.append(
                f"{path} [{name}] sets its own index-url, which wins over [global] for pip {name}."
            )
    return plan


def _uv_table(document: tomlkit.TOMLDocument, project: Path | None):
    if project is None:
        return document
    if "tool" not in document:
        document["tool"] = tomlkit.table(is_super_table=True)
    if "uv" not in document["tool"]:
        document["tool"]["uv"] = tomlkit.table()
    return document["tool"]["uv"]


def _named_entry(container, key: str, name: str):
    """The table named ``name`` in the array of tables ``container[key]``, first in it: uv and poetry
    try indexes in their order, so the feed answers for its names before any other index is asked."""
    if key not in container:
        container[key] = tomlkit.aot()
    entries = container[key]
    for position, entry in enumerate(entries):
        if entry.get("name") == name:
            if position:
                entries.insert(0, entries.pop(position))
            return entries[0]
    entry = tomlkit.table()
    entry["name"] = name
    entries.insert(0, entry)
    return entries[0]


def plan_uv(feed: Feed, project: Path | None) -> Plan:
    path = project / "pyproject.toml" if project else uv_config_file()
    text = read_text(path)
    document = parse_toml(path, text)
    settings = _uv_table(document, project)
    settings["keyring-provider"] = "subprocess"
    plan = Plan("uv")
    # uv asks every other index before the default one: the feed becomes the default (in place of
    # PyPI, which its upstream can serve), a former default is kept for the packages pinned to it.
    for other in settings.get("index", []):
        if other.get("name") == feed.key:
            continue
        if other.get("default"):
            del other["default"]
            other["explicit"] = True
            plan.notes.append(
                f"{path}: index {other.get('name')!r} was the default; it now serves only the packages"
                " pinned to it in [tool.uv.sources] (explicit = true)."
            )
        elif not other.get("explicit"):
            plan.notes.append(
                f"{path}: uv asks index {other.get('name')!r} before the feed for every package; make it"
                " explicit = true unless you mean that."
            )
    entry = _named_entry(settings, "index", feed.key)
    entry["url"] = with_user(feed.index)
    entry["publish-url"] = with_user(feed.upload)
    entry["default"] = True
    plan.changes.append(Change(path, text, tomlkit.dumps(document)))
    plan.notes.append(f"uv publish --index {feed.key} dist/*   publishes to the feed.")
    return plan


def plan_twine(feed: Feed, project: Path | None) -> Plan:
    path = pypirc_file()
    text = read_text(path)
    updater = parse_ini(path, text)
    distutils = ini_section(updater, "distutils")
    servers = distutils["index-servers"].as_list() if distutils.has_option("index-servers") else []
    if feed.key not in servers:
        if not distutils.has_option("index-servers"):
            distutils["index-servers"] = ""
        distutils["index-servers"].set_values([*servers, feed.key])
    section = ini_section(updater, feed.key)
    section["repository"] = feed.upload
    section["username"] = USERNAME
    plan = Plan("twine", [Change(path, text, str(updater), mode=0o600)])
    if section.has_option("password"):
        plan.notes.append(f"{path} [{feed.key}] holds a password: remove it, the keyring has the token.")
    plan.notes.append(f"twine upload -r {feed.key} dist/*   publishes to the feed.")
    return plan


def plan_poetry(feed: Feed, project: Path | None) -> Plan:
    path = poetry_config_file()
    text = read_text(path)
    document = parse_toml(path, text)
    if "repositories" not in document:
        document["repositories"] = tomlkit.table(is_super_table=True)
    if feed.key not in document["repositories"]:
        document["repositories"][feed.key] = tomlkit.table()
    document["repositories"][feed.key]["url"] = feed.upload
    plan = Plan("poetry", [Change(path, text, tomlkit.dumps(document))])
    if project is not None:
        pyproject = project / "pyproject.toml"
        before = read_text(pyproject)
        doc = parse_toml(pyproject, before)
        if "tool" not in doc:
            doc["tool"] = tomlkit.table(is_super_table=True)
        if "poetry" not in doc["tool"]:
            doc["tool"]["poetry"] = tomlkit.table()
        source = _named_entry(doc["tool"]["poetry"], "source", feed.key)
        source["url"] = feed.index
        source["priority"] = "primary"
        plan.changes.append(Change(pyproject, before, tomlkit.dumps(doc)))
    else:
        plan.notes.append(
            "poetry installs from sources in each project: run"
            f" `feedhouse connect {feed.name} --poetry --project .` there"
            f" (or `poetry source add --priority=primary {feed.key} {feed.index}`)."
        )
    plan.notes.append(f"poetry publish -r {feed.key}   publishes to the feed.")
    return plan


def plan_pdm(feed: Feed, project: Path | None) -> Plan:
    path = pdm_config_file()
    text = read_text(path)
    document = parse_toml(path, text)
    plan = Plan("pdm")
    if project is None:
        if "pypi" not in document:
            document["pypi"] = tomlkit.table()
        document["pypi"]["url"] = feed.index
    if "repository" not in document:
        document["repository"] = tomlkit.table(is_super_table=True)
    if feed.key not in document["repository"]:
        document["repository"][feed.key] = tomlkit.table()
    document["repository"][feed.key]["url"] = feed.upload
    document["repository"][feed.key]["username"] = USERNAME
    plan.changes.append(Change(path, text, tomlkit.dumps(document)))
    if project is not None:
        pyproject = project / "pyproject.toml"
        before = read_text(pyproject)
        doc = parse_toml(pyproject, before)
        if "tool" not in doc:
            doc["tool"] = tomlkit.table(is_super_table=True)
        if "pdm" not in doc["tool"]:
            doc["tool"]["pdm"] = tomlkit.table()
        source = _named_entry(doc["tool"]["pdm"], "source", "pypi")  # "pypi" replaces the default index
        source["url"] = feed.index
        plan.changes.append(Change(pyproject, before, tomlkit.dumps(doc)))
    plan.notes.append(f"pdm publish -r {feed.key}   publishes to the feed.")
    return plan


PLANNERS: dict[str, Callable[[Feed, Path | None], Plan]] = {
    "pip": plan_pip,
    "uv": plan_uv,
    "twine": plan_twine,
    "poetry": plan_poetry,
    "pdm": plan_pdm,
}


# Checks: each client resolves a page of the feed as configured.


@dataclass
class Check:
    ok: bool
    detail: str


def _run(args: list[str], cwd: Path, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(
            args, cwd=cwd, input=stdin, capture_output=True, text=True, timeout=CHECK_TIMEOUT, check=False
        )
    except subprocess.TimeoutExpired:
        return subprocess.CompletedProcess(args, 124, "", f"{args[0]} did not finish in {CHECK_TIMEOUT} s")


def _tail(result: subprocess.CompletedProcess[str], lines: int = 6) -> str:
    said = [line for line in (result.stdout + result.stderr).splitlines() if line.strip()]
    return "\n".join("    " + line for line in said[-lines:])


def _refused(output: str) -> str | None:
    for status, meaning in (
        ("401", "401: no token was sent"),
        ("403", "403: the token may not read the feed"),
    ):
        if re.search(rf"\b{status}\b", output):
            return meaning
    return None


def _page_check(
    name: str, result: subprocess.CompletedProcess[str], project: str, exists: bool, missing: str
) -> Check:
    output = result.stdout + result.stderr
    refused = _refused(output)
    if exists and result.returncode == 0:
        return Check(True, f"{name} resolved {project} from the feed")
    if not exists and refused is None and missing in output:
        return Check(True, f"{name} reached the feed with the token (the feed has no package yet)")
    reason = f"the feed answered {refused}" if refused else f"{name} exited {result.returncode}"
    return Check(False, f"{reason}:\n{_tail(result)}")


def check_pip(feed: Feed, project: str, exists: bool, workdir: Path, location: Path | None) -> Check:
    pip = shutil.which("pip") or shutil.which("pip3")
    if pip is None:
        return Check(False, "no pip on PATH")
    command = [pip, "download", "-v", "--no-deps", "--no-cache-dir", "--disable-pip-version-check"]
    result = _run([*command, "--dest", str(workdir / "pip"), project], workdir)
    check = _page_check("pip", result, project, exists, "No matching distribution")
    if not check.ok and "Keyring provider set: disabled" in result.stdout + result.stderr:
        check.detail += (
            f"\n  {pip} found no `keyring` command outside its own environment: install feedhouse with"
            f" `uv tool install` or `pipx install` (see {feed.deployment}/-/client/), which put one on PATH."
        )
    return check


def check_uv(feed: Feed, project: str, exists: bool, workdir: Path, location: Path | None) -> Check:
    uv = shutil.which("uv")
    if uv is None:
        return Check(False, "no uv on PATH")
    command = [uv, "pip", "compile", "-", "--no-deps", "--no-header", "--no-cache", "--quiet"]
    result = _run(command, location or workdir, stdin=f"{project}\n")
    return _page_check("uv", result, project, exists, "not found in the package registry")


def check_pdm(feed: Feed, project: str, exists: bool, workdir: Path, location: Path | None) -> Check:
    pdm = shutil.which("pdm")
    if pdm is None:
        return Check(False, "no pdm on PATH")
    trial = workdir / "pdm"
    trial.mkdir()
    document = tomlkit.document()
    document["project"] = {"name": "feedhouse-connect-check", "version": "0", "dependencies": [project]}
    document["tool"] = {"pdm": {"distribution": False}}
    if location is not None:  # the project's own source
        sources = parse_toml(location / "pyproject.toml", read_text(location / "pyproject.toml"))
        document["tool"]["pdm"]["source"] = sources["tool"]["pdm"]["source"]
    (trial / "pyproject.toml").write_text(tomlkit.dumps(document))
    result = _run([pdm, "lock"], trial)
    return _page_check("pdm", result, project, exists, "Unable to find candidates")


_KEYRING_PROBE = """
import hashlib, sys
try:
    import keyring
except ImportError:
    print("no-keyring")
    raise SystemExit
found = keyring.get_password(sys.argv[1], sys.argv[2])
print(hashlib.sha256(found.encode()).hexdigest() if found else "none")
"""


def script_python(script: str) -> str | None:
    """The Python a console script runs with (its #! line), where twine and poetry import keyring."""
    try:
        with open(script, "rb") as file:
            first = file.readline().decode("utf-8", "replace").strip()
    except OSError:
        return None
    if not first.startswith("#!"):
        return None
    words = first[2:].split()
    if words and Path(words[0]).name == "env" and len(words) > 1:  # #!/usr/bin/env python3
        return shutil.which(words[-1])
    return words[0] if words else None


def _keyring_check(name: str, url: str, feed: Feed, fix: str) -> Check:
    script = shutil.which(name)
    if script is None:
        return Check(False, f"no {name} on PATH")
    python = script_python(script)
    if python is None:
        return Check(False, f"cannot tell which Python {script} runs with")
    result = _run([python, "-c", _KEYRING_PROBE, url, USERNAME], Path.cwd())
    answer = result.stdout.strip()
    if answer == hashlib.sha256(feed.token.encode()).hexdigest():
        return Check(True, f"{name}'s keyring ({python}) gives it the token for {url}")
    why = "which has no keyring" if answer == "no-keyring" else "whose keyring does not give it the token"
    return Check(False, f"{name} runs {python}, {why}: install the Feedhouse backend there:\n    {fix}")


def check_twine(feed: Feed, project: str, exists: bool, workdir: Path, location: Path | None) -> Check:
    python = script_python(shutil.which("twine") or "") or "<twine's python>"
    return _keyring_check("twine", feed.upload, feed, f"{python} -m pip install {feed.wheel_url}")


def check_poetry(feed: Feed, project: str, exists: bool, workdir: Path, location: Path | None) -> Check:
    return _keyring_check("poetry", feed.index, feed, f"poetry self add {feed.wheel_url}")


CHECKS = {"pip": check_pip, "uv": check_uv, "twine": check_twine, "poetry": check_poetry, "pdm": check_pdm}


def installed_clients() -> list[str]:
    found = [name for name in CLIENTS if shutil.which(name)]
    if "pip" not in found and shutil.which("pip3"):
        found.insert(0, "pip")
    return found


def connect(args: argparse.Namespace) -> None:
    target = config.target(args.url)
    api = Api(target.url, target.token)
    feed_info = api.call("GET", f"/api/feeds/{segment(args.feed)}")  # 404 / 403 stop here, with the reason
    feed = Feed(target.url, feed_info["name"], target.token)
    chosen = [name for name in CLIENTS if getattr(args, name)] or installed_clients()
    if not chosen:
        raise CliError("Found none of pip, uv, twine, poetry, pdm on PATH; name one (--pip, --uv, ...).")
    project = Path(args.project).resolve() if args.project else None
    if project is not None and not (project / "pyproject.toml").is_file():
        raise CliError(f"{project} has no pyproject.toml.", FAILED)

    plans = [PLANNERS[name](feed, project) for name in chosen]  # every file parsed before any is written
    for plan in plans:
        for change in plan.changes:
            if not change.changed:
                print(f"{plan.client}: {change.path} already set")
                continue
            verb = "would change" if args.dry_run else "changed"
            print(f"{plan.client}: {verb} {change.path}\n{change.diff()}")
            if not args.dry_run:
                change.write()
        for note in plan.notes:
            print(f"{plan.client}: {note}")
    if not feed_info.get("upstreams"):
        print(
            f"Note: feed {feed.name} has no upstreams, so only its own packages install through it; add PyPI"
            f" with `feedhouse feeds update {feed.name} --upstream pypi`."
        )
    if args.dry_run or args.no_verify:
        return

    listing = api.call("GET", f"/api/feeds/{segment(feed.name)}/packages", params={"limit": 1})
    exists = bool(listing["packages"])
    probe = listing["packages"][0]["name"] if exists else f"feedhouse-check-{secrets.token_hex(4)}"
    results = []
    with tempfile.TemporaryDirectory(prefix="feedhouse-connect-") as tmp:
        for name in chosen:
            check = CHECKS[name](feed, probe, exists, Path(tmp), project)
            results.append((name, "ok" if check.ok else "FAILED", check.detail))
    print()
    table(results, ("client", "check", "detail"))
    failed = [name for name, status, _ in results if status != "ok"]
    if failed:
        raise CliError(f"connected, but {', '.join(failed)} could not use the feed: see above.", FAILED)


def add_parser(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser(
        "connect",
        parents=[common],
        help="point pip, uv, twine, poetry and pdm at a feed (no secret in any file), then check each",
        description="Write each client's configuration for the feed, without the token, and check that the "
        "client then reaches the feed. Without client options: the clients found on PATH.",
    )
    p.add_argument("feed")
    for name in CLIENTS:
        p.add_argument(f"--{name}", action="store_true", help=f"configure {name}")
    p.add_argument(
        "--project", metavar="DIR", help="also configure this project's pyproject.toml (uv, poetry, pdm)"
    )
    p.add_argument("--dry-run", action="store_true", help="show the changes, write nothing")
    p.add_argument("--no-verify", action="store_true", help="skip the checks")
    p.set_defaults(handler=connect)
