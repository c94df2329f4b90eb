"""The legacy upload API's rules: what a publish request must carry, checked in Warehouse's order.

Each check raises an error whose message tells the publisher what to change. Nothing here stores
anything; ``shared.publishing.add_file`` does that once every check has passed.
"""

from __future__ import annotations

import contextlib
import hashlib
import math
import re
import threading
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import BinaryIO

from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from shared import untrusted
from shared.digests import BLAKE2B_256, RunningHashes
from shared.distributions import (
    FILETYPE_EXTENSIONS,
    SDIST,
    WHEEL,
    inspect_distribution,
    parse_distribution_filename,
)
from shared.errors import BadRequest, Gone, PayloadTooLarge, ServiceUnavailable
from shared.metadata import check_file_metadata, metadata_from_form, serves_as_core_metadata
from shared.names import validate_filename, validate_project_name

SUPPORTED_METADATA_VERSIONS = frozenset({"1.0", "1.1", "1.2", "2.1", "2.2", "2.3", "2.4", "2.5"})
_CORE_METADATA_HELP = "See https://packaging.python.org/specifications/core-metadata for more information."
_HEX64 = re.compile(r"^[a-fA-F0-9]{64}$")
_HEX32 = re.compile(r"^[a-fA-F0-9]{32}$")
_CHUNK = 1024 * 1024


class UploadRejected(BadRequest):
    code = "upload_rejected"


class UploadsBusy(ServiceUnavailable):
    code = "uploads_busy"


class UploadBudget:
    """The bytes of upload bodies this process works on at once (FEEDHOUSE_UPLOAD_CONCURRENCY_BYTES).

    The Functions host has each body in memory before the app is called, and calls it for at most
    httpPerInstanceConcurrency requests at once; that bounds the bodies. What this bounds is the work
    on them: the app's buffers, the spooled file part and how long each body is held. An upload takes
    as many bytes of the budget as its body has, or the whole budget if its body is larger, so a file
    of any accepted size still gets in, alone. Beyond the budget an upload waits up to
    ``wait_seconds`` for room, then gets a 503 whose Retry-After says when to try again.
    """

    def __init__(self, *, wait_seconds: float = 5.0) -> None:
        self.wait_seconds = wait_seconds
        self._in_use = 0
        self._room = threading.Condition()

    @contextlib.contextmanager
    def admit(self, size: int, *, limit: int) -> Iterator[None]:
        """Hold ``size`` bytes of a budget of ``limit`` (0: no bound) while the block runs."""
        share = min(size, limit)

        def fits() -> bool:
            return not limit or self._in_use + share <= limit

        with self._room:
            if not self._room.wait_for(fits, timeout=self.wait_seconds):
                retry_after = max(1, math.ceil(self.wait_seconds))
                raise UploadsBusy(
                    f"Other uploads are being processed by this server; try again in {retry_after} "
                    "seconds. (A server processes at most FEEDHOUSE_UPLOAD_CONCURRENCY_BYTES bytes of "
                    "uploads at once.)",
                    headers={"Retry-After": str(retry_after)},
                )
            self._in_use += share
        try:
            yield
        finally:
            with self._room:
                self._in_use -= share
                self._room.notify_all()


# The one budget of this process: every upload request of the instance shares it.
UPLOADS = UploadBudget()


@dataclass(frozen=True)
class UploadFile:
    """The ``content`` part of an upload, as the HTTP layer received it."""

    filename: str
    content_type: str | None
    stream: BinaryIO


@dataclass(frozen=True)
class ValidatedUpload:
    name: str
    project: str
    version: str
    filename: str
    filetype: str
    # What every spelling of the file's name shares (distributions.DistributionFilename.identity).
    identity: str
    size: int
    sha256: str
    blake2_256: str
    md5: str
    python_version: str
    requires_python: str | None
    # The file's own METADATA / PKG-INFO, its sha256, and whether it is served as PEP 658 metadata.
    metadata: bytes | None
    metadata_sha256: str | None
    metadata_served: bool
    stream: BinaryIO


def _field(form: Mapping[str, Sequence[str]], name: str) -> str | None:
    values = form.get(name) or []
    value = values[0].strip() if values else ""
    return value or None


