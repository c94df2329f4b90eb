"""`feedhouse import <source> --feed <feed>`: copy distributions from another simple index (PEP 503
HTML or PEP 691 JSON: Azure Artifacts, devpi, pypiserver, Artifactory, another Feedhouse feed) or from a
directory of wheels and sdists into a feed.

Each file is checked against the hash its source lists (pypi-simple verifies the download) and uploaded
through the feed's upload API with the metadata it carries, so the feed checks it as it checks any
upload; its upload time is kept where the source gives one (the owner role is needed for that), and a
yanked version is yanked in the feed with its reason. What the feed already holds with the same bytes is
skipped, so an interrupted import resumes by running it again.
"""

from __future__ import annotations

import argparse
import getpass
import hashlib
import os
import sys
import tarfile
import tempfile
import zipfile
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import keyring
import requests
from packaging.metadata import parse_email
from packaging.utils import (
    InvalidSdistFilename,
    InvalidWheelFilename,
    canonicalize_name,
    parse_sdist_filename,
    parse_wheel_filename,
)
from pypi_simple import (
    ACCEPT_JSON_PREFERRED,
    DigestMismatchError,
    NoDigestsError,
    NoSuchProjectError,
    PyPISimple,
)
from tqdm import tqdm

from feedhouse_cli import config
from feedhouse_cli.api import Api, segment, server_error, user_agent
from feedhouse_cli.errors import AUTH, FAILED, NOT_FOUND, USAGE, CliError, exit_code_for_status
from feedhouse_cli.output import emit_json, table

SDIST_SUFFIXES = (".tar.gz", ".zip")
# Core-metadata fields whose form field is named otherwise, or holds several values (as twine sends them).
_RENAMED = {
    "platforms": "platform",
    "supported_platforms": "supported_platform",
    "license_files": "license_file",
}


@dataclass
class Source:
    """One file to copy: where it comes from, and what the source says about it."""

    project: str
    filename: str
    version: str
    sha256: str | None = None
    upload_time: datetime | None = None
    yanked: bool = False
    yanked_reason: str | None = None
    path: Path | None = None  # a directory's file
    package: Any = None  # an index's pypi_simple.DistributionPackage


@dataclass
class Outcome:
    copied: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    refused: list[tuple[str, str]] = field(default_factory=list)
    yanked: list[str] = field(default_factory=list)


def _version_of(filename: str) -> tuple[str, str]:
    """(normalized project, version) from a distribution's file name."""
    if filename.endswith(".whl"):
        name, version, _, _ = parse_wheel_filename(filename)
    else:
        name, version = parse_sdist_filename(filename)
    return str(name), str(version)


def directory_files(directory: Path, projects: set[str]) -> tuple[list[Source], list[tuple[str, str]]]:
    found, refused = [], []
    for path in sorted(directory.rglob("*")):
        if not path.is_file() or not path.name.endswith((".whl", *SDIST_SUFFIXES)):
            continue
        try:
            project, version = _version_of(path.name)
        except (InvalidWheelFilename, InvalidSdistFilename) as error:
            refused.append((path.name, f"not a distribution file name: {error}"))
            continue
        if not projects or project in projects:
            found.append(
                Source(project, path.name, version, hashlib.sha256(path.read_bytes()).hexdigest(), path=path)
            )
    return found, refused


def _source_auth(url: str, user: str | None) -> tuple[str, str] | None:
    """Credentials for the source index: the keyring's (which answers for a Feedhouse deployment you
    logged in to), else none; a prompt comes only after a 401."""
    credential = keyring.get_credential(url, user)
    return (credential.username, credential.password) if credential is not None else None


def _prompt(url: str, user: str | None) -> tuple[str, str]:
    if not sys.stdin.isatty():
        raise CliError(
            f"{url} needs credentials: store them in your keyring (`keyring set {url} <user>`) or run"
            " feedhouse import in a terminal to be asked.",
            AUTH,
        )
    name = user or input(f"User name for {url}: ").strip()
    return name, getpass.getpass(f"Password or token for {name} at {url}: ")


