"""Project pages of an upstream simple index, parsed into plain data.

Both representations of the Simple Repository API are read: PEP 691 JSON (with PEP 700's versions,
size and upload-time) and PEP 503 HTML, each with yanking (PEP 592) and core-metadata availability
(PEP 658, under both the PEP 714 name and the older one). An upstream is not trusted: a page that is
not a simple page at all raises MalformedPage, and a single file entry that is wrong (a name that
is not a distribution of this project, a URL that is not http(s), a bad hash) is dropped on its own
so that the rest of the page still counts. Hash names not listed here are ignored.
"""

from __future__ import annotations

import contextlib
import hashlib
import html
import json
import logging
import re
import string
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import parse_qs, unquote, urljoin, urlsplit, urlunsplit

from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.utils import canonicalize_name

from shared import untrusted
from shared.distributions import parse_distribution_filename
from shared.errors import BadGateway, BadRequest
from shared.metadata import METADATA_URL_SUFFIX
from shared.names import validate_filename

logger = logging.getLogger(__name__)

JSON_CONTENT_TYPE = "application/vnd.pypi.simple.v1+json"
HTML_CONTENT_TYPES = ("application/vnd.pypi.simple.v1+html", "text/html")
# What Feedhouse asks an upstream for: JSON first, HTML as the fallback (the weights uv sends).
ACCEPT = f"{JSON_CONTENT_TYPE}, application/vnd.pypi.simple.v1+html;q=0.2, text/html;q=0.01"
SUPPORTED_MAJOR_VERSION = 1

# hashlib names a simple page may use, with the length of their hex digests.
HASH_HEX_LENGTHS: dict[str, int] = {
    name: hashlib.new(name).digest_size * 2
    for name in (
        "md5",
        "sha1",
        "sha224",
        "sha256",
        "sha384",
        "sha512",
        "sha3_224",
        "sha3_256",
        "sha3_384",
        "sha3_512",
        "blake2b",
        "blake2s",
    )
}
_MAX_URL_LENGTH = 4096
_MAX_TEXT_LENGTH = 1024
_MAX_VERSION_LENGTH = 128
# PyPI's largest projects list tens of thousands of files; past this a page is refused, not cut short.
MAX_FILES_PER_PAGE = 100_000
_HEX_RE = re.compile(r"[0-9a-f]+")


class MalformedPage(BadGateway):
    """The upstream answered with something that is not a usable simple project page."""

    code = "malformed_upstream_page"


@dataclass(frozen=True)
class UpstreamFile:
    """One distribution file listed by an upstream page."""

    filename: str
    url: str  # absolute, http(s), without fragment; the upstream's, never shown to clients
    version: str
    hashes: Mapping[str, str] = field(default_factory=dict)  # lower-case hash name -> lower-case hex
    requires_python: str | None = None
    yanked: bool | str = False  # False, True, or the (non-empty) reason
    core_metadata: bool | Mapping[str, str] = False  # False, True (no hash given) or its hashes
    size: int | None = None
    upload_time: str | None = None  # ISO 8601 UTC as the upstream gave it

    @property
    def sha256(self) -> str | None:
        return self.hashes.get("sha256")

    @property
    def metadata_url(self) -> str:
        """Where PEP 658 puts the file's core metadata: the file URL with '.metadata' appended."""
        parts = urlsplit(self.url)
        return urlunsplit((parts.scheme, parts.netloc, parts.path + METADATA_URL_SUFFIX, parts.query, ""))

    def to_json(self) -> dict[str, Any]:
        """A PEP 691-shaped dict (the cache's stored form)."""
        data: dict[str, Any] = {
            "filename": self.filename,
            "url": self.url,
            "version": self.version,
            "hashes": dict(self.hashes),
            "yanked": self.yanked,
            "core-metadata": self.core_metadata
            if isinstance(self.core_metadata, bool)
            else dict(self.core_metadata),
        }
        for key, value in (
            ("requires-python", self.requires_python),
            ("size", self.size),
            ("upload-time", self.upload_time),
        ):
            if value is not None:
                data[key] = value
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> UpstreamFile:
        """Read ``to_json`` back (trusted input: the cache's own records)."""
        return cls(
            filename=data["filename"],
            url=data["url"],
            version=data["version"],
            hashes=dict(data.get("hashes", {})),
            requires_python=data.get("requires-python"),
            yanked=data.get("yanked", False),
            core_metadata=data.get("core-metadata", False),
            size=data.get("size"),
            upload_time=data.get("upload-time"),
        )


