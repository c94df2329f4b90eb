"""Distribution files: what a wheel or sdist filename says, and whether the bytes are that archive.

One concept: a file on its own, before it belongs to any feed.
"""

from __future__ import annotations

import gzip
import io
import re
import stat
import tarfile
import zipfile
import zlib
from collections.abc import Iterable
from dataclasses import dataclass
from typing import IO, Any, BinaryIO

from packaging.tags import Tag
from packaging.utils import (
    BuildTag,
    InvalidSdistFilename,
    InvalidWheelFilename,
    NormalizedName,
    canonicalize_version,
    parse_sdist_filename,
    parse_wheel_filename,
)
from packaging.version import Version

from shared.errors import BadRequest

WHEEL = "bdist_wheel"
SDIST = "sdist"
FILETYPE_EXTENSIONS = {WHEEL: (".whl",), SDIST: (".tar.gz", ".zip")}

# Warehouse's decompression-bomb rule: past 64 MiB inflated, at most 50 times the archive's size.
COMPRESSION_RATIO_THRESHOLD = 50
COMPRESSION_RATIO_MIN_SIZE = 64 * 1024 * 1024
# A METADATA or PKG-INFO file carries the long description; none real comes near this.
METADATA_MAX_BYTES = 16 * 1024 * 1024


class InvalidDistributionFilename(BadRequest):
    code = "invalid_distribution_filename"


class InvalidDistribution(BadRequest):
    """The bytes are not the archive the file name promises."""

    code = "invalid_distribution"

    def __init__(self, detail: str) -> None:
        super().__init__(f"Invalid distribution file. {detail}")


class InvalidWheel(BadRequest):
    """A wheel without one of the files every wheel has (Warehouse's own wording, without a prefix)."""

    code = "invalid_distribution"


@dataclass(frozen=True)
class DistributionFilename:
    filename: str
    name: NormalizedName
    version: Version
    filetype: str
    build: BuildTag = ()  # a wheel's build tag, parsed: 1 and 01 are both (1, '')
    tags: frozenset[Tag] = frozenset()  # a wheel's tags, expanded and lower-cased: a set

    @property
    def identity(self) -> str:
        """What every spelling of this distribution's file name shares, and no other distribution's:
        the normalized name, the canonical version (1.17.0.0 and 01.17 are 1.17) and, for a wheel,
        its build tag and tag set (py2.py3 is py3.py2). Installers cannot tell two files with one
        identity apart, so a feed keeps at most one of them.

        The build tag belongs to it: a higher one is how the wheel spec lets a fixed wheel of the
        same release and tags be published, and PyPI accepts it as another file.
        """
        version = canonicalize_version(self.version)
        if self.filetype == SDIST:
            return f"{self.name} {version} {SDIST}"
        build = "".join(str(part) for part in self.build)
        tags = ",".join(sorted(str(tag) for tag in self.tags))
        return f"{self.name} {version} {WHEEL} {build} {tags}"


def filetype_of(filename: str) -> str | None:
    for filetype, extensions in FILETYPE_EXTENSIONS.items():
        if filename.endswith(extensions):
            return filetype
    return None


def parse_distribution_filename(filename: str) -> DistributionFilename:
    """Parse a wheel or sdist filename into its normalized name, version, file type and, for a wheel,
    build tag and tags."""
    filetype = filetype_of(filename)
    build: BuildTag = ()
    tags: frozenset[Tag] = frozenset()
    try:
        if filetype == WHEEL:
            name, version, build, tags = parse_wheel_filename(filename)
        elif filetype == SDIST:
            name, version = parse_sdist_filename(filename)
        else:
            raise InvalidDistributionFilename(
                "Invalid file extension: Use .tar.gz, .whl or .zip extension. See "
                "https://peps.python.org/pep-0527/ for more information."
            )
    except (InvalidWheelFilename, InvalidSdistFilename) as exc:
        raise InvalidDistributionFilename(f"Invalid distribution filename: {exc}") from None
    except ValueError:
        # packaging's parsers call Version() and int(), which refuse numbers of over 4,300 digits with a
        # plain ValueError (see shared/untrusted.py).
        raise InvalidDistributionFilename(
            f"Invalid distribution filename: a number in {filename[:60]!r}... is too long."
        ) from None
    return DistributionFilename(filename, name, version, filetype, build, tags)


@dataclass(frozen=True)
class DistributionContents:
    """What Feedhouse reads out of an archive: its core metadata file (a wheel's METADATA, an sdist's
    PKG-INFO), when it has one."""

    metadata: bytes | None


