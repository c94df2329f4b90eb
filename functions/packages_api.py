"""The package API of a feed: list projects and their files, yank, delete, and the recycle bin.

Under ``/api/feeds/{feed}``, with the permission each needs:

- READ: ``GET packages`` (``?limit=``, ``?continuation=``), ``GET packages/{project}``,
  ``GET packages/{project}/versions/{version}``
- PUBLISH: ``POST packages/{project}/versions/{version}/yank`` (optional ``{"reason"}``) and ``.../unyank``
- MANAGE: ``DELETE packages/{project}/versions/{version}``, ``DELETE packages/{project}/files/{filename}``,
  ``GET recycle-bin``, ``POST recycle-bin/{project}/{version}/restore``, ``DELETE
  recycle-bin/{project}/{version}`` (purge now)
- Upstreams: ``GET packages/{project}/upstreaming`` (READ) and ``PUT`` of it (MANAGE)

Files saved from an upstream are listed with ``"origin": "upstream"`` and the upstream's name. Versions
and files carry their ``downloads`` (``total``, ``last_download``), as flushed (shared/download_counts.py).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

import azure.functions as func

from functions.http import feed_access, json_errors, json_response, page_limit, query_param, read_json
from shared import download_counts, lifecycle, publishing, settings, views, yanking
from shared.auth import Permission
from shared.download_counts import Count, ProjectCounts
from shared.errors import BadRequest
from shared.names import normalize_project_name
from shared.packages import (
    ProjectNotFound,
    ProjectRecords,
    Release,
    ReleaseNotFound,
    StoredFile,
    parse_version,
    version_key,
)

bp = func.Blueprint()


def project_of(req: func.HttpRequest) -> str:
    requested = req.route_params["project"]
    try:
        return normalize_project_name(requested)
    except BadRequest:
        raise ProjectNotFound(f"No project named '{requested}'.") from None


@bp.route(route="api/feeds/{feed}/packages", methods=["GET"])
@json_errors
def packages_collection(req: func.HttpRequest) -> func.HttpResponse:
    access = feed_access(req, Permission.READ)
    limit = page_limit(req)
    # An empty continuation is a malformed one, not "from the start".
    continuation = query_param(req, "continuation")
    projects, following = access.index.projects_page(continuation=continuation, limit=limit)
    base = f"/api/feeds/{quote(access.feed.name)}/packages"
    body: dict[str, Any] = {
        "packages": [
            {
                "name": p.name,
                "display_name": p.display_name,
                "created": p.created,
                "url": f"{base}/{quote(p.name)}",
            }
            for p in projects
        ],
        "continuation": following,
    }
    if following:
        body["next"] = f"{base}?limit={limit}&continuation={following}"
    return json_response(body)


def _file_json(feed: str, f: StoredFile, downloads: Count) -> dict[str, Any]:
    hashes = {"sha256": f.sha256, "blake2b_256": f.blake2_256}
    if f.md5:
        hashes["md5"] = f.md5
    return {
        "filename": f.filename,
        "packagetype": f.filetype,
        "size": f.size,
        "hashes": hashes,
        "upload_time": f.uploaded,
        "uploader": f.uploader,
        "requires_python": f.requires_python,
        "core_metadata": {"sha256": f.core_metadata_sha256} if f.core_metadata_sha256 else None,
        "url": f"/{quote(feed)}/files/{quote(f.project)}/{quote(f.filename)}",
        # Its PEP 740 provenance, when it was uploaded with attestations (None: it has none).
        "provenance": f"/{quote(feed)}/integrity/{quote(f.project)}/{quote(f.version)}/"
        f"{quote(f.filename)}/provenance"
        if f.attested
        else None,
        # "local": published to this feed; "upstream": saved from the upstream named.
        "origin": f.origin,
        **({"upstream": f.upstream_label, "saved_at": f.saved_at} if f.from_upstream else {}),
        # As flushed: may lag (README, "Download counts").
        "downloads": downloads.to_json(),
    }


def _versions_json(
    feed: str,
    records: ProjectRecords,
    feed_views: views.FeedViews,
    counts: ProjectCounts,
    only: str | None = None,
) -> list[dict[str, Any]]:
    promoted = views.views_by_release(feed_views, records.records)
    by_version: dict[str, list[StoredFile]] = {}
    for f in records.active:
        if only is None or f.version_key == only:
            by_version.setdefault(f.version_key, []).append(f)
    versions = []
    for key, files in by_version.items():
        release = records.releases.get(key)
        versions.append(
            {
                "version": files[0].version,
                "yanked": bool(release and release.yanked),
                "yanked_reason": release.yanked_reason if release and release.yanked else None,
                "views": [views.LOCAL, *promoted.get(key, [])],
                "downloads": counts.version(key).to_json(),
                "files": [_file_json(feed, f, counts.file(f.filename)) for f in files],
            }
        )
    return versions


@bp.route(route="api/feeds/{feed}/packages/{project}", methods=["GET"])
@json_errors
def package_item(req: func.HttpRequest) -> func.HttpResponse:
    access = feed_access(req, Permission.READ)
    project = project_of(req)
    records = access.index.records(project)
    display_name = access.index.display_name(project)
    if display_name is None and not records.exists:
        raise ProjectNotFound(f"No project named '{project}' in feed '{access.feed.name}'.")
    return json_response(
        {
            "name": project,
            "display_name": project if display_name is None else display_name,
            "versions": _versions_json(
                access.feed.name,
                records,
                access.feed.views,
                download_counts.project_counts(access.storage, access.feed.key, project),
            ),
        }
    )


@bp.route(route="api/feeds/{feed}/packages/{project}/versions/{version}", methods=["GET", "DELETE"])
@json_errors
def version_item(req: func.HttpRequest) -> func.HttpResponse:
    version = req.route_params["version"]
    if req.method == "DELETE":
        access = feed_access(req, Permission.MANAGE)
        project = project_of(req)
        deleted = lifecycle.delete_version(
            access.storage, access.feed.key, project, version, by=access.principal.name, now=datetime.now(UTC)
        )
        return json_response(_binned(project, version, deleted))
    access = feed_access(req, Permission.READ)
    project = project_of(req)
    parse_version(version, project)
    records = access.index.records(project)
    counts = download_counts.project_counts(access.storage, access.feed.key, project)
    found = _versions_json(access.feed.name, records, access.feed.views, counts, only=version_key(version))
    if not found:
        raise ReleaseNotFound(f"No version '{version}' of project '{project}'.")
    return json_response(found[0])


def _binned(project: str, version: str, filenames: list[str]) -> dict[str, Any]:
    days = settings.load().recycle_bin_days
    return {
        "project": project,
        "version": version,
        "deleted": filenames,
        "message": f"Moved to the recycle bin; restorable for {days} days.",
    }


def _release_json(release: Release) -> dict[str, Any]:
    return {
        "version": release.version,
        "yanked": release.yanked,
        "yanked_reason": release.yanked_reason,
        "yanked_at": release.yanked_at,
        "yanked_by": release.yanked_by,
    }


def _set_yanked(req: func.HttpRequest, *, yanked: bool) -> func.HttpResponse:
    access = feed_access(req, Permission.PUBLISH)
    project = project_of(req)
    reason = yanking.parse_reason(read_json(req)) if yanked else None
    release = yanking.set_yanked(
        access.storage,
        access.feed.key,
        project,
        req.route_params["version"],
        yanked=yanked,
        reason=reason,
        by=access.principal.name,
        now=datetime.now(UTC),
    )
    return json_response(_release_json(release))


@bp.route(route="api/feeds/{feed}/packages/{project}/versions/{version}/yank", methods=["POST"])
@json_errors
def yank(req: func.HttpRequest) -> func.HttpResponse:
    return _set_yanked(req, yanked=True)


@bp.route(route="api/feeds/{feed}/packages/{project}/versions/{version}/unyank", methods=["POST"])
@json_errors
def unyank(req: func.HttpRequest) -> func.HttpResponse:
    return _set_yanked(req, yanked=False)


@bp.route(route="api/feeds/{feed}/packages/{project}/files/{filename}", methods=["DELETE"])
@json_errors
def file_item(req: func.HttpRequest) -> func.HttpResponse:
    access = feed_access(req, Permission.MANAGE)
    project = project_of(req)
    filename = req.route_params["filename"]
    version = lifecycle.delete_file(
        access.storage, access.feed.key, project, filename, by=access.principal.name, now=datetime.now(UTC)
    )
    return json_response(_binned(project, version, [filename]))


@bp.route(route="api/feeds/{feed}/recycle-bin", methods=["GET"])
@json_errors
def recycle_bin(req: func.HttpRequest) -> func.HttpResponse:
    access = feed_access(req, Permission.MANAGE)
    retention = timedelta(days=settings.load().recycle_bin_days)
    entries = lifecycle.list_recycle_bin(access.storage, access.feed.key)
    return json_response({"versions": [e.to_json(retention) for e in entries]})


@bp.route(route="api/feeds/{feed}/recycle-bin/{project}/{version}/restore", methods=["POST"])
@json_errors
def restore(req: func.HttpRequest) -> func.HttpResponse:
    access = feed_access(req, Permission.MANAGE)
    project, version = project_of(req), req.route_params["version"]
    restored = lifecycle.restore_version(access.storage, access.feed.key, project, version)
    return json_response({"project": project, "version": version, "restored": restored})


@bp.route(route="api/feeds/{feed}/recycle-bin/{project}/{version}", methods=["DELETE"])
@json_errors
def purge(req: func.HttpRequest) -> func.HttpResponse:
    access = feed_access(req, Permission.MANAGE)
    project, version = project_of(req), req.route_params["version"]
    purged = lifecycle.purge_version(access.storage, access.feed.key, project, version, now=datetime.now(UTC))
    return json_response({"project": project, "version": version, "purged": purged})


@bp.route(route="api/feeds/{feed}/packages/{project}/upstreaming", methods=["GET", "PUT"])
@json_errors
def package_upstreaming(req: func.HttpRequest) -> func.HttpResponse:
    """Whether upstream versions of a project may show in this feed (Azure Artifacts' "allow external
    versions"): GET for readers, PUT ``{"allow_external_versions": true|false}`` for owners. It can be
    set before the project has any file here."""
    access = feed_access(req, Permission.MANAGE if req.method == "PUT" else Permission.READ)
    project = project_of(req)
    if req.method == "PUT":
        body = read_json(req)
        if not isinstance(body, dict) or set(body) != {"allow_external_versions"}:
            raise BadRequest('Send {"allow_external_versions": true} or {"allow_external_versions": false}.')
        allow = body["allow_external_versions"]
        if not isinstance(allow, bool):
            raise BadRequest("'allow_external_versions' must be true or false.")
        publishing.set_allow_external(
            access.storage,
            access.feed.key,
            project,
            allow=allow,
            by=access.principal.name,
            now=datetime.now(UTC),
        )
    return json_response(access.index.upstreaming(project).to_json())


@bp.route(route="api/feeds/{feed}/packages/{project}/versions/{version}/views", methods=["GET", "POST"])
@json_errors
def version_views(req: func.HttpRequest) -> func.HttpResponse:
    """A version's views (READ), or promote it into one (PUBLISH): ``{"view": "release"}``."""
    if req.method == "POST":
        access = feed_access(req, Permission.PUBLISH)
        body = read_json(req)
        if not isinstance(body, dict) or set(body) != {"view"}:
            raise views.InvalidView('Send a JSON object such as {"view": "release"}.')
        promotions = views.promote(
            access.storage,
            access.feed.key,
            access.feed.views,
            project_of(req),
            req.route_params["version"],
            body["view"],
            by=access.principal.name,
        )
    else:
        access = feed_access(req, Permission.READ)
        promotions = views.version_views(
            access.storage, access.feed.key, access.feed.views, project_of(req), req.route_params["version"]
        )
    return json_response({"views": [p.to_json() for p in promotions]})
