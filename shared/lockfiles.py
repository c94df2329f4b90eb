"""Lockfiles an owner registers on a feed, read into the versions they pin.

A registered lockfile protects every version it pins from retention (shared/retention.py). Four
formats are read: ``uv.lock``, ``poetry.lock``, ``pylock.toml`` (PEP 751) and requirements files
pinned with ``==`` (with or without ``--hash``). Only what a lockfile takes from a package index is a
pin: its own project and its path, directory, VCS and URL dependencies come from no feed, so they
protect nothing.

The file is untrusted input of bounded size and entry count; every problem is a named 4xx error that
says which line or entry is wrong, and nothing a lockfile holds (huge numbers, deep nesting) escapes
as another exception.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlsplit

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import (
    InvalidName,
    InvalidSdistFilename,
    InvalidWheelFilename,
    NormalizedName,
    canonicalize_name,
    parse_sdist_filename,
    parse_wheel_filename,
)
from packaging.version import InvalidVersion, Version

from shared import untrusted
from shared.errors import BadRequest, PayloadTooLarge

if TYPE_CHECKING:
    from packaging.pylock import Package

# The largest lockfile read. Lockfiles of large applications (hundreds of packages, native wheels for
# every platform, each with its hash) are hundreds of KiB to a few MiB; at 5 MiB tomllib takes about
# half a second on one core and a few tens of MiB of memory, which one request may spend.
MAX_LOCKFILE_BYTES = 5 * 1024 * 1024
# The most packages (or requirement lines) one lockfile may list: ten times the largest real lockfiles,
# and few enough that reading them stays well under a second.
MAX_ENTRIES = 10_000

_SHA256_RE = re.compile(r"^[0-9a-f]{64}$")


class LockfileFormat(StrEnum):
    UV = "uv.lock"
    POETRY = "poetry.lock"
    PYLOCK = "pylock.toml"
    REQUIREMENTS = "requirements"


class InvalidLockfile(BadRequest):
    code = "invalid_lockfile"


class UnknownLockfileFormat(InvalidLockfile):
    code = "unknown_lockfile_format"


class MalformedLockfile(InvalidLockfile):
    """Not UTF-8, not TOML, or an entry without a valid name, version or hash."""

    code = "malformed_lockfile"


class UnpinnedRequirement(InvalidLockfile):
    code = "unpinned_requirement"


class IncludeRefused(InvalidLockfile):
    """A requirements file that names another file (-r, -c): the server has only the one file."""

    code = "lockfile_include"


class TooManyLockfileEntries(InvalidLockfile):
    code = "too_many_lockfile_entries"


class LockfileTooLarge(PayloadTooLarge):
    code = "lockfile_too_large"


@dataclass(frozen=True, order=True)
class LockedFile:
    """A distribution file a pin names: by file name, by hash, or both (a requirements file has only
    hashes). Only sha256 is kept, as that is the hash a feed stores."""

    filename: str | None
    sha256: str | None

    def to_json(self) -> dict[str, str | None]:
        return {"filename": self.filename, "sha256": self.sha256}


@dataclass(frozen=True)
class Pin:
    project: NormalizedName
    version: Version
    files: tuple[LockedFile, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "project": self.project,
            "version": str(self.version),
            "files": [f.to_json() for f in self.files],
        }


@dataclass(frozen=True)
class Lockfile:
    format: LockfileFormat
    pins: tuple[Pin, ...]  # one per project and version, ordered by both

    def to_json(self) -> dict[str, Any]:
        return {"format": self.format.value, "pins": [p.to_json() for p in self.pins]}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Lockfile:
        """Read what ``to_json`` wrote (stored by Feedhouse, so trusted to have that shape)."""
        return cls(
            LockfileFormat(data["format"]),
            tuple(
                Pin(
                    canonicalize_name(p["project"]),
                    Version(p["version"]),
                    tuple(LockedFile(f["filename"], f["sha256"]) for f in p["files"]),
                )
                for p in data["pins"]
            ),
        )


def parse_lockfile(content: bytes, filename: str | None = None) -> Lockfile:
    """The pins of a lockfile, its format told by ``filename`` (the name the owner gives it, which may
    include directories) or else by its content."""
    if len(content) > MAX_LOCKFILE_BYTES:
        raise LockfileTooLarge(
            f"A lockfile is at most {MAX_LOCKFILE_BYTES // (1024 * 1024)} MiB; "
            f"this one has {len(content)} bytes."
        )
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise MalformedLockfile(f"A lockfile is UTF-8 text; byte {exc.start} is not.") from None
    fmt = _format_of(filename) if filename else None
    if fmt is LockfileFormat.REQUIREMENTS:
        return _lockfile(fmt, _requirements_pins(text))
    label = fmt.value if fmt else "The lockfile"
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        if fmt is None:
            return _lockfile(LockfileFormat.REQUIREMENTS, _requirements_pins(text))
        raise MalformedLockfile(f"{label} is not valid TOML: {exc}.") from None
    except RecursionError:
        # tomllib recurses once per nested array or inline table; no lockfile nests more than a few.
        raise MalformedLockfile(f"{label} nests arrays or tables too deeply.") from None
    except ValueError:
        # int() refuses numbers of more than 4,300 digits (shared/untrusted.py).
        raise MalformedLockfile(f"{label} holds a number too long to read.") from None
    fmt = fmt or _toml_format_of(data)
    readers = {
        LockfileFormat.UV: _uv_pins,
        LockfileFormat.POETRY: _poetry_pins,
        LockfileFormat.PYLOCK: _pylock_pins,
    }
    return _lockfile(fmt, readers[fmt](data))


def _format_of(filename: str) -> LockfileFormat | None:
    """The format a file name says; None for a name that does not (the content tells)."""
    name = PurePosixPath(filename.replace("\\", "/")).name
    if name == "uv.lock":
        return LockfileFormat.UV
    if name == "poetry.lock":
        return LockfileFormat.POETRY
    if _is_valid_pylock_path(name):
        return LockfileFormat.PYLOCK
    if name.endswith(".txt"):
        return LockfileFormat.REQUIREMENTS
    return None


def _toml_format_of(data: dict[str, Any]) -> LockfileFormat:
    if "lock-version" in data and "packages" in data:
        return LockfileFormat.PYLOCK
    if isinstance(data.get("metadata"), dict) and "content-hash" in data["metadata"]:
        return LockfileFormat.POETRY
    if isinstance(data.get("version"), int) and "package" in data:
        return LockfileFormat.UV
    raise UnknownLockfileFormat(
        "The lockfile is TOML but neither a uv.lock, a poetry.lock nor a pylock.toml; give its file name."
    )


# Reading entries ------------------------------------------------------------------------------------


def _lockfile(fmt: LockfileFormat, pins: Iterator[Pin]) -> Lockfile:
    """Merge the pins of one project and version (a lockfile may list them once per environment)."""
    merged: dict[tuple[NormalizedName, Version], set[LockedFile]] = {}
    for pin in pins:
        merged.setdefault((pin.project, pin.version), set()).update(pin.files)
    return Lockfile(
        fmt,
        tuple(Pin(p, v, tuple(sorted(files, key=_file_order))) for (p, v), files in sorted(merged.items())),
    )


def _file_order(file: LockedFile) -> tuple[str, str]:
    return (file.filename or "", file.sha256 or "")


def _entries(data: dict[str, Any], key: str, label: str) -> list[dict[str, Any]]:
    entries = data.get(key, [])
    if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
        raise MalformedLockfile(f"{label}: '{key}' must be an array of tables ([[{key}]]).")
    if len(entries) > MAX_ENTRIES:
        raise TooManyLockfileEntries(
            f"{label} lists {len(entries)} packages; at most {MAX_ENTRIES} are read."
        )
    return entries


def _where(table: str, number: int, entry: Mapping[str, Any]) -> str:
    """How messages name an entry: by its table, its number from 1 and its name if it has one."""
    name = entry.get("name")
    return f"{table} #{number}" + (f" ({name[:100]})" if isinstance(name, str) else "")


def _name(entry: Mapping[str, Any], where: str) -> NormalizedName:
    name = entry.get("name")
    if not isinstance(name, str):
        raise MalformedLockfile(f"{where} has no name.")
    try:
        return canonicalize_name(name, validate=True)
    except InvalidName:
        raise MalformedLockfile(f"{where}: {name[:100]!r} is not a valid project name.") from None


def _version(value: object, where: str) -> Version:
    if not isinstance(value, str):
        raise MalformedLockfile(f"{where} has no version.")
    try:
        return untrusted.version(value)
    except InvalidVersion:
        raise MalformedLockfile(f"{where}: {value[:40]!r} is not a valid version.") from None


def _sha256(value: object, where: str) -> str | None:
    """The hex digest of an ``<algorithm>:<hex>`` hash if it is a sha256 one; other algorithms are
    ignored (a feed records sha256)."""
    if not isinstance(value, str) or ":" not in value:
        raise MalformedLockfile(
            f"{where}: a hash is written <algorithm>:<hex digest>, such as sha256:1f3a..."
        )
    algorithm, digest = value.split(":", 1)
    return _sha256_digest(digest, where) if algorithm.lower() == "sha256" else None


def _sha256_digest(digest: str, where: str) -> str:
    if not _SHA256_RE.match(digest.lower()):
        raise MalformedLockfile(f"{where}: a sha256 hash is 64 hexadecimal digits.")
    return digest.lower()


def _basename(location: object) -> str | None:
    """The file name at the end of a URL or path, as a lockfile gives a file's location."""
    if not isinstance(location, str) or not location:
        return None
    name = unquote(urlsplit(location).path).replace("\\", "/").rsplit("/", 1)[-1]
    return name or None


