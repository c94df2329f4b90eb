"""The PyPI-shaped JSON API: ``/{feed}/pypi/{project}/json`` and ``/{feed}/pypi/{project}/{version}/json``.

The same documents pypi.org serves (``info``, ``releases``, ``urls``, ``last_serial``), for tools that
read them (pip-audit, johnnydep, Renovate, Dependabot). ``info`` comes from the release's own core
metadata file, stored at upload; PyPI-only fields (docs, bug tracker) carry PyPI's "unknown" values.
Each file's ``downloads`` is its total (as flushed: shared/download_counts.py); ``info.downloads`` keeps
PyPI's shape with -1 ("unknown", as pypi.org itself serves) for its last day, week and month, since
the feed counts totals, not windows. File URLs are absolute, on the host the request came to.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from packaging.metadata import RawMetadata
from packaging.version import InvalidVersion, Version

from shared import download_counts, untrusted
from shared.distributions import WHEEL
from shared.download_counts import ProjectCounts
from shared.metadata import read_metadata_file
from shared.packages import (
    ProjectNotFound,
    ProjectRecords,
    ReleaseNotFound,
    StoredFile,
    parse_time,
    parse_version,
    version_key,
)

if TYPE_CHECKING:
    from shared.feed_index import FeedIndex

# The feed keeps totals and the last download, not counts per window.
_UNKNOWN_DOWNLOADS = {"last_day": -1, "last_month": -1, "last_week": -1}


def _version(value: str) -> Version | None:
    try:
        return untrusted.version(value)
    except InvalidVersion:
        return None


def latest_version(records: ProjectRecords) -> str | None:
    """The version PyPI's ``info`` describes: the newest final release that is not yanked, else the newest
    one not yanked, else the newest."""
    active = records.active
    if not active:
        return None

    def newest(files: Iterable[StoredFile]) -> str | None:
        ranked = [(v, f.version) for f in files if (v := _version(f.version)) is not None]
        return max(ranked)[1] if ranked else None

    not_yanked = [f for f in active if not f.yanked]
    final = [f for f in not_yanked if (v := _version(f.version)) is not None and not v.is_prerelease]
    return newest(final) or newest(not_yanked) or newest(active) or active[-1].version


def release_files(records: ProjectRecords, version: str) -> list[StoredFile]:
    key = version_key(version)
    return [f for f in records.active if f.version_key == key]


def release_metadata(index: FeedIndex, files: list[StoredFile]) -> RawMetadata | None:
    """The core metadata of a release, read from one of its files (a wheel's, if it has one)."""
    with_metadata = sorted((f for f in files if f.metadata_blob), key=lambda f: f.filetype != WHEEL)
    if not with_metadata:
        return None
    return read_metadata_file(index.core_metadata(with_metadata[0]))


def _python_version(f: StoredFile) -> str:
    if f.python_version:
        return f.python_version
    return f.filename.split("-")[-3] if f.filetype == WHEEL else "source"


def _file(f: StoredFile, files_url: str, counts: ProjectCounts) -> dict[str, Any]:
    digests = {"blake2b_256": f.blake2_256, "sha256": f.sha256}
    if f.md5:
        digests["md5"] = f.md5
    return {
        "comment_text": None,
        "digests": dict(sorted(digests.items())),
        "downloads": counts.file(f.filename).total,
        "filename": f.filename,
        "has_sig": False,
        "md5_digest": f.md5,
        "packagetype": f.filetype,
        "python_version": _python_version(f),
        "requires_python": f.requires_python,
        "size": f.size,
        "upload_time": f.uploaded[:19],
        "upload_time_iso_8601": f.uploaded,
        "url": files_url + quote(f.filename),
        "yanked": f.yanked,
        "yanked_reason": f.yanked_reason,
    }


def _info(
    display_name: str,
    version: str,
    files: list[StoredFile],
    metadata: RawMetadata | None,
    urls: dict[str, str],
) -> dict[str, Any]:
    raw: dict[str, Any] = dict(metadata or {})
    yanked = bool(files) and all(f.yanked for f in files)
    return {
        "author": raw.get("author"),
        "author_email": raw.get("author_email"),
        "bugtrack_url": None,
        "classifiers": raw.get("classifiers", []),
        "description": raw.get("description", ""),
        "description_content_type": raw.get("description_content_type"),
        "docs_url": None,
        "download_url": raw.get("download_url"),
        "downloads": _UNKNOWN_DOWNLOADS,
        "dynamic": raw.get("dynamic"),
        "home_page": raw.get("home_page"),
        "keywords": ", ".join(raw.get("keywords", [])) or None,
        "license": raw.get("license"),
        "license_expression": raw.get("license_expression"),
        "license_files": raw.get("license_files"),
        "maintainer": raw.get("maintainer"),
        "maintainer_email": raw.get("maintainer_email"),
        "name": raw.get("name") or display_name,
        "package_url": urls["project"],
        "platform": (raw.get("platforms") or [None])[0],
        "project_url": urls["project"],
        "project_urls": raw.get("project_urls"),
        "provides_extra": raw.get("provides_extra"),
        "release_url": urls["release"],
        "requires_dist": raw.get("requires_dist"),
        "requires_python": raw.get("requires_python") or next((f.requires_python for f in files), None),
        "summary": raw.get("summary"),
        "version": version,
        "yanked": yanked,
        "yanked_reason": files[0].yanked_reason if yanked else None,
    }


def _last_serial(records: ProjectRecords) -> int:
    """No journal here: the newest upload time, in microseconds, grows with every upload."""
    times = [parse_time(f.uploaded) for f in records.files]
    newest = max(times, default=datetime.fromtimestamp(0).astimezone())
    return int(newest.timestamp() * 1_000_000)


def document(
    records: ProjectRecords,
    *,
    display_name: str,
    version: str,
    metadata: RawMetadata | None,
    base_url: str,
    with_releases: bool,
    counts: ProjectCounts,
) -> dict[str, Any]:
    """The JSON API document of a project (``with_releases``) or of one of its versions.

    ``base_url`` is the feed's root on this host, e.g. ``https://host/team``.
    """
    project = records.project
    files_url = f"{base_url}/files/{quote(project)}/"
    files = release_files(records, version)
    urls = {
        "project": f"{base_url}/simple/{quote(project)}/",
        "release": f"{base_url}/pypi/{quote(project)}/{quote(version)}/json",
    }
    doc: dict[str, Any] = {
        "info": _info(display_name, version, files, metadata, urls),
        "last_serial": _last_serial(records),
    }
    if with_releases:
        releases: dict[str, list[dict[str, Any]]] = {}
        for f in records.active:
            releases.setdefault(f.version, []).append(_file(f, files_url, counts))
        doc["releases"] = releases
    doc["urls"] = [_file(f, files_url, counts) for f in files]
    doc["vulnerabilities"] = []
    return doc


def project_document(index: FeedIndex, project: str, version: str | None, *, base_url: str) -> dict[str, Any]:
    """The JSON API document of ``project`` in the feed of ``index`` (of one version, if given), as
    PyPI serves it at ``/pypi/<project>/json`` and ``/pypi/<project>/<version>/json``.

    ProjectNotFound when the feed serves no file of the project, ReleaseNotFound for a version it
    has no file of. ``base_url`` is the feed's root on this host, e.g. ``https://host/team``.
    """
    records = index.records(project)
    if not records.active:
        raise ProjectNotFound(f"No project named '{project}' in feed '{index.feed.name}'.")
    if version is None:
        chosen = latest_version(records) or ""
    else:
        parse_version(version, project)
        files = release_files(records, version)
        if not files:
            raise ReleaseNotFound(f"No version '{version}' of project '{project}'.")
        chosen = files[0].version
    display_name = index.display_name(project)
    return document(
        records,
        display_name=project if display_name is None else display_name,
        version=chosen,
        metadata=release_metadata(index, release_files(records, chosen)),
        base_url=base_url,
        with_releases=version is None,
        counts=download_counts.project_counts(index.storage, index.feed.key, project),
    )