def index_files(
    url: str, user: str | None, projects: list[str], outcome: Outcome
) -> tuple[PyPISimple, list[Source]]:
    session = requests.Session()
    session.headers["User-Agent"] = user_agent()
    session.auth = _source_auth(url, user)
    # JSON first: only PEP 691 pages give upload times (and indexes may answer HTML to a tie).
    client = PyPISimple(url, session=session, accept=ACCEPT_JSON_PREFERRED)

    def fetch(call):
        try:
            return call()
        except requests.HTTPError as error:
            status = error.response.status_code if error.response is not None else 0
            if status == 401 and session.auth is None:
                session.auth = _prompt(url, user)
                return fetch(call)
            raise CliError(
                f"{url}: {server_error(error.response).message} [HTTP {status}]", exit_code_for_status(status)
            ) from None
        except requests.RequestException as error:
            raise CliError(f"cannot reach {url}: {error}", 7) from None

    names = projects or fetch(client.get_index_page).projects
    found = []
    for name in names:
        try:
            page = fetch(lambda name=name: client.get_project_page(name))
        except NoSuchProjectError:
            outcome.refused.append((name, f"no such project at {url}"))
            continue
        for package in page.packages:
            if package.package_type not in ("wheel", "sdist"):
                outcome.refused.append((package.filename, f"not a wheel or sdist ({package.package_type})"))
                continue
            try:
                project, version = _version_of(package.filename)
            except (InvalidWheelFilename, InvalidSdistFilename) as error:
                outcome.refused.append((package.filename, f"not a distribution file name: {error}"))
                continue
            found.append(
                Source(
                    project,
                    package.filename,
                    version,
                    sha256=package.digests.get("sha256"),
                    upload_time=package.upload_time,
                    yanked=package.is_yanked,
                    yanked_reason=package.yanked_reason or None,
                    package=package,
                )
            )
    return client, found


def core_metadata(path: Path) -> dict[str, Any]:
    """The file's own METADATA or PKG-INFO, parsed (packaging.metadata)."""
    name = path.name
    text = None
    if name.endswith(".whl") or name.endswith(".zip"):
        with zipfile.ZipFile(path) as archive:
            wanted = [
                n
                for n in archive.namelist()
                if (name.endswith(".whl") and n.count("/") == 1 and n.endswith(".dist-info/METADATA"))
                or (name.endswith(".zip") and n.count("/") == 1 and n.endswith("/PKG-INFO"))
            ]
            text = archive.read(wanted[0]) if wanted else None
    else:
        with tarfile.open(path) as archive:
            member = next(
                (m for m in archive.getmembers() if m.name.count("/") == 1 and m.name.endswith("/PKG-INFO")),
                None,
            )
            extracted = archive.extractfile(member) if member is not None else None
            text = extracted.read() if extracted is not None else None
    if text is None:
        raise ValueError("it holds no METADATA or PKG-INFO")
    raw, _ = parse_email(text)
    return raw


