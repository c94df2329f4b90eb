"""Simple repository pages, HTML (PEP 503) and JSON (PEP 691), built from a feed's records.

API version 1.1: PEP 700's ``versions``, ``size`` and ``upload-time`` in JSON; PEP 592 yanks, PEP 658/714
core metadata and ``data-requires-python`` in both formats. The HTML form carries no size or upload
time (PEP 700 defines none for it). PEP 740's ``provenance`` (``data-provenance``) for files uploaded
with attestations, in both: it came with version 1.3, which also means PEP 708's tracks and alternate
locations (1.2), which Feedhouse has not, so the version stays 1.1; clients read the key when present.

A feed with upstreams lists upstream files the same way, with the feed's own URLs (the upstream host
never appears); PEP 700's size and upload time are left out when the upstream did not give them.

Links are relative to the page, so they stay on whatever host and scheme the client used: from
``/<feed>/simple/<project>/`` the file at ``/<feed>/files/<project>/<filename>`` is
``../../files/<project>/<filename>``, and its metadata is that URL plus ``.metadata``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from html import escape
from typing import Any, Protocol
from urllib.parse import quote

from shared.packages import Project


class PageFile(Protocol):
    """What a page shows of a file: a StoredFile, or shared.upstream.sources.ListedFile for any source."""

    @property
    def filename(self) -> str: ...
    @property
    def version(self) -> str: ...
    @property
    def sha256(self) -> str: ...
    @property
    def requires_python(self) -> str | None: ...
    @property
    def yanked(self) -> bool: ...
    @property
    def yanked_reason(self) -> str | None: ...
    @property
    def core_metadata_sha256(self) -> str | None: ...
    @property
    def size(self) -> int | None: ...
    @property
    def uploaded(self) -> str | None: ...
    @property
    def attested(self) -> bool: ...


REPOSITORY_VERSION = "1.1"


def _document(title: str, body: Iterable[str]) -> str:
    lines = [
        "<!DOCTYPE html>",
        "<html>",
        "  <head>",
        f'    <meta name="pypi:repository-version" content="{REPOSITORY_VERSION}">',
        f"    <title>{escape(title)}</title>",
        "  </head>",
        "  <body>",
        f"    <h1>{escape(title)}</h1>",
        *(f"    {line}" for line in body),
        "  </body>",
        "</html>",
        "",
    ]
    return "\n".join(lines)


def _json(document: dict[str, Any]) -> str:
    return json.dumps(document, separators=(",", ":"), sort_keys=False) + "\n"


def project_list_html(feed_name: str, projects: Iterable[Project]) -> str:
    links = (f'<a href="{quote(p.name)}/">{escape(p.display_name)}</a><br/>' for p in projects)
    return _document(f"Simple index: {feed_name}", links)


def project_list_json(projects: Iterable[Project]) -> str:
    return _json(
        {
            "meta": {"api-version": REPOSITORY_VERSION},
            "projects": [{"name": p.display_name} for p in projects],
        }
    )


def file_url(project: str, filename: str) -> str:
    """A file's URL relative to its project page."""
    return f"../../files/{quote(project)}/{quote(filename)}"


def provenance_url(project: str, version: str, filename: str) -> str:
    """A file's provenance (PEP 740) relative to its project page: where PyPI serves it, under the feed."""
    return f"../../integrity/{quote(project)}/{quote(version)}/{quote(filename)}/provenance"


def _yanked_attribute(f: PageFile) -> str | None:
    if not f.yanked:
        return None
    return f'data-yanked="{escape(f.yanked_reason)}"' if f.yanked_reason else "data-yanked"


def project_html(project: str, files: Iterable[PageFile]) -> str:
    def link(f: PageFile) -> str:
        attributes = [f'href="{escape(file_url(project, f.filename))}#sha256={f.sha256}"']
        if f.requires_python:
            attributes.append(f'data-requires-python="{escape(f.requires_python)}"')
        if yanked := _yanked_attribute(f):
            attributes.append(yanked)
        if f.core_metadata_sha256:
            # PEP 714's name, and PEP 658's older one for clients that only know that.
            attributes.append(f'data-core-metadata="sha256={f.core_metadata_sha256}"')
            attributes.append(f'data-dist-info-metadata="sha256={f.core_metadata_sha256}"')
        if f.attested:
            attributes.append(f'data-provenance="{escape(provenance_url(project, f.version, f.filename))}"')
        return f"<a {' '.join(attributes)}>{escape(f.filename)}</a><br/>"

    return _document(f"Links for {project}", (link(f) for f in files))


def _file_json(project: str, f: PageFile) -> dict[str, Any]:
    metadata: dict[str, str] | bool = {"sha256": f.core_metadata_sha256} if f.core_metadata_sha256 else False
    entry: dict[str, Any] = {
        "filename": f.filename,
        "url": file_url(project, f.filename),
        "hashes": {"sha256": f.sha256},
    }
    if f.requires_python:
        entry["requires-python"] = f.requires_python
    entry |= {
        "core-metadata": metadata,
        "dist-info-metadata": metadata,
        "yanked": (f.yanked_reason or True) if f.yanked else False,
    }
    # Always known for files in the feed; an upstream's file may come without them.
    if f.size is not None:
        entry["size"] = f.size
    if f.uploaded:
        entry["upload-time"] = f.uploaded
    # PEP 740: present only for a file with attestations, as on PyPI.
    if f.attested:
        entry["provenance"] = provenance_url(project, f.version, f.filename)
    return entry


def project_json(project: str, files: Iterable[PageFile], versions: Iterable[str]) -> str:
    return _json(
        {
            "meta": {"api-version": REPOSITORY_VERSION},
            "name": project,
            "versions": list(versions),
            "files": [_file_json(project, f) for f in files],
        }
    )