def _uv_pins(data: dict[str, Any]) -> Iterator[Pin]:
    for i, entry in enumerate(_entries(data, "package", "uv.lock"), start=1):
        where = _where("uv.lock [[package]]", i, entry)
        source = entry.get("source")
        if not isinstance(source, dict):
            raise MalformedLockfile(f"{where} has no source table.")
        if "registry" not in source:
            continue  # the project itself, a workspace member, a path, Git or URL dependency
        project, version = _name(entry, where), _version(entry.get("version"), where)
        dists = [entry["sdist"]] if "sdist" in entry else []
        wheels = entry.get("wheels", [])
        if not isinstance(wheels, list):
            raise MalformedLockfile(f"{where}: 'wheels' must be an array.")
        files = []
        for dist in [*dists, *wheels]:
            if not isinstance(dist, dict):
                raise MalformedLockfile(f"{where}: a file entry must be an inline table.")
            filename = _basename(dist.get("url")) or _basename(dist.get("path"))
            sha256 = _sha256(dist["hash"], where) if "hash" in dist else None
            if filename or sha256:
                files.append(LockedFile(filename, sha256))
        yield Pin(project, version, tuple(files))


# Poetry's sources that are no package index (a legacy or named source is one; none means PyPI).
_POETRY_DIRECT_SOURCES = frozenset({"git", "directory", "file", "url"})


