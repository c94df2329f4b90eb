"""Simple repository pages (PEP 503 HTML) built from a feed's records.

Links are relative to the page, so they stay on whatever host and scheme the client used: from
``/<feed>/simple/<project>/`` the file at ``/<feed>/files/<project>/<filename>`` is
``../../files/<project>/<filename>``.
"""

from __future__ import annotations

from collections.abc import Iterable
from html import escape
from urllib.parse import quote

from shared.packages import Project, StoredFile

REPOSITORY_VERSION = "1.0"


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


def project_list_html(feed_name: str, projects: Iterable[Project]) -> str:
    links = (f'<a href="{quote(p.name)}/">{escape(p.display_name)}</a><br/>' for p in projects)
    return _document(f"Simple index: {feed_name}", links)


def file_url(project: str, filename: str) -> str:
    """A file's URL relative to its project page."""
    return f"../../files/{quote(project)}/{quote(filename)}"


def project_html(project: str, files: Iterable[StoredFile]) -> str:
    def link(f: StoredFile) -> str:
        attributes = [f'href="{escape(file_url(project, f.filename))}#sha256={f.sha256}"']
        if f.requires_python:
            attributes.append(f'data-requires-python="{escape(f.requires_python)}"')
        return f"<a {' '.join(attributes)}>{escape(f.filename)}</a><br/>"

    return _document(f"Links for {project}", (link(f) for f in files))