def inspect_distribution(stream: BinaryIO, dist: DistributionFilename) -> DistributionContents:
    """Check that ``stream`` is the archive ``dist`` names, as Warehouse does, and read its core metadata.

    Nothing is extracted but the metadata file, read with a size cap; declared sizes are checked against
    the compression-ratio limit before anything is inflated, and a tar is inflated under the same limit.
    """
    stream.seek(0, io.SEEK_END)
    compressed_size = stream.tell()
    stream.seek(0)
    try:
        if dist.filename.endswith((".whl", ".zip")):
            return _inspect_zip(stream, dist, compressed_size)
        return _inspect_tar(stream, dist, compressed_size)
    finally:
        stream.seek(0)


def decompressed_limit(compressed_size: int) -> int:
    """The most an archive may inflate to: Warehouse refuses a ratio above 50 beyond 64 MiB."""
    return max(COMPRESSION_RATIO_MIN_SIZE, COMPRESSION_RATIO_THRESHOLD * compressed_size)


def _ratio_exceeded() -> InvalidDistribution:
    return InvalidDistribution(f"File exceeds compression ratio of {COMPRESSION_RATIO_THRESHOLD}")


def _read_capped(member: IO[bytes], name: str) -> bytes:
    data = member.read(METADATA_MAX_BYTES + 1)
    if len(data) > METADATA_MAX_BYTES:
        raise InvalidDistribution(f"{name} is larger than {METADATA_MAX_BYTES // (1024 * 1024)} MiB")
    return data


# A member name that is absolute on any OS clients unpack on: a leading / or \\, or a drive letter.
_ABSOLUTE = re.compile(r"^([/\\]|[A-Za-z]:)")
_SEPARATORS = re.compile(r"[/\\]")
# tarfile.data_filter resolves paths with os.path.realpath; below a root that does not exist that is
# purely lexical, so the verdict never depends on this machine's files.
_UNPACK_ROOT = "/nonexistent-feedhouse-unpack-root"
# A zip symlink's target is its data; no path is longer than PATH_MAX.
_LINK_TARGET_MAX_BYTES = 4096
_SHOWN_NAME_MAX = 200


def _unsafe(name: str, why: str) -> InvalidDistribution:
    shown = name if len(name) <= _SHOWN_NAME_MAX else name[:_SHOWN_NAME_MAX] + "..."
    return InvalidDistribution(f"Unsafe archive member {shown!r}: {why}.")


def _check_member_name(name: str) -> None:
    """Refuse a name that unpacks outside the archive on any OS: clients on Windows also split on
    backslashes and honour drive letters, which tarfile and zipfile on Linux take as plain characters."""
    if _ABSOLUTE.match(name):
        raise _unsafe(name, "an absolute path")
    if ".." in _SEPARATORS.split(name):
        raise _unsafe(name, "a '..' in its path leads out of the archive")


def _check_link_or_special(member: tarfile.TarInfo, top: str | None) -> None:
    """Refuse a link to outside the archive, and for an sdist outside its top-level directory ``top``;
    also devices and FIFOs. The member's name has passed ``_check_member_name``.

    ``tarfile.data_filter`` (PEP 706), the filter Python's own extraction applies to untrusted
    archives, judges it, shown the archive from inside ``top``: names and hard-link targets (both
    relative to the archive's root) get a ``../`` prefix, so that a link into a sibling of ``top``
    counts as outside.
    """
    link = member.linkname.replace("\\", "/")
    if (member.issym() or member.islnk()) and _ABSOLUTE.match(link):
        raise _unsafe(member.name, f"it links to the absolute path {member.linkname!r}")
    inside = "../" if top is not None else ""
    seen = member.replace(
        name=inside + member.name, linkname=inside + link if member.islnk() else link, deep=False
    )
    where = "the archive" if top is None else f"the top-level directory {top!r}"
    try:
        tarfile.data_filter(seen, _UNPACK_ROOT if top is None else f"{_UNPACK_ROOT}/{top}")
    except tarfile.LinkOutsideDestinationError:
        raise _unsafe(member.name, f"it links to {member.linkname!r}, outside {where}") from None
    except tarfile.SpecialFileError:
        raise _unsafe(member.name, "a device or FIFO, not a file, directory or link") from None
    except tarfile.FilterError as exc:  # whatever else the data filter refuses
        raise _unsafe(member.name, f"tarfile's data filter refuses it ({type(exc).__name__})") from None


