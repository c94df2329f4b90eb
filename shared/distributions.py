"""Distribution files: what a wheel or sdist filename says, and whether the bytes are that archive.

One concept: a file on its own, before it belongs to any feed.
"""

from __future__ import annotations

import tarfile
import zipfile
from dataclasses import dataclass
from typing import BinaryIO

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


class InvalidDistributionFilename(BadRequest):
    code = "invalid_distribution_filename"


class InvalidDistribution(BadRequest):
    """The bytes are not the archive the file name promises."""

    code = "invalid_distribution"

    def __init__(self, detail: str) -> None:
        super().__init__(f"Invalid distribution file. {detail}")


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
    return DistributionFilename(filename, name, version, filetype)


@dataclass(frozen=True)
class DistributionContents:
    """What Feedhouse reads out of an archive: its core metadata file, when it has one."""

    metadata: bytes | None


def inspect_distribution(stream: BinaryIO, dist: DistributionFilename) -> DistributionContents:
    """Check that ``stream`` is the archive ``dist`` names, and read its core metadata."""
    stream.seek(0)
    try:
        if dist.filename.endswith((".whl", ".zip")):
            return _inspect_zip(stream, dist)
        return _inspect_tar(stream, dist)
    finally:
        stream.seek(0)


def _inspect_zip(stream: BinaryIO, dist: DistributionFilename) -> DistributionContents:
    if not zipfile.is_zipfile(stream):
        raise InvalidDistribution("File is not a zipfile")
    stream.seek(0)
    try:
        with zipfile.ZipFile(stream) as archive:
            names = archive.namelist()
            if dist.filetype == WHEEL:
                metadata_name = _wheel_metadata_name(names)
                if metadata_name is None:
                    raise InvalidDistribution(
                        f"Wheel '{dist.filename}' does not contain the required METADATA file."
                    )
                return DistributionContents(archive.read(metadata_name))
            member = _sdist_pkg_info_name(names)
            return DistributionContents(archive.read(member) if member else None)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, OSError) as exc:
        raise InvalidDistribution(f"File is not a valid zipfile: {exc}") from None


def _inspect_tar(stream: BinaryIO, dist: DistributionFilename) -> DistributionContents:
    try:
        with tarfile.open(fileobj=stream, mode="r:gz") as archive:
            members = archive.getmembers()
            tops = {m.name.split("/", 1)[0] for m in members}
            if len(tops) != 1:
                raise InvalidDistribution("Incorrect number of top-level directories in sdist")
            (top,) = tops
            pkg_info = next((m for m in members if m.name == f"{top}/PKG-INFO" and m.isfile()), None)
            if pkg_info is None:
                raise InvalidDistribution(f"PKG-INFO not found at {top}/PKG-INFO")
            extracted = archive.extractfile(pkg_info)
            return DistributionContents(extracted.read() if extracted else None)
    except (tarfile.TarError, EOFError, OSError, ValueError) as exc:
        raise InvalidDistribution(f"File is not a tarfile: {exc}") from None


def _wheel_metadata_name(names: list[str]) -> str | None:
    candidates = [n for n in names if n.count("/") == 1 and n.endswith(".dist-info/METADATA")]
    return candidates[0] if len(candidates) == 1 else None


def _sdist_pkg_info_name(names: list[str]) -> str | None:
    candidates = [n for n in names if n.count("/") == 1 and n.endswith("/PKG-INFO")]
    return candidates[0] if len(candidates) == 1 else None