def _poetry_pins(data: dict[str, Any]) -> Iterator[Pin]:
    metadata = data.get("metadata", {})
    # Lock files before Poetry 1.5 (lock-version 1.x) list files per name under [metadata.files].
    old_files = metadata.get("files", {}) if isinstance(metadata, dict) else {}
    if not isinstance(old_files, dict):
        raise MalformedLockfile("poetry.lock: [metadata.files] must be a table.")
    for i, entry in enumerate(_entries(data, "package", "poetry.lock"), start=1):
        where = _where("poetry.lock [[package]]", i, entry)
        source = entry.get("source", {})
        if not isinstance(source, dict):
            raise MalformedLockfile(f"{where}: [package.source] must be a table.")
        if source.get("type") in _POETRY_DIRECT_SOURCES:
            continue
        project, version = _name(entry, where), _version(entry.get("version"), where)
        if "files" in entry:
            listed = entry["files"]
        else:
            listed = [f for f in old_files.get(entry["name"], []) if _file_of(f, project, version)]
        if not isinstance(listed, list):
            raise MalformedLockfile(f"{where}: 'files' must be an array.")
        files = []
        for file in listed:
            if not isinstance(file, dict) or not isinstance(file.get("file"), str):
                raise MalformedLockfile(f"{where}: a file entry is {{file = <name>, hash = <hash>}}.")
            files.append(LockedFile(file["file"], _sha256(file["hash"], where) if "hash" in file else None))
        yield Pin(project, version, tuple(files))


def _file_of(file: object, project: NormalizedName, version: Version) -> bool:
    """Whether an entry of an old poetry.lock's [metadata.files] list is a file of this version (the
    list is per name, so holds every locked version's files)."""
    filename = file.get("file") if isinstance(file, dict) else None
    if not isinstance(filename, str):
        return True  # kept, so that reading it reports the malformed entry
    try:
        if filename.endswith(".whl"):
            name, found, _build, _tags = parse_wheel_filename(filename)
        else:
            name, found = parse_sdist_filename(filename)
    except (InvalidWheelFilename, InvalidSdistFilename, InvalidVersion, ValueError):
        return False
    return name == project and found == version


def _is_valid_pylock_path(name: str) -> bool:
    from packaging.pylock import is_valid_pylock_path  # imported here: see _pylock_pins

    return is_valid_pylock_path(Path(name))


def _pylock_pins(data: dict[str, Any]) -> Iterator[Pin]:
    # Imported here: packaging.pylock costs every cold start ~9 ms, and only lockfiles need it.
    from packaging.pylock import Pylock, PylockValidationError

    _entries(data, "packages", "pylock.toml")  # bounded before the whole file is validated
    try:
        lock = Pylock.from_dict(data)
    except PylockValidationError as exc:
        raise MalformedLockfile(f"pylock.toml: {exc}.") from None
    for i, package in enumerate(lock.packages, start=1):
        if package.is_direct:
            continue  # a VCS, directory or archive source, from no index
        where = f"pylock.toml [[packages]] #{i} ({package.name})"
        dists = [*([package.sdist] if package.sdist else []), *(package.wheels or ())]
        files = tuple(
            LockedFile(
                d.filename, _sha256_digest(d.hashes["sha256"], where) if "sha256" in d.hashes else None
            )
            for d in dists
        )
        yield Pin(package.name, package.version or _pylock_version(package, where), files)