def _zip_symlink(archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> tarfile.TarInfo | None:
    """A zip member that Info-ZIP's unzip unpacks as a symlink (Unix mode bits say so), as the tar
    member it amounts to, so that one check judges links in both formats."""
    if info.create_system != 3 or not stat.S_ISLNK(info.external_attr >> 16):
        return None
    with archive.open(info) as data:
        target = data.read(_LINK_TARGET_MAX_BYTES + 1)
    if len(target) > _LINK_TARGET_MAX_BYTES:
        raise _unsafe(info.filename, "its link target is longer than any path")
    member = tarfile.TarInfo(info.filename)
    member.type = tarfile.SYMTYPE
    member.linkname = target.decode("utf-8", "replace")
    return member


def _check_zip_links(archive: zipfile.ZipFile, infos: list[zipfile.ZipInfo], top: str | None) -> None:
    for info in infos:
        link = _zip_symlink(archive, info)
        if link is not None:
            _check_link_or_special(link, top)


def wheel_dist_info(filename: str) -> str:
    """The .dist-info directory a wheel must have, from its file name as written (as Warehouse finds it)."""
    name, version, _rest = filename.split("-", 2)
    return f"{name}-{version}.dist-info"


def _inspect_zip(stream: BinaryIO, dist: DistributionFilename, compressed_size: int) -> DistributionContents:
    if not zipfile.is_zipfile(stream):
        raise InvalidDistribution("File is not a zipfile")
    stream.seek(0)
    try:
        with zipfile.ZipFile(stream) as archive:
            infos = archive.infolist()
            if sum(i.file_size for i in infos) > decompressed_limit(compressed_size):
                raise _ratio_exceeded()
            if any(i.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED) for i in infos):
                raise InvalidDistribution("File does not use a supported compression type")
            for info in infos:
                _check_member_name(info.filename)
            names = {i.filename for i in infos}
            if dist.filetype == WHEEL:
                _check_zip_links(archive, infos, None)
                return DistributionContents(_wheel_metadata(archive, names, dist.filename))
            top = _single_top_level(names)
            _check_zip_links(archive, infos, top)
            pkg_info = f"{top}/PKG-INFO"
            if pkg_info not in names:
                raise InvalidDistribution(f"PKG-INFO not found at {pkg_info}")
            with archive.open(pkg_info) as member:
                return DistributionContents(_read_capped(member, pkg_info))
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, OSError, zlib.error) as exc:
        raise InvalidDistribution(f"File is not a valid zipfile: {exc}") from None


def _wheel_metadata(archive: zipfile.ZipFile, names: set[str], filename: str) -> bytes:
    info = wheel_dist_info(filename)
    if f"{info}/WHEEL" not in names:
        raise InvalidDistribution(f"WHEEL not found at {info}/WHEEL")
    if f"{info}/RECORD" not in names:
        raise InvalidWheel(f"Wheel '{filename}' does not contain the required RECORD file: {info}/RECORD")
    if f"{info}/METADATA" not in names:
        raise InvalidWheel(f"Wheel '{filename}' does not contain the required METADATA file: {info}/METADATA")
    with archive.open(f"{info}/METADATA") as member:
        return _read_capped(member, f"{info}/METADATA")


def _top_level(name: str) -> str:
    return name.split("/", 1)[0]


def _too_many_top_levels() -> InvalidDistribution:
    return InvalidDistribution("Incorrect number of top-level directories in sdist")


def _single_top_level(names: Iterable[str]) -> str:
    tops = {_top_level(name) for name in names}
    if len(tops) != 1 or "" in tops or "." in tops:
        raise _too_many_top_levels()
    return tops.pop()


class _Inflated(io.RawIOBase):
    """A gzip stream that refuses to inflate past a limit (a tar has no sizes to check up front)."""

    def __init__(self, compressed: BinaryIO, limit: int) -> None:
        self._gzip = gzip.GzipFile(fileobj=compressed, mode="rb")
        self._limit = limit
        self._total = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        count = self._gzip.readinto(buffer)
        self._total += count
        if self._total > self._limit:
            raise _ratio_exceeded()
        return count


def _inspect_tar(stream: BinaryIO, dist: DistributionFilename, compressed_size: int) -> DistributionContents:
    inflated = _Inflated(stream, decompressed_limit(compressed_size))
    top: str | None = None
    metadata: bytes | None = None
    try:
        # Stream mode reads the archive once, front to back, without seeking; each member is judged
        # as it comes, against the first member's top-level directory.
        with tarfile.open(fileobj=inflated, mode="r|") as archive:
            for member in archive:
                _check_member_name(member.name)
                if top is None:
                    top = _single_top_level([member.name])
                elif _top_level(member.name) != top:
                    raise _too_many_top_levels()
                _check_link_or_special(member, top)
                if metadata is None and member.name == f"{top}/PKG-INFO" and member.isfile():
                    extracted = archive.extractfile(member)
                    metadata = _read_capped(extracted, member.name) if extracted else None
    except (tarfile.TarError, EOFError, OSError, zlib.error) as exc:
        raise InvalidDistribution(f"File is not a tarfile: {exc}") from None
    if top is None:
        raise _too_many_top_levels()
    if metadata is None:
        raise InvalidDistribution(f"PKG-INFO not found at {top}/PKG-INFO")
    return DistributionContents(metadata)
