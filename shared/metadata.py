"""Core metadata: what an upload form declares, what the file itself says, and whether that file may be
served as the distribution's PEP 658 metadata.

The form is parsed the way Warehouse parses it (``warehouse/forklift/metadata``): form fields become a
``packaging.metadata.RawMetadata``, ``Metadata.from_raw`` validates it, and PyPI's extra rules follow;
the first error, by Warehouse's field priority, becomes the message. Deliberate differences from PyPI,
because this is a private feed: local versions (``1.0+cu121``) and classifiers outside the trove list
(``Private :: Do Not Upload`` is meant for exactly this) are accepted.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, cast

from packaging.metadata import InvalidMetadata, Metadata, RawMetadata, parse_email
from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from shared import untrusted
from shared.distributions import SDIST, WHEEL
from shared.errors import BadRequest

# PEP 658: a distribution's core metadata file is served at the distribution's URL plus this.
METADATA_URL_SUFFIX = ".metadata"
CORE_METADATA_HELP = "See https://packaging.python.org/specifications/core-metadata for more information."
SUMMARY_MAX_LENGTH = 512
PROJECT_URL_LABEL_MAX_LENGTH = 32

_STRING_FIELDS = frozenset(
    {
        "author",
        "author_email",
        "description",
        "description_content_type",
        "download_url",
        "home_page",
        "license",
        "license_expression",
        "maintainer",
        "maintainer_email",
        "metadata_version",
        "name",
        "requires_python",
        "summary",
        "version",
    }
)
_LIST_FIELDS = frozenset(
    {
        "classifiers",
        "dynamic",
        "import_names",
        "import_namespaces",
        "license_files",
        "obsoletes",
        "obsoletes_dist",
        "platforms",
        "provides",
        "provides_dist",
        "provides_extra",
        "requires",
        "requires_dist",
        "requires_external",
        "supported_platforms",
    }
)
_METADATA_KEYS = _STRING_FIELDS | _LIST_FIELDS | {"keywords", "project_urls"}
# Form field names that differ from RawMetadata's keys: publishers send these singular.
_FORM_ALIASES = {
    "platform": "platforms",
    "supported_platform": "supported_platforms",
    "license_file": "license_files",
}
# Warehouse reports the error of these fields first: they tend to cause the others.
_ERROR_PRIORITY = ("metadata-version", "name", "version")
# Fields whose values decide resolution: an sdist whose PKG-INFO marks one Dynamic may build a wheel
# that disagrees, so its PKG-INFO is not offered as the distribution's metadata.
_RESOLUTION_FIELDS = frozenset({"requires-dist", "requires-python", "provides-extra"})


class InvalidCoreMetadata(BadRequest):
    code = "invalid_metadata"


def _form_values(form: Mapping[str, Sequence[str]]) -> dict[str, list[str]]:
    """Form values by RawMetadata key; 'UNKNOWN' (distutils' placeholder) and empty values dropped."""
    values: dict[str, list[str]] = {}
    for key, items in form.items():
        raw_key = _FORM_ALIASES.get(key, key)
        if raw_key not in _METADATA_KEYS:
            continue  # other form fields (':action', digests, ...) are not metadata
        kept = [v for v in items if v.strip() and v.strip() != "UNKNOWN"]
        if kept:
            values.setdefault(raw_key, []).extend(kept)
    return values


def _project_urls(values: list[str]) -> dict[str, str]:
    urls: dict[str, str] = {}
    for value in values:
        label, _, url = (part.strip() for part in value.partition(","))
        if label in urls:
            raise InvalidMetadata("project-url", f"{label!r} is used for more than one Project-URL")
        urls[label] = url
    return urls


def raw_from_form(form: Mapping[str, Sequence[str]]) -> RawMetadata:
    """The form fields of an upload as RawMetadata (Warehouse's ``parse_form_metadata``)."""
    raw: dict[str, Any] = {}
    unparsed: list[str] = []
    for key, values in _form_values(form).items():
        if key in _STRING_FIELDS:
            if len(values) == 1:
                raw[key] = values[0]
            else:
                unparsed.append(key)
        elif key in _LIST_FIELDS:
            raw[key] = values
        elif key == "keywords":
            if len(values) == 1:
                raw[key] = [k.strip() for k in values[0].split(",") if k.strip()]
            else:
                unparsed.append(key)
        else:
            try:
                raw[key] = _project_urls(values)
            except InvalidMetadata:
                unparsed.append(key)
    if unparsed:
        raise ExceptionGroup("unparsed", [InvalidMetadata(k, f"{k!r} has invalid data") for k in unparsed])
    return cast(RawMetadata, raw)


def _pypi_rules(metadata: Metadata) -> list[InvalidMetadata]:
    """The checks Warehouse layers on packaging's, minus the two a private feed must not make."""
    errors = []
    if metadata.summary is not None and len(metadata.summary) > SUMMARY_MAX_LENGTH:
        errors.append(
            InvalidMetadata("summary", f"'summary' field must be {SUMMARY_MAX_LENGTH} characters or less.")
        )
    for label, url in (metadata.project_urls or {}).items():
        if not label:
            errors.append(InvalidMetadata("project-url", "Must have a label"))
        elif len(label) > PROJECT_URL_LABEL_MAX_LENGTH:
            errors.append(
                InvalidMetadata(
                    "project-url", f"{label!r} must be {PROJECT_URL_LABEL_MAX_LENGTH} characters or less."
                )
            )
        elif not url:
            errors.append(InvalidMetadata("project-url", "Must have a URL"))
    for field, email_name in (("provides_dist", "provides-dist"), ("obsoletes_dist", "obsoletes-dist")):
        for value in getattr(metadata, field) or []:
            try:
                requirement = Requirement(value)
            except InvalidRequirement as exc:
                errors.append(InvalidMetadata(email_name, f"{value!r} is invalid: {exc}"))
                continue
            if requirement.url is not None:
                errors.append(InvalidMetadata(email_name, f"Can't have direct dependency: {value!r}"))
    for requirement in metadata.requires_dist or []:
        if requirement.url is not None:
            errors.append(InvalidMetadata("requires-dist", f"Can't have direct dependency: {requirement}"))
    return errors


def _message(errors: Sequence[InvalidMetadata]) -> str:
    by_field: dict[str, list[InvalidMetadata]] = {}
    for error in errors:
        by_field.setdefault(error.field.replace("_", "-"), []).append(error)
    field = next((f for f in _ERROR_PRIORITY if f in by_field), None) or sorted(by_field)[0]
    text = str(by_field[field][0])
    return f"{text}{'' if text.endswith('.') else '.'} {CORE_METADATA_HELP}"


def _invalid_metadata(group: BaseExceptionGroup) -> list[InvalidMetadata]:
    found: list[InvalidMetadata] = []
    for error in group.exceptions:
        if isinstance(error, BaseExceptionGroup):
            found.extend(_invalid_metadata(error))
        elif isinstance(error, InvalidMetadata):
            found.append(error)
        else:
            found.append(InvalidMetadata("metadata", str(error)))
    return found


def metadata_from_form(form: Mapping[str, Sequence[str]]) -> Metadata:
    """Validated metadata from an upload's form fields; InvalidCoreMetadata with Warehouse's message."""
    try:
        metadata = Metadata.from_raw(raw_from_form(form))
        errors = _pypi_rules(metadata)
    except ExceptionGroup as group:
        errors = _invalid_metadata(group)
    except InvalidMetadata as error:
        errors = [error]
    if errors:
        raise InvalidCoreMetadata(_message(errors))
    return metadata


def read_metadata_file(content: bytes) -> RawMetadata:
    """The fields of a METADATA or PKG-INFO file, unvalidated (unknown fields are left out)."""
    raw, _unparsed = parse_email(content)
    return raw


class MetadataMismatch(BadRequest):
    code = "metadata_mismatch"


def check_file_metadata(content: bytes, *, filename: str, name: str, version: Version) -> RawMetadata:
    """Raise unless the file's own metadata names the project and version the form names."""
    raw = read_metadata_file(content)
    file_name, file_version = raw.get("name"), raw.get("version")
    try:
        same_version = file_version is not None and untrusted.version(file_version) == version
    except InvalidVersion:
        same_version = False
    if file_name is None or canonicalize_name(file_name) != canonicalize_name(name) or not same_version:
        raise MetadataMismatch(
            f"The metadata in '{filename}' is for '{file_name or ''}' version '{file_version or ''}', but "
            f"the upload says '{name}' version '{version}'. Upload the file with the metadata it was built "
            "with."
        )
    return raw


def _metadata_version(raw: RawMetadata) -> Version | None:
    try:
        return untrusted.version(raw.get("metadata_version", ""))
    except InvalidVersion:
        return None


def serves_as_core_metadata(raw: RawMetadata, filetype: str) -> bool:
    """Whether a file's metadata may be served as its PEP 658 ``.metadata``.

    A wheel's METADATA always. An sdist's PKG-INFO only from Metadata-Version 2.2 (PEP 643: fields not
    marked Dynamic are final) and only when no field that resolvers read is Dynamic.
    """
    if filetype == WHEEL:
        return True
    if filetype != SDIST:
        return False
    metadata_version = _metadata_version(raw)
    if metadata_version is None or metadata_version < Version("2.2"):
        return False
    dynamic = {field.strip().lower() for field in raw.get("dynamic", [])}
    return not dynamic & _RESOLUTION_FIELDS