def _check_action(form: Mapping[str, Sequence[str]]) -> None:
    action = _field(form, ":action")
    if action in ("submit", "submit_pkg_info"):
        raise Gone("Project pre-registration is no longer required or supported, upload your files instead.")
    if action == "doc_upload":
        raise Gone("Uploading documentation is not supported; host documentation elsewhere.")
    if action != "file_upload":
        raise UploadRejected(
            "Unknown or missing ':action'; an upload sends ':action=file_upload' (twine, uv publish and "
            "poetry publish do this for you)."
        )
    if (_field(form, "protocol_version") or "1") != "1":
        raise UploadRejected("Unknown protocol version.")


def _check_metadata_fields(form: Mapping[str, Sequence[str]]) -> tuple[str, Version]:
    metadata_version = _field(form, "metadata_version")
    if metadata_version not in SUPPORTED_METADATA_VERSIONS:
        raise UploadRejected(
            f"'{metadata_version or ''}' is an invalid value for Metadata-Version. Error: Use a known "
            f"metadata version. {_CORE_METADATA_HELP}"
        )
    name = _field(form, "name")
    if name is None:
        raise UploadRejected(
            f"'' is an invalid value for Name. Error: This field is required. {_CORE_METADATA_HELP}"
        )
    try:
        validate_project_name(name)
    except BadRequest:
        raise UploadRejected(
            f"'{name}' is an invalid value for Name. Error: Start and end with a letter or numeral "
            f"containing only ASCII numeric and '.', '_' and '-'. {_CORE_METADATA_HELP}"
        ) from None
    raw_version = _field(form, "version")
    try:
        version = untrusted.version(raw_version or "")
    except InvalidVersion:
        raise UploadRejected(
            f"'{raw_version or ''}' is an invalid value for Version. Error: Start and end with a letter or "
            f"numeral containing only ASCII numeric and '.', '_' and '-'. {_CORE_METADATA_HELP}"
        ) from None
    return name, version


def _check_filetype(form: Mapping[str, Sequence[str]], filename: str) -> str:
    filetype = _field(form, "filetype")
    if filetype not in FILETYPE_EXTENSIONS:
        raise UploadRejected(
            "Unknown type of file; 'filetype' must be 'sdist' or 'bdist_wheel'. Use a known file type."
        )
    pyversion = _field(form, "pyversion")
    if filetype == WHEEL and not pyversion:
        raise UploadRejected("Python version is required for binary distribution uploads.")
    if filetype == SDIST and pyversion not in (None, "source"):
        raise UploadRejected("Use 'source' as Python version for an sdist.")
    validate_filename(filename)
    if not filename.endswith(FILETYPE_EXTENSIONS[filetype]):
        ext = ".tar.gz" if filename.endswith(".tar.gz") else "." + filename.rpartition(".")[2]
        raise UploadRejected(
            f"Invalid file extension: Extension {ext} is invalid for filetype {filetype}. See "
            "https://peps.python.org/pep-0527/ for more information."
        )
    return filetype


def file_too_large(max_bytes: int) -> PayloadTooLarge:
    """The limit is the deployment's, the same for every feed: say which setting holds it and who may
    change it, so a publisher knows whom to ask."""
    mib = 1024 * 1024
    size = f"{max_bytes / mib:g} MiB ({max_bytes} bytes)" if max_bytes >= mib else f"{max_bytes} bytes"
    return PayloadTooLarge(
        f"File too large. The limit is {size} for every feed of this Feedhouse; the deployment's operator "
        "can raise it with the FEEDHOUSE_MAX_UPLOAD_BYTES setting (in infra/, the maxUploadBytes "
        "parameter, which also raises the Functions host's request body limit)."
    )


def _measure(stream: BinaryIO, max_bytes: int) -> tuple[int, dict[str, str]]:
    """Size and digests in one pass over the bytes, by the names of the form's digest fields."""
    hashes = RunningHashes("md5", "sha256", BLAKE2B_256)
    stream.seek(0)
    for _chunk in hashes.passing(iter(lambda: stream.read(_CHUNK), b"")):
        if hashes.size > max_bytes:
            raise file_too_large(max_bytes)
    stream.seek(0)
    if hashes.size == 0:
        raise UploadRejected("Invalid distribution file. The uploaded file is empty.")
    return hashes.size, {
        "md5": hashes.hexdigest("md5"),
        "sha256": hashes.hexdigest("sha256"),
        "blake2_256": hashes.hexdigest(BLAKE2B_256),
    }