def upload_form(source: Source, path: Path, keep_time: bool) -> list[tuple[str, str]]:
    """The legacy upload API's fields, as twine fills them from the file's metadata."""
    raw = core_metadata(path)
    fields: list[tuple[str, str]] = [(":action", "file_upload"), ("protocol_version", "1")]
    for key, value in raw.items():
        name = _RENAMED.get(key, key)
        if key == "keywords":
            fields.append((name, ",".join(value)))
        elif key == "project_urls":
            fields += [(name, f"{label}, {url}") for label, url in value.items()]
        elif isinstance(value, list):
            fields += [(name, item) for item in value]
        elif isinstance(value, str):
            fields.append((name, value))
    wheel = path.name.endswith(".whl")
    fields.append(("filetype", "bdist_wheel" if wheel else "sdist"))
    fields.append(("pyversion", path.name.split("-")[-3] if wheel else "source"))
    fields.append(("sha256_digest", hashlib.sha256(path.read_bytes()).hexdigest()))
    if keep_time and source.upload_time is not None:
        moment = source.upload_time
        if moment.tzinfo is None:  # pypi-simple gives PEP 700 times as UTC
            moment = moment.replace(tzinfo=timezone.utc)
        fields.append(("upload_time", moment.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")))
    return fields


class Target:
    """The feed being imported into: what it holds, uploads and yanks."""

    def __init__(self, api: Api, feed: str) -> None:
        self.api = api
        self.feed = feed
        self.held: dict[str, dict[str, Any]] = {}  # project -> the package API's answer

    def project(self, name: str) -> dict[str, Any]:
        key = canonicalize_name(name)
        if key not in self.held:
            try:
                self.held[key] = self.api.call(
                    "GET", f"/api/feeds/{segment(self.feed)}/packages/{segment(key)}"
                )
            except CliError as error:
                if error.exit_code != NOT_FOUND:
                    raise
                self.held[key] = {"versions": []}
        return self.held[key]

    def file_sha256(self, source: Source) -> str | None:
        for version in self.project(source.project)["versions"]:
            for f in version["files"]:
                if f["filename"] == source.filename:
                    return f["hashes"]["sha256"]
        return None

    def version_yank(self, source: Source) -> tuple[bool, str | None]:
        for version in self.project(source.project)["versions"]:
            if any(f["filename"] == source.filename for f in version["files"]):
                return version["yanked"], version.get("yanked_reason")
        return False, None

    def upload(self, fields: list[tuple[str, str]], path: Path) -> str | None:
        """None when the feed took the file, else its reason for refusing it."""
        with path.open("rb") as content:
            response = self.api.send(
                "POST",
                f"{self.api.url}/{segment(self.feed)}/upload/",
                data=fields,
                files={"content": (path.name, content, "application/octet-stream")},
            )
        if response.status_code == 200:
            return None
        error = server_error(response)
        if error.status in (401, 403) and "upload_time" not in error.message:
            raise CliError(
                f"{error.message} [HTTP {error.status} from the feed's upload]",
                exit_code_for_status(error.status),
            )
        return f"{error.message} [HTTP {error.status}]"

    def yank(self, source: Source) -> None:
        project, version = segment(source.project), segment(source.version)
        path = f"/api/feeds/{segment(self.feed)}/packages/{project}/versions/{version}/yank"
        self.api.call("POST", path, {"reason": source.yanked_reason} if source.yanked_reason else None)
        self.held.pop(canonicalize_name(source.project), None)


def copy(
    source: Source,
    client: PyPISimple | None,
    target: Target,
    workdir: Path,
    keep_time: bool,
    outcome: Outcome,
) -> None:
    held = target.file_sha256(source)
    if held is not None and source.sha256 is not None and held != source.sha256:
        outcome.refused.append((source.filename, "the feed holds another file of this name (other bytes)"))
        return
    if held is None:
        path = source.path
        if path is None:
            path = workdir / source.filename
            try:
                client.download_package(source.package, path, verify=True)
            except NoDigestsError:
                outcome.refused.append((source.filename, "the source lists no hash to check it against"))
                return
            except DigestMismatchError as error:
                outcome.refused.append((source.filename, f"its hash does not match the source's: {error}"))
                return
            except requests.RequestException as error:
                outcome.refused.append((source.filename, f"download failed: {error}"))
                return
        try:
            fields = upload_form(source, path, keep_time)
        except (ValueError, OSError, zipfile.BadZipFile, tarfile.TarError) as error:
            outcome.refused.append((source.filename, f"its metadata cannot be read: {error}"))
            return
        reason = target.upload(fields, path)
        if source.path is None:
            path.unlink(missing_ok=True)
        if reason is not None:
            outcome.refused.append((source.filename, reason))
            return
        target.held.pop(canonicalize_name(source.project), None)
        outcome.copied.append(source.filename)
    else:
        outcome.skipped.append(source.filename)
    if source.yanked and target.version_yank(source) != (True, source.yanked_reason):
        target.yank(source)
        outcome.yanked.append(f"{source.project} {source.version}")


def run_import(args: argparse.Namespace) -> None:
    settings = config.target(args.url)
    api = Api(settings.url, settings.token)
    api.call("GET", f"/api/feeds/{segment(args.feed)}")  # a feed that is missing or out of reach stops here
    outcome = Outcome()
    projects = [canonicalize_name(p) for p in args.project or []]
    source = args.source
    client = None
    if os.path.isdir(source):
        files, refused = directory_files(Path(source), set(projects))
        outcome.refused += refused
    else:
        parts = urlsplit(source)
        if parts.scheme not in ("http", "https"):
            raise CliError(f"{source!r} is neither a directory nor an index URL", USAGE)
        if parts.password:
            raise CliError("Leave the password out of the URL: the keyring or a prompt gives it.", USAGE)
        user = args.source_user or parts.username
        bare = parts._replace(netloc=parts.netloc.rpartition("@")[2]).geturl()
        client, files = index_files(bare if bare.endswith("/") else bare + "/", user, projects, outcome)
    target = Target(api, args.feed)
    with tempfile.TemporaryDirectory(prefix="feedhouse-import-") as tmp:
        for source_file in tqdm(files, desc="import", unit="file", disable=None, file=sys.stderr):
            copy(source_file, client, target, Path(tmp), not args.no_upload_times, outcome)
    if args.json:
        emit_json({**outcome.__dict__, "refused": [{"file": f, "reason": r} for f, r in outcome.refused]})
    else:
        print(
            f"copied {len(outcome.copied)}, skipped {len(outcome.skipped)} (already in {args.feed}),"
            f" refused {len(outcome.refused)}, yanked {len(outcome.yanked)}"
        )
        if outcome.refused:
            table(outcome.refused, ("refused", "reason"))
    if outcome.refused:
        raise CliError(f"{len(outcome.refused)} file(s) not imported: see the reasons above.", FAILED)


def add_parser(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser(
        "import",
        parents=[common],
        help="copy distributions into a feed from another simple index or a directory",
        description="Copy every distribution (or those of --project) from a PEP 503/691 simple index or a"
        " directory into a feed: hashes checked, upload times and yanks kept where the source has them,"
        " what the feed already holds skipped. Run it again to resume.",
    )
    p.add_argument("source", help="an index URL (https://host/simple/) or a directory")
    p.add_argument("--feed", required=True)
    p.add_argument("--project", action="append", help="only this project (repeat for more)")
    p.add_argument("--source-user", help="the user name for the source index (default: the keyring's)")
    p.add_argument(
        "--no-upload-times",
        action="store_true",
        help="let the feed record the time of the import (keeping the source's takes the owner role)",
    )
    p.set_defaults(handler=run_import)