@dataclass(frozen=True)
class ProjectPage:
    """An upstream's page for one project; ``exists`` is False when the upstream has no such project."""

    project: str  # normalized
    files: tuple[UpstreamFile, ...] = ()
    versions: tuple[str, ...] = ()
    exists: bool = True
    dropped: int = 0  # entries left out as invalid

    def to_json(self) -> dict[str, Any]:
        return {
            "project": self.project,
            "exists": self.exists,
            "files": [f.to_json() for f in self.files],
            "versions": list(self.versions),
            "dropped": self.dropped,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ProjectPage:
        return cls(
            project=data["project"],
            files=tuple(UpstreamFile.from_json(f) for f in data.get("files", ())),
            versions=tuple(data.get("versions", ())),
            exists=bool(data.get("exists", True)),
            dropped=int(data.get("dropped", 0)),
        )


def absent_page(project: str) -> ProjectPage:
    return ProjectPage(project=project, exists=False)


class _Dropped(Exception):
    """One file entry is unusable; the page goes on without it."""


# Field checks shared by both representations --------------------------------------------------------


def _clean_hashes(candidates: Iterable[tuple[Any, Any]]) -> dict[str, str]:
    hashes: dict[str, str] = {}
    for name, value in candidates:
        if not isinstance(name, str) or not isinstance(value, str):
            continue
        name, value = name.lower(), value.lower()
        length = HASH_HEX_LENGTHS.get(name)
        if length is None:
            continue  # an algorithm Feedhouse does not know: ignored, as pip does
        if len(value) != length or not _HEX_RE.fullmatch(value):
            raise _Dropped(f"invalid {name} digest")
        hashes[name] = value
    return hashes


def _file_url(raw: Any, base_url: str) -> str:
    if not isinstance(raw, str) or not raw or len(raw) > _MAX_URL_LENGTH:
        raise _Dropped("missing or oversized url")
    try:
        url = urljoin(base_url, raw.strip())
        parts = urlsplit(url)
        _ = parts.port
    except ValueError as exc:
        raise _Dropped(f"invalid url ({exc})") from None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise _Dropped("url is not http(s)")
    if parts.username is not None or parts.password is not None:
        raise _Dropped("url carries credentials")
    return urlunsplit((parts.scheme.lower(), parts.netloc, parts.path, parts.query, ""))


def _version_of(filename: Any, project: str) -> str:
    if not isinstance(filename, str):
        raise _Dropped("filename is not a string")
    try:
        validate_filename(filename)
        dist = parse_distribution_filename(filename)
    except BadRequest as exc:
        raise _Dropped(exc.message) from None
    if dist.name != project:
        raise _Dropped(f"'{filename}' is not a file of project '{project}'")
    return str(dist.version)


def _requires_python(value: Any) -> str | None:
    if not isinstance(value, str) or not value.strip() or len(value) > _MAX_TEXT_LENGTH:
        return None
    try:
        SpecifierSet(value)
    except InvalidSpecifier:
        return None  # pip ignores an invalid Requires-Python too
    return value.strip()


def _yanked(value: Any) -> bool | str:
    if isinstance(value, str):
        return value[:_MAX_TEXT_LENGTH] if value else True
    return value is True


def _core_metadata(value: Any) -> bool | dict[str, str]:
    """JSON form: a bool or a dict of hashes."""
    if isinstance(value, dict):
        try:
            hashes = _clean_hashes(value.items())
        except _Dropped:
            return False  # a metadata file whose hash is wrong cannot be verified: not offered
        return hashes or True
    return value is True


def _size(value: Any) -> int | None:
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 2**63:
        return value
    return None


def _upload_time(value: Any) -> str | None:
    if not isinstance(value, str) or len(value) > 64:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return value if parsed.tzinfo is not None else None


def _sorted_versions(versions: Iterable[str]) -> tuple[str, ...]:
    return tuple(sorted(set(versions), key=untrusted.version_order))


def _files(project: str, readers: Iterable[Callable[[], UpstreamFile]]) -> tuple[list[UpstreamFile], int]:
    """Read each entry; an unusable one is counted and left out, the others kept."""
    files: list[UpstreamFile] = []
    dropped = 0
    for read in readers:
        try:
            files.append(read())
        except _Dropped as exc:
            dropped += 1
            logger.debug("Dropped an upstream file entry of %s: %s", project, exc)
    return files, dropped


def _page(
    project: str, files: list[UpstreamFile], extra_versions: Iterable[str], dropped: int
) -> ProjectPage:
    unique: dict[str, UpstreamFile] = {}
    for f in files:
        if f.filename in unique:
            dropped += 1
            continue
        unique[f.filename] = f
    if dropped:
        logger.info("Upstream page for %s: %d file entries left out as invalid", project, dropped)
    versions = _sorted_versions([*extra_versions, *(f.version for f in unique.values())])
    return ProjectPage(project=project, files=tuple(unique.values()), versions=versions, dropped=dropped)


def _check_file_count(count: int) -> None:
    if count > MAX_FILES_PER_PAGE:
        raise MalformedPage(f"The upstream page lists more than {MAX_FILES_PER_PAGE} files.")


def _check_api_version(value: Any) -> None:
    if not isinstance(value, str):
        raise MalformedPage("The upstream page has no valid api-version.")
    major = untrusted.whole_number(value.split(".", 1)[0])
    if major is None:
        raise MalformedPage("The upstream page has no valid api-version.")
    if major != SUPPORTED_MAJOR_VERSION:
        raise MalformedPage(
            f"The upstream speaks version {value[:16]} of the simple API; Feedhouse reads version 1."
        )


# JSON (PEP 691) ----------------------------------------------------------------------------------------


def parse_json_page(body: bytes, page_url: str, project: str) -> ProjectPage:
    project = canonicalize_name(project)
    try:
        data = json.loads(body)
    except (ValueError, RecursionError) as exc:
        raise MalformedPage(f"The upstream page is not valid JSON ({type(exc).__name__}).") from None
    if not isinstance(data, dict):
        raise MalformedPage("The upstream JSON page is not an object.")
    meta = data.get("meta")
    if not isinstance(meta, dict):
        raise MalformedPage("The upstream JSON page has no 'meta' object.")
    _check_api_version(meta.get("api-version"))
    name = data.get("name")
    if isinstance(name, str) and canonicalize_name(name) != project:
        raise MalformedPage(f"The upstream answered with the page of another project ('{name[:100]}').")
    entries = data.get("files")
    if not isinstance(entries, list):
        raise MalformedPage("The upstream JSON page has no 'files' list.")
    _check_file_count(len(entries))
    files, dropped = _files(project, (lambda e=e: _json_file(e, page_url, project) for e in entries))
    raw_versions = data.get("versions")
    versions = (
        [v for v in raw_versions if isinstance(v, str) and 0 < len(v) <= _MAX_VERSION_LENGTH]
        if isinstance(raw_versions, list)
        else []
    )
    return _page(project, files, versions, dropped)


def _json_file(entry: Any, page_url: str, project: str) -> UpstreamFile:
    if not isinstance(entry, dict):
        raise _Dropped("entry is not an object")
    hashes = entry.get("hashes", {})
    if not isinstance(hashes, dict):
        raise _Dropped("hashes is not an object")
    # PEP 714: core-metadata, with the older names as fallbacks.
    metadata = entry.get("core-metadata")
    for alias in ("dist-info-metadata", "data-dist-info-metadata"):
        if metadata is None:
            metadata = entry.get(alias)
    return UpstreamFile(
        filename=entry.get("filename"),
        url=_file_url(entry.get("url"), page_url),
        version=_version_of(entry.get("filename"), project),
        hashes=_clean_hashes(hashes.items()),
        requires_python=_requires_python(entry.get("requires-python")),
        yanked=_yanked(entry.get("yanked")),
        core_metadata=_core_metadata(metadata),
        size=_size(entry.get("size")),
        upload_time=_upload_time(entry.get("upload-time")),
    )


# HTML (PEP 503) ----------------------------------------------------------------------------------------


# The start tags of HTML with their attributes, tokenized as the WHATWG HTML standard does (browsers,
# and pip through html.parser): a tag ends at the first '>' outside a quoted attribute value, so an
# unescaped data-requires-python=">=3.8" stays one value. Only what an index page needs is modelled:
# tags and their attributes, comments and other markup declarations (skipped), and the elements whose
# content is text (<script>, <style>, <title>, ...).
#
# Hand-written rather than html.parser because html.parser on the Python 3.11 releases before 3.11.13
# (CVE-2025-6069) takes time quadratic in the length of some hostile pages: 120 KB of unclosed '<a '
# take minutes, and an upstream page may be 32 MiB. Here the page is read by regular expressions whose
# every repetition is possessive (no backtracking), so each character is looked at a bounded number of
# times, and the text, comments and tags of no interest between two interesting tags are skipped in
# one call into the regular-expression engine.
_SPACE = r"\t\n\f\r "
# An attribute's name: it may start with '=' (a parse error, as is a quote in it).
_NAME = rf"(?:=|[^{_SPACE}/>=])[^{_SPACE}/>=]*+"


def _value(group: str) -> str:
    """'=' and an attribute's value (double-quoted, single-quoted, unquoted or missing); ``group`` is
    '(' to capture each form, '(?:' not to."""
    quoted = rf""""{group}[^"]*+)"|'{group}[^']*+)'"""
    return rf"[{_SPACE}]*+=[{_SPACE}]*+(?:{quoted}|{group}[^{_SPACE}>\"'][^{_SPACE}>]*+)|{group}(?=>|\Z)))"


# The rest of a tag after its name: attributes (a name, then its value if '=' follows) and separators,
# then '>' or '/>'. An unclosed quoted value, or the end of the page before '>', fails it: the page
# ends inside the tag.
_TAG_REST = rf"(?:[{_SPACE}]++|/(?!>)|{_NAME}(?:{_value('(?:')}|(?![{_SPACE}]*+=)))*+/?>"
_NAME_END = rf"(?=[{_SPACE}/>])"
# Elements whose content is text up to their end tag (raw text and escapable raw text); <plaintext>
# never ends. Script content is taken to end at the first </script, as html.parser takes it.
_TEXT_ELEMENT_ENDS = {
    name: re.compile(rf"</{name}{_NAME_END}", re.IGNORECASE | re.ASCII)
    for name in ("script", "style", "xmp", "iframe", "noembed", "noframes", "title", "textarea")
}
_INTERESTING = ("a", "base", "meta", "plaintext", *_TEXT_ELEMENT_ENDS)
_SKIP = rf"""(?:
    [^<]++                                              # text
  | <(?![A-Za-z!/?])                                    # a '<' that opens nothing
  | <!--(?:>|->|(?:[^-]++|-(?!-!?>))*+--!?>)            # a comment (<!--> and <!---> are whole)
  | <(?:!(?!--)|\?|/(?![A-Za-z]))[^>]*+>                # <!DOCTYPE ...>, <?...>, '</' and no letter
  | </[A-Za-z][^{_SPACE}/>]*+{_TAG_REST}                 # an end tag
  | <(?!(?ai:{"|".join(_INTERESTING)}){_NAME_END})[A-Za-z][^{_SPACE}/>]*+{_TAG_REST}  # another start tag
)*+"""
# From any position: what comes before the next interesting start tag, then that tag (its name and
# the span of its attributes), or where the page ends (inside markup or not).
_NEXT_TAG_RE = re.compile(
    rf"""{_SKIP}(?:<(?P<name>(?ai:{"|".join(_INTERESTING)})){_NAME_END}(?P<rest>{_TAG_REST})|<|\Z)""",
    re.VERBOSE,
)
_ATTRIBUTE_RE = re.compile(rf"(?:[{_SPACE}]|/)*+({_NAME})(?:{_value('(')}|(?![{_SPACE}]*+=))")
_ASCII_LOWER = str.maketrans(string.ascii_uppercase, string.ascii_lowercase)
_MAX_TAG_LENGTH = 64 * 1024


def _tags(text: str, wanted: frozenset[str]) -> Iterator[tuple[str, dict[str, str | None]]]:
    """The start tags named in ``wanted``, with their attributes (entities decoded, the first of a
    repeated name kept), in document order; tags over 64 KiB are ignored."""
    position = 0
    while True:
        found = _NEXT_TAG_RE.match(text, position)
        if found is None or found.group("name") is None:
            return  # the page ended, perhaps inside markup (which is then dropped)
        position = found.end()
        name = found.group("name").translate(_ASCII_LOWER)
        if name in wanted and found.end() - found.start("name") < _MAX_TAG_LENGTH:  # '<' not counted
            yield name, _attributes(text, found.start("rest"), found.end("rest"))
        if name == "plaintext":
            return
        end_tag = _TEXT_ELEMENT_ENDS.get(name)
        if end_tag is not None:
            end = end_tag.search(text, position)
            if end is None:
                return
            position = end.start()


def _attributes(text: str, start: int, end: int) -> dict[str, str | None]:
    attributes: dict[str, str | None] = {}
    for match in _ATTRIBUTE_RE.finditer(text, start, end):
        key = match.group(1).translate(_ASCII_LOWER)
        raw = next((g for g in match.groups()[1:] if g is not None), None)
        attributes.setdefault(key, html.unescape(raw) if raw is not None else None)
    return attributes


def _html_core_metadata(value: str | None) -> bool | dict[str, str]:
    """HTML form: absent, "true", or "<hashname>=<hex>"."""
    if value is None:
        return False
    value = value.strip()
    if value.lower() == "true" or value == "":
        return True
    name, sep, digest = value.partition("=")
    if not sep:
        return False
    try:
        hashes = _clean_hashes([(name, digest)])
    except _Dropped:
        return False
    return hashes or True


def _html_file(anchor: Mapping[str, str | None], base_url: str, project: str) -> UpstreamFile:
    href = anchor.get("href")
    if not href:
        raise _Dropped("anchor without href")
    fragment = urlsplit(href.strip()).fragment if len(href) <= _MAX_URL_LENGTH else ""
    url = _file_url(href, base_url)
    # pip takes the file name from the URL's last path segment, not from the anchor text.
    filename = unquote(urlsplit(url).path.rsplit("/", 1)[-1])
    fragment_values = parse_qs(fragment, keep_blank_values=True)
    hashes = _clean_hashes((name, values[0]) for name, values in fragment_values.items() if values)
    metadata = anchor.get("data-core-metadata")
    if metadata is None:
        metadata = anchor.get("data-dist-info-metadata")
    yanked_attribute = "data-yanked" in anchor
    yanked_reason = anchor.get("data-yanked")
    return UpstreamFile(
        filename=filename,
        url=url,
        version=_version_of(filename, project),
        hashes=hashes,
        requires_python=_requires_python(anchor.get("data-requires-python")),
        yanked=(yanked_reason[:_MAX_TEXT_LENGTH] if yanked_reason else True) if yanked_attribute else False,
        core_metadata=_html_core_metadata(metadata),
        size=_size(untrusted.whole_number(anchor.get("data-size"))),
        upload_time=_upload_time(anchor.get("data-upload-time")),
    )


def parse_html_page(body: bytes, page_url: str, project: str, charset: str = "utf-8") -> ProjectPage:
    project = canonicalize_name(project)
    try:
        text = body.decode(charset or "utf-8")
    except (LookupError, UnicodeError) as exc:
        raise MalformedPage(f"The upstream HTML page cannot be decoded ({type(exc).__name__}).") from None
    base_href: str | None = None
    anchors: list[dict[str, str | None]] = []
    for name, attributes in _tags(text, frozenset({"a", "base", "meta"})):
        if name == "a":
            anchors.append(attributes)
            _check_file_count(len(anchors))
        elif name == "base" and base_href is None:
            base_href = attributes.get("href")
        elif name == "meta" and attributes.get("name") == "pypi:repository-version":
            _check_api_version(attributes.get("content"))
    base_url = page_url
    if base_href:
        with contextlib.suppress(ValueError):
            base_url = urljoin(page_url, base_href)
    files, dropped = _files(project, (lambda a=a: _html_file(a, base_url, project) for a in anchors))
    return _page(project, files, (), dropped)


def media_type(content_type: str | None) -> tuple[str, str | None]:
    """(media type in lower case, charset or None) of a Content-Type header."""
    if not content_type:
        return "", None
    media, *params = content_type.split(";")
    charset = None
    for param in params:
        key, _, value = param.partition("=")
        if key.strip().lower() == "charset":
            charset = value.strip().strip('"') or None
    return media.strip().lower(), charset


def parse_project_page(body: bytes, content_type: str | None, page_url: str, project: str) -> ProjectPage:
    """Parse a project page by its Content-Type (which must be one of the simple API's three)."""
    media, charset = media_type(content_type)
    if media == JSON_CONTENT_TYPE:
        return parse_json_page(body, page_url, project)
    if media in HTML_CONTENT_TYPES:
        return parse_html_page(body, page_url, project, charset or "utf-8")
    shown = media[:80] or "none"
    raise MalformedPage(f"The upstream answered with Content-Type '{shown}', not a simple API page.")