def _pylock_version(package: Package, where: str) -> Version:
    """PEP 751 makes ``version`` optional; the file names (which packaging checked) then tell it."""
    if package.wheels:
        return parse_wheel_filename(package.wheels[0].filename)[1]
    if package.sdist:
        return parse_sdist_filename(package.sdist.filename)[1]
    raise MalformedLockfile(f"{where} has no version.")


# Requirements files -------------------------------------------------------------------------------

# pip's own parser (pip._internal.req.req_file) is no public API, and the libraries that copy it
# follow -r/-c includes and URLs, which a server must not; the subset read here is small: logical
# lines joined at a trailing backslash, comments, a requirement and its --hash options.
_COMMENT_RE = re.compile(r"(^|\s+)#.*$")
_INCLUDE_OPTIONS = ("-r", "--requirement", "-c", "--constraint")
_EDITABLE_OPTIONS = ("-e", "--editable")


def _logical_lines(text: str) -> Iterator[tuple[int, str]]:
    """(first line number, line) of each logical line, comments removed, as pip joins them: a line
    ending in a backslash goes on in the next one, unless it is a comment."""
    parts: list[str] = []
    first = 0
    for number, line in enumerate(text.splitlines(), start=1):
        is_comment = line.lstrip().startswith("#")
        if not parts:
            if is_comment or not line or line.isspace():
                continue  # blank and comment lines, the most common, cheaply
            first = number
        if line.endswith("\\") and not is_comment:
            parts.append(line[:-1])
            continue
        # A comment line ends a continued line; pip puts a space before it, so that it reads as a comment.
        parts.append(" " + line if is_comment else line)
        joined = _without_comment("".join(parts))
        parts = []
        if joined:
            yield first, joined
    joined = _without_comment("".join(parts))
    if joined:
        yield first, joined


def _without_comment(line: str) -> str:
    return (_COMMENT_RE.sub("", line) if "#" in line else line).strip()


def _requirements_pins(text: str) -> Iterator[Pin]:
    count = 0
    for number, line in _logical_lines(text):
        where = f"line {number}"
        tokens = line.split()
        option = tokens[0].split("=", 1)[0]
        # -rfile.txt is -r file.txt, as for any short option
        if option in _INCLUDE_OPTIONS or tokens[0][:2] in ("-r", "-c"):
            raise IncludeRefused(
                f"{where}: '{tokens[0][:100]}' names another file, which the server cannot read; "
                "register a requirements file with every pin in it (pip-compile or uv export writes one)."
            )
        if option in _EDITABLE_OPTIONS or line.startswith("-"):
            continue  # an editable project (from no index) or a global option such as --index-url
        count += 1
        if count > MAX_ENTRIES:
            raise TooManyLockfileEntries(
                f"{where}: a requirements file is read up to {MAX_ENTRIES} requirements."
            )
        requirement, hashes = _split_options(tokens, where)
        pin = _pinned(requirement, where)
        if pin is not None:
            yield Pin(pin[0], pin[1], tuple(LockedFile(None, h) for h in hashes))


def _split_options(tokens: list[str], where: str) -> tuple[str, list[str]]:
    """The requirement (tokens before the first option, as pip splits them) and its sha256 hashes."""
    start = next((i for i, t in enumerate(tokens) if t.startswith("-")), len(tokens))
    options = tokens[start:]
    hashes = []
    for i, option in enumerate(options):
        if option == "--hash":
            value = options[i + 1] if i + 1 < len(options) else ""
        elif option.startswith("--hash="):
            value = option.removeprefix("--hash=")
        else:
            continue
        digest = _sha256(value, where)
        if digest:
            hashes.append(digest)
    return " ".join(tokens[:start]), hashes


def _pinned(text: str, where: str) -> tuple[NormalizedName, Version] | None:
    """The project and version a requirement pins; None for one from a URL, which is from no index."""
    try:
        requirement = Requirement(text)
    except InvalidRequirement as exc:
        raise MalformedLockfile(f"{where}: {text[:100]!r} is not a requirement: {exc}") from None
    if requirement.url:
        return None
    project = canonicalize_name(requirement.name)
    specifiers = list(requirement.specifier)
    # pip's rule for --require-hashes: exactly one == or === without a wildcard.
    if (
        len(specifiers) != 1
        or specifiers[0].operator not in ("==", "===")
        or specifiers[0].version.endswith(".*")
    ):
        raise UnpinnedRequirement(
            f"{where}: '{text[:100]}' does not pin one version; a lockfile pins each requirement "
            "with == (pip-compile or uv export writes one)."
        )
    return project, _version(specifiers[0].version, f"{where} ({requirement.name})")
