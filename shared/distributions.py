"""Distribution files: what a wheel or sdist filename says, and whether the bytes are that archive.

One concept: a file on its own, before it belongs to any feed.
"""

from __future__ import annotations

import gzip
import io
import tarfile
import zipfile
import zlib
from collections.abc import Iterable
from dataclasses import dataclass
from typing import IO, Any, BinaryIO

from packaging.utils import (
    InvalidSdistFilename,
    InvalidWheelFilename,
    NormalizedName,
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


def filetype_of(filename: str) -> str | None:
    for filetype, extensions in FILETYPE_EXTENSIONS.items():
        if filename.endswith(extensions):
            return filetype
    return None


def parse_distribution_filename(filename: str) -> DistributionFilename:
    """Parse a wheel or sdist filename into its normalized name, version and file type."""
    filetype = filetype_of(filename)
    try:
        if filetype == WHEEL:
            name, version, _build, _tags = parse_wheel_filename(filename)
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
    return DistributionFilename(filename, name, version, filetype)


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
            names = {i.filename for i in infos}
            if dist.filetype == WHEEL:
                return DistributionContents(_wheel_metadata(archive, names, dist.filename))
            top = _single_top_level(names)
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


def _single_top_level(names: Iterable[str]) -> str:
    tops = {name.split("/", 1)[0] for name in names}
    if len(tops) != 1 or "" in tops or "." in tops:
        raise InvalidDistribution("Incorrect number of top-level directories in sdist")
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
    names: list[str] = []
    metadata: bytes | None = None
    try:
        # Stream mode reads the archive once, front to back, without seeking.
        with tarfile.open(fileobj=inflated, mode="r|") as archive:
            for member in archive:
                names.append(member.name)
                is_pkg_info = member.name.count("/") == 1 and member.name.endswith("/PKG-INFO")
                if metadata is None and is_pkg_info and member.isfile():
                    extracted = archive.extractfile(member)
                    metadata = _read_capped(extracted, member.name) if extracted else None
    except (tarfile.TarError, EOFError, OSError, zlib.error) as exc:
        raise InvalidDistribution(f"File is not a tarfile: {exc}") from None
    top = _single_top_level(names)
    if metadata is None or not any(n == f"{top}/PKG-INFO" for n in names):
        raise InvalidDistribution(f"PKG-INFO not found at {top}/PKG-INFO")
    return DistributionContents(metadata)