def _check_digests(form: Mapping[str, Sequence[str]], digests: dict[str, str]) -> None:
    supplied = {
        "md5": _field(form, "md5_digest"),
        "sha256": _field(form, "sha256_digest"),
        "blake2_256": _field(form, "blake2_256_digest"),
    }
    if not any(supplied.values()):
        raise UploadRejected("Include at least one message digest.")
    for algorithm, value in supplied.items():
        if value is None:
            continue
        pattern = _HEX32 if algorithm == "md5" else _HEX64
        if not pattern.match(value):
            raise UploadRejected(f"'{algorithm}_digest' must be a hexadecimal {algorithm} digest.")
        if value.lower() != digests[algorithm]:
            raise UploadRejected(
                "The digest supplied does not match a digest calculated from the uploaded file."
            )


def _check_normalized_filename(filename: str, filetype: str, project: str, version: Version) -> None:
    """Refuse a file name that does not spell the project as the specs normalize it, as PyPI does: a
    wheel starts with the normalized name (PEP 427, lower case, '_' for runs of '-_.'); an sdist is
    named exactly ``<normalized name>-<normalized version>`` (PEP 625). Like PyPI, the version in a
    wheel's name only has to equal the form's; other spellings of one file are caught when it is
    stored (``publishing.add_file``)."""
    normalized = project.replace("-", "_")
    if filetype == WHEEL:
        written = filename.split("-", 1)[0]
        if written != normalized:
            raise UploadRejected(
                f"Filename '{filename}' should contain the normalized project name '{normalized}', "
                f"not '{written}'."
            )
        return
    # PyPI takes only .tar.gz sdists now (PEP 625); a private feed still takes the .zip ones PEP 527
    # allowed, under the same name.
    extension = next(e for e in FILETYPE_EXTENSIONS[SDIST] if filename.endswith(e))
    expected = f"{normalized}-{version}{extension}"
    if filename != expected:
        raise UploadRejected(f"Filename '{filename}' is invalid, should be '{expected}'.")


def validate_upload(
    form: Mapping[str, Sequence[str]],
    content: UploadFile | None,
    *,
    max_bytes: int,
) -> ValidatedUpload:
    """Run every upload check, in order; return what may be stored."""
    _check_action(form)
    name, version = _check_metadata_fields(form)
    metadata_from_form(form)
    if content is None:
        raise UploadRejected("Upload payload does not have a file.")
    filetype = _check_filetype(form, content.filename)
    # uv sends the part without a content type; Warehouse's own check is against images.
    if content.content_type and content.content_type.startswith("image/"):
        raise UploadRejected(
            "Invalid distribution file. Send the 'content' part as application/octet-stream."
        )
    size, digests = _measure(content.stream, max_bytes)
    _check_digests(form, digests)

    dist = parse_distribution_filename(content.filename)
    project = canonicalize_name(name)
    if dist.name != project:
        raise UploadRejected(f"Start filename for '{name}' with '{project.replace('-', '_')}'.")
    if dist.version != version:
        raise UploadRejected(f"Version in filename should be '{version}' not '{dist.version}'.")
    if dist.filetype != filetype:
        raise UploadRejected(f"Filename '{content.filename}' is not a {filetype} file name.")
    _check_normalized_filename(content.filename, filetype, project, version)

    contents = inspect_distribution(content.stream, dist)
    served = False
    if contents.metadata is not None:
        file_metadata = check_file_metadata(
            contents.metadata, filename=content.filename, name=name, version=version
        )
        served = serves_as_core_metadata(file_metadata, filetype)
    return ValidatedUpload(
        name=name,
        project=project,
        version=str(version),
        filename=content.filename,
        filetype=filetype,
        identity=dist.identity,
        size=size,
        sha256=digests["sha256"],
        blake2_256=digests["blake2_256"],
        md5=digests["md5"],
        python_version=_field(form, "pyversion") or "source",
        requires_python=_field(form, "requires_python"),
        metadata=contents.metadata,
        metadata_sha256=hashlib.sha256(contents.metadata).hexdigest() if contents.metadata else None,
        metadata_served=served,
        stream=content.stream,
    )
