"""Every operation of the JSON API as a subcommand: feeds (and deleted feeds), permissions, tokens,
packages, the recycle bin, change histories, whoami. Each prints a table (or a line) for people, or
the server's JSON with ``--json``."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from feedhouse_cli import config
from feedhouse_cli.api import Api, segment
from feedhouse_cli.errors import USAGE, CliError
from feedhouse_cli.output import emit_json, table

ROLES = ("reader", "collaborator", "contributor", "owner")
VISIBILITIES = ("public", "organization", "private")
SCOPES = ("read", "publish", "manage")


def api_for(args: argparse.Namespace) -> Api:
    target = config.target(args.url)
    return Api(target.url, target.token)


def _show(args: argparse.Namespace, data: Any, render) -> None:
    if args.json:
        emit_json(data)
    else:
        render(data)


def _feed_path(feed: str) -> str:
    return f"/api/feeds/{segment(feed)}"


def _package_path(feed: str, project: str) -> str:
    return f"{_feed_path(feed)}/packages/{segment(project)}"


# whoami


def whoami(args: argparse.Namespace) -> None:
    data = api_for(args).call("GET", "/api/whoami")

    def render(d: dict) -> None:
        token = d.get("token") or {}
        who = "the admin" if d.get("admin") else d.get("user")
        if d.get("name"):  # signed in through the identity provider: their name, and their groups
            who = f"{d['name']} ({d.get('user')})"
        print(f"{who} on {config.target(args.url).url}")
        if d.get("groups"):
            print("groups: " + ", ".join(d["groups"]))
        if token and token.get("id") == "oidc":
            print(f"signed in through the identity provider until {token.get('expires')}")
        elif token:
            feeds = ", ".join(token["feeds"]) if token.get("feeds") else "all feeds"
            expires = token.get("expires") or "never"
            print(
                f"token {token.get('name')!r} ({token.get('id')}): scope {token.get('scope')}, {feeds},"
                f" expires {expires}"
            )
        for feed, role in (d.get("roles") or {}).items():
            print(f"  {role:<12} {feed}")

    _show(args, data, render)


# feeds


def parse_upstream(spec: str) -> dict[str, Any]:
    """``pypi``, ``feed:<name>``, or an index URL, optionally ``<url>;credential=<setting name>``."""
    if spec == "pypi":
        return {"type": "pypi"}
    if spec.startswith("feed:"):
        return {"type": "feed", "feed": spec[len("feed:") :]}
    url, _, extra = spec.partition(";")
    if url.startswith(("http://", "https://")):
        upstream: dict[str, Any] = {"type": "index", "url": url}
        if extra:
            key, _, value = extra.partition("=")
            if key != "credential" or not value:
                raise CliError(f"--upstream {spec!r}: after ';' only credential=<app setting name>", USAGE)
            upstream["credential"] = value
        return upstream
    raise CliError(f"--upstream {spec!r}: use pypi, feed:<name>, or an index URL", USAGE)


def _feed_fields(args: argparse.Namespace) -> dict[str, Any]:
    body: dict[str, Any] = {}
    if args.description is not None:
        body["description"] = args.description
    if args.visibility is not None:
        body["visibility"] = args.visibility
    if args.upstream is not None:
        body["upstreams"] = [parse_upstream(s) for s in args.upstream]
    if args.no_upstreams:
        body["upstreams"] = []
    if args.claim is not None:
        body["claimed_patterns"] = args.claim
    if args.no_claims:
        body["claimed_patterns"] = []
    if args.readers_save is not None:
        body["readers_save"] = args.readers_save
    if args.upstream_cooldown_days is not None:
        body["upstream_cooldown_days"] = args.upstream_cooldown_days
    if args.cooldown_exception is not None:
        body["cooldown_exceptions"] = args.cooldown_exception
    if args.no_cooldown_exceptions:
        body["cooldown_exceptions"] = []
    return body


def _upstream_text(u: dict[str, Any]) -> str:
    if u.get("type") == "feed":
        return f"feed:{u.get('feed')}"
    if u.get("type") == "index":
        return u.get("url") or u.get("host") or "index"
    return str(u.get("type"))


def _render_feed(d: dict[str, Any]) -> None:
    rows = [
        ("name", d.get("name")),
        ("description", d.get("description")),
        ("visibility", d.get("visibility")),
        ("created", d.get("created")),
        ("upstreams", [_upstream_text(u) for u in d.get("upstreams") or []] or "none"),
        ("claimed patterns", d.get("claimed_patterns") or "none"),
        ("readers save", d.get("readers_save")),
        ("upstream cooldown days", d.get("upstream_cooldown_days") or "off"),
        ("cooldown exceptions", d.get("cooldown_exceptions") or "none"),
    ]
    if "downloads" in d:  # the feed's own URL has them, a create or update may not
        rows.append(("downloads", _downloads_text(d["downloads"])))
    table(rows, ("field", "value"))


def _downloads_text(downloads: dict[str, Any] | None) -> str:
    """A download count as the server gives it: the total, and when it was last downloaded."""
    if not downloads or not downloads.get("total"):
        return "0"
    return f"{downloads['total']} (last {downloads.get('last_download')})"


def feeds_list(args: argparse.Namespace) -> None:
    data = api_for(args).call("GET", "/api/feeds")
    _show(
        args,
        data,
        lambda d: table(
            [
                (
                    f["name"],
                    f["visibility"],
                    [_upstream_text(u) for u in f.get("upstreams") or []],
                    f.get("description"),
                )
                for f in d["feeds"]
            ],
            ("feed", "visibility", "upstreams", "description"),
        ),
    )


def feeds_show(args: argparse.Namespace) -> None:
    _show(args, api_for(args).call("GET", _feed_path(args.feed)), _render_feed)


def feeds_create(args: argparse.Namespace) -> None:
    body = {"name": args.feed, **_feed_fields(args)}
    if args.owner is not None:
        body["owner"] = args.owner
    _show(args, api_for(args).call("POST", "/api/feeds", body), _render_feed)


def feeds_update(args: argparse.Namespace) -> None:
    body = _feed_fields(args)
    if not body:
        raise CliError("Nothing to change: give --description, --visibility, --upstream, --claim, ...", USAGE)
    _show(args, api_for(args).call("PATCH", _feed_path(args.feed), body), _render_feed)


def feeds_delete(args: argparse.Namespace) -> None:
    if not args.yes:
        raise CliError(
            f"Deleting feed {args.feed!r} moves it, with all its files, to the recycle bin, where it is"
            " purged after the deployment's days (30 unless changed): add --yes to do it.",
            USAGE,
        )
    api_for(args).call("DELETE", _feed_path(args.feed))
    _show(
        args,
        {"deleted": args.feed},
        lambda d: print(
            f"Moved feed {args.feed} to the recycle bin ('feedhouse feeds restore' brings it back)."
        ),
    )


def _bin_path(feed: str) -> str:
    return f"/api/recycle-bin/feeds/{segment(feed)}"


def feeds_deleted(args: argparse.Namespace) -> None:
    data = api_for(args).call("GET", "/api/recycle-bin/feeds")
    _show(
        args,
        data,
        lambda d: table(
            [(f["name"], f["deleted_at"], f["deleted_by"], f["purge_after"]) for f in d["feeds"]],
            ("feed", "deleted", "by", "purged after"),
        ),
    )


def feeds_restore(args: argparse.Namespace) -> None:
    data = api_for(args).call("POST", f"{_bin_path(args.feed)}/restore")
    _show(args, data, lambda d: print(f"Restored feed {d['name']}, as it was deleted."))


def feeds_purge(args: argparse.Namespace) -> None:
    if not args.yes:
        raise CliError(
            f"Purging feed {args.feed!r} deletes it and all its files for good: add --yes to do it.", USAGE
        )
    api_for(args).call("DELETE", _bin_path(args.feed))
    _show(args, {"purged": args.feed}, lambda d: print(f"Purged feed {args.feed}; its name is free."))


# change histories


def _changes(args: argparse.Namespace, path: str, params: dict[str, Any]) -> None:
    """Up to --limit entries of a history, page after page (a page may be short, even empty)."""
    if args.limit < 1:
        raise CliError("--limit is a number of entries, 1 or more.", USAGE)
    api = api_for(args)
    entries: list[dict[str, Any]] = []
    continuation = None
    while len(entries) < args.limit:
        query = {**params, "order": args.order, "limit": min(1000, args.limit - len(entries))}
        page = api.call(
            "GET", path, params={**query, **({"continuation": continuation} if continuation else {})}
        )
        entries += page["changes"]
        continuation = page.get("continuation")
        if not continuation:
            break
    fixed = ("at", "user", "agent", "action")
    _show(
        args,
        {"changes": entries},
        lambda d: table(
            [
                (
                    e["at"],
                    e["user"],
                    e.get("agent") or "",
                    e["action"],
                    " ".join(f"{k}={v}" for k, v in e.items() if k not in fixed),
                )
                for e in d["changes"]
            ],
            ("at", "user", "client", "action", "what"),
        ),
    )


def feeds_changes(args: argparse.Namespace) -> None:
    _changes(args, f"{_feed_path(args.feed)}/changes", {})


def tokens_changes(args: argparse.Namespace) -> None:
    _changes(args, "/api/tokens/changes", {"user": args.user} if args.user else {})


# permissions


def permissions_list(args: argparse.Namespace) -> None:
    data = api_for(args).call("GET", f"{_feed_path(args.feed)}/permissions")
    _show(args, data, lambda d: table([(p["user"], p["role"]) for p in d["permissions"]], ("user", "role")))


def permissions_grant(args: argparse.Namespace) -> None:
    path = f"{_feed_path(args.feed)}/permissions/{segment(args.user)}"
    data = api_for(args).call("PUT", path, {"role": args.role})
    _show(args, data, lambda d: print(f"{d['user']} is now {d['role']} of {args.feed}."))


def permissions_revoke(args: argparse.Namespace) -> None:
    api_for(args).call("DELETE", f"{_feed_path(args.feed)}/permissions/{segment(args.user)}")
    _show(
        args,
        {"revoked": args.user, "feed": args.feed},
        lambda d: print(f"{args.user} has no role on {args.feed} now."),
    )


# tokens


def _token_rows(tokens: list[dict[str, Any]]) -> list[tuple]:
    return [
        (
            t["id"],
            t.get("user"),
            t.get("name"),
            t.get("scope"),
            t.get("feeds") or "all",
            t.get("expires") or "never",
            t.get("last_used"),
        )
        for t in tokens
    ]


_TOKEN_HEADERS = ("id", "user", "name", "scope", "feeds", "expires", "last used")


def tokens_list(args: argparse.Namespace) -> None:
    params = {"user": args.user} if args.user else None
    data = api_for(args).call("GET", "/api/tokens", params=params)
    _show(args, data, lambda d: table(_token_rows(d["tokens"]), _TOKEN_HEADERS))


def tokens_create(args: argparse.Namespace) -> None:
    body: dict[str, Any] = {"name": args.name, "scope": args.scope}
    if args.feed:
        body["feeds"] = args.feed
    if args.expires_in_days is not None:
        body["expires_in_days"] = args.expires_in_days
    if args.expires is not None:
        body["expires"] = args.expires
    if args.user is not None:
        body["user"] = args.user
    data = api_for(args).call("POST", "/api/tokens", body)

    def render(d: dict) -> None:
        table(_token_rows([d]), _TOKEN_HEADERS)
        print(
            f"\n{d['token']}\n\nThe token is shown only now: store it"
            " (for example with `feedhouse login --token-stdin`)."
        )

    _show(args, data, render)


def tokens_revoke(args: argparse.Namespace) -> None:
    api_for(args).call("DELETE", f"/api/tokens/{segment(args.id)}")
    _show(
        args,
        {"revoked": args.id},
        lambda d: print(f"Revoked token {args.id} and every token created from it."),
    )


# packages


def packages_list(args: argparse.Namespace) -> None:
    api = api_for(args)
    packages, continuation = [], None
    while True:  # the API pages; a page may be short, even empty, and still go on
        params = {"limit": 1000, **({"continuation": continuation} if continuation else {})}
        page = api.call("GET", f"{_feed_path(args.feed)}/packages", params=params)
        packages += page["packages"]
        continuation = page.get("continuation")
        if not continuation:
            break
    data = {"packages": packages}
    _show(
        args,
        data,
        lambda d: table(
            [(p["display_name"], p.get("created")) for p in d["packages"]], ("project", "created")
        ),
    )


def _version_rows(versions: list[dict[str, Any]]) -> list[tuple]:
    rows = []
    for v in versions:
        yanked = (
            f"yanked: {v['yanked_reason']}"
            if v.get("yanked_reason")
            else ("yanked" if v.get("yanked") else "")
        )
        for f in v["files"]:
            in_views = ", ".join(f"@{name}" for name in v.get("views", ()))
            rows.append(
                (
                    v["version"],
                    f["filename"],
                    f["size"],
                    f["upload_time"],
                    f.get("origin"),
                    yanked,
                    in_views,
                    _downloads_text(f.get("downloads")),
                )
            )
    return rows


_VERSION_HEADERS = ("version", "file", "bytes", "uploaded", "origin", "state", "views", "downloads")


def packages_show(args: argparse.Namespace) -> None:
    path = _package_path(args.feed, args.project)
    if args.version:
        data = api_for(args).call("GET", f"{path}/versions/{segment(args.version)}")
        _show(args, data, lambda d: table(_version_rows([d]), _VERSION_HEADERS))
    else:
        data = api_for(args).call("GET", path)
        _show(args, data, lambda d: table(_version_rows(d["versions"]), _VERSION_HEADERS))


def packages_yank(args: argparse.Namespace) -> None:
    body = {"reason": args.reason} if args.reason else None
    path = f"{_package_path(args.feed, args.project)}/versions/{segment(args.version)}/yank"
    data = api_for(args).call("POST", path, body)
    _show(
        args,
        data,
        lambda d: print(
            f"Yanked {args.project} {d['version']}"
            + (f": {d['yanked_reason']}" if d.get("yanked_reason") else ".")
        ),
    )


def packages_unyank(args: argparse.Namespace) -> None:
    path = f"{_package_path(args.feed, args.project)}/versions/{segment(args.version)}/unyank"
    data = api_for(args).call("POST", path)
    _show(args, data, lambda d: print(f"{args.project} {d['version']} is no longer yanked."))


def promote(args: argparse.Namespace) -> None:
    path = f"{_package_path(args.feed, args.project)}/versions/{segment(args.version)}/views"
    data = api_for(args).call("POST", path, {"view": args.view})
    names = ", ".join(f"@{v['view']}" for v in data["views"])
    _show(args, data, lambda d: print(f"{args.project} {args.version} is in {names}."))


# views


def _render_views(d: dict[str, Any]) -> None:
    rows = [(f"@{v['name']}", v["visibility"], "built-in" if v["built_in"] else "") for v in d["views"]]
    table(rows, ("view", "visibility", ""))


def views_list(args: argparse.Namespace) -> None:
    _show(args, api_for(args).call("GET", f"{_feed_path(args.feed)}/views"), _render_views)


def views_add(args: argparse.Namespace) -> None:
    body = {"name": args.name, **({"visibility": args.visibility} if args.visibility else {})}
    _show(args, api_for(args).call("POST", f"{_feed_path(args.feed)}/views", body), _render_views)


def views_set(args: argparse.Namespace) -> None:
    visibility = None if args.visibility == "feed" else args.visibility
    path = f"{_feed_path(args.feed)}/views/{segment(args.name)}"
    _show(args, api_for(args).call("PATCH", path, {"visibility": visibility}), _render_views)


def views_remove(args: argparse.Namespace) -> None:
    path = f"{_feed_path(args.feed)}/views/{segment(args.name)}"
    _show(args, api_for(args).call("DELETE", path), _render_views)


# retention: the feed's policy, its preview, owner pins and registered lockfiles


def _policy_text(policy: dict[str, Any] | None) -> str:
    if not policy:
        return "no retention policy: every version is kept"
    most = policy.get("max_versions")
    days = policy.get("keep_downloaded_days")
    parts = [f"keep at most {most} versions per package" if most else "no maximum number of versions"]
    if days is not None:
        parts.append(f"never delete a version downloaded (or uploaded) in the last {days} days")
    return "; ".join(parts)


def _policy_fields(args: argparse.Namespace) -> dict[str, Any]:
    fields = {"max_versions": args.max_versions, "keep_downloaded_days": args.keep_downloaded_days}
    return {k: v for k, v in fields.items() if v is not None}


def retention_show(args: argparse.Namespace) -> None:
    data = api_for(args).call("GET", _feed_path(args.feed))
    _show(args, data.get("retention"), lambda d: print(f"{args.feed}: {_policy_text(d)}"))


def retention_set(args: argparse.Namespace) -> None:
    fields = _policy_fields(args)
    if not args.off and not fields:
        raise CliError("give --max-versions and/or --keep-downloaded-days, or --off", USAGE)
    data = api_for(args).call("PATCH", _feed_path(args.feed), {"retention": None if args.off else fields})
    _show(args, data.get("retention"), lambda d: print(f"{args.feed}: {_policy_text(d)}"))


def retention_preview(args: argparse.Namespace) -> None:
    api, params = api_for(args), _policy_fields(args)
    path = f"{_feed_path(args.feed)}/retention/preview"
    data = api.call("GET", path, params=params)
    projects = list(data["projects"])
    while data.get("continuation"):
        data = api.call("GET", path, params={**params, "continuation": data["continuation"]})
        projects += data["projects"]
    result = {**data, "projects": projects, "continuation": None}
    result.pop("next", None)

    def render(d: dict[str, Any]) -> None:
        print(f"{args.feed}: {_policy_text(d['policy'])}")
        rows = [
            (p["project"], v["version"], v["action"], "; ".join(r["message"] for r in v["reasons"]))
            for p in d["projects"]
            for v in p["versions"]
            if args.all or v["action"] == "delete"
        ]
        table(rows, ("project", "version", "action", "why"))
        total = sum(len(p["delete"]) for p in d["projects"])
        print(f"{total} version(s) would go to the recycle bin.")

    _show(args, result, render)


def _pin(args: argparse.Namespace, method: str) -> None:
    path = f"{_package_path(args.feed, args.project)}/versions/{segment(args.version)}/pin"
    data = api_for(args).call(method, path)
    state = "pinned: retention never deletes it" if data["pinned"] else "no longer pinned"
    _show(args, data, lambda d: print(f"{args.project} {args.version} is {state}."))


def pin(args: argparse.Namespace) -> None:
    _pin(args, "PUT")


def unpin(args: argparse.Namespace) -> None:
    _pin(args, "DELETE")


def _render_lockfiles(d: dict[str, Any]) -> None:
    rows = [
        (f["name"], f["format"], f["pins"], f["registered_by"], f["registered_at"]) for f in d["lockfiles"]
    ]
    table(rows, ("name", "format", "pins", "by", "registered"))


def lockfiles_list(args: argparse.Namespace) -> None:
    _show(args, api_for(args).call("GET", f"{_feed_path(args.feed)}/lockfiles"), _render_lockfiles)


def lockfiles_add(args: argparse.Namespace) -> None:
    file = Path(args.file)
    try:
        content = file.read_bytes()
    except OSError as error:
        raise CliError(f"cannot read {file}: {error.strerror}", USAGE) from None
    name = args.name or file.name
    path = f"{_feed_path(args.feed)}/lockfiles/{segment(name)}"
    data = api_for(args).call("PUT", path, data=content)
    _show(args, data, lambda d: print(f"Registered {d['name']} ({d['format']}): pins {d['pins']} versions."))


def lockfiles_remove(args: argparse.Namespace) -> None:
    api_for(args).call("DELETE", f"{_feed_path(args.feed)}/lockfiles/{segment(args.name)}")
    _show(args, {"removed": args.name}, lambda d: print(f"Removed lockfile {args.name}."))


def _binned(d: dict[str, Any]) -> None:
    print(f"{d.get('message', '')}\n" + "\n".join(f"  {name}" for name in d.get("deleted", [])))


def packages_delete(args: argparse.Namespace) -> None:
    path = f"{_package_path(args.feed, args.project)}/versions/{segment(args.version)}"
    _show(args, api_for(args).call("DELETE", path), _binned)


def packages_delete_file(args: argparse.Namespace) -> None:
    path = f"{_package_path(args.feed, args.project)}/files/{segment(args.filename)}"
    _show(args, api_for(args).call("DELETE", path), _binned)


def packages_upstreaming(args: argparse.Namespace) -> None:
    path = f"{_package_path(args.feed, args.project)}/upstreaming"
    api = api_for(args)
    if args.allow is None:
        data = api.call("GET", path)
    else:
        data = api.call("PUT", path, {"allow_external_versions": args.allow})
    _show(args, data, lambda d: table(list(d.items()), ("field", "value")))


# recycle bin


def bin_list(args: argparse.Namespace) -> None:
    data = api_for(args).call("GET", f"{_feed_path(args.feed)}/recycle-bin")
    _show(
        args,
        data,
        lambda d: table(
            [
                (v["project"], v["version"], [f["filename"] for f in v["files"]], v["purge_after"])
                for v in d["versions"]
            ],
            ("project", "version", "files", "purged after"),
        ),
    )


def bin_restore(args: argparse.Namespace) -> None:
    path = f"{_feed_path(args.feed)}/recycle-bin/{segment(args.project)}/{segment(args.version)}/restore"
    data = api_for(args).call("POST", path)
    _show(args, data, lambda d: print("Restored:\n" + "\n".join(f"  {n}" for n in d["restored"])))


def bin_purge(args: argparse.Namespace) -> None:
    if not args.yes:
        raise CliError("Purging deletes the files for good: add --yes to do it.", USAGE)
    path = f"{_feed_path(args.feed)}/recycle-bin/{segment(args.project)}/{segment(args.version)}"
    data = api_for(args).call("DELETE", path)
    _show(args, data, lambda d: print("Purged:\n" + "\n".join(f"  {n}" for n in d["purged"])))


def add_parsers(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    """The administration subcommands, each with ``common`` (--url, --json)."""

    def leaf(parent, name, handler, help_text):
        p = parent.add_parser(name, parents=[common], help=help_text, description=help_text)
        p.set_defaults(handler=handler)
        return p

    def group(name, help_text):
        p = sub.add_parser(name, help=help_text, description=help_text)
        g = p.add_subparsers(dest=f"{name}_command", metavar="COMMAND", required=True)
        return g

    leaf(sub, "whoami", whoami, "who the token belongs to, its scope and feeds, and the user's roles")

    feeds = group("feeds", "create, list, show, update and delete feeds")
    leaf(feeds, "list", feeds_list, "the feeds you may read")
    leaf(feeds, "show", feeds_show, "one feed, with its upstreams").add_argument("feed")

    def feed_options(p, creating):
        p.add_argument("feed")
        p.add_argument("--description")
        p.add_argument("--visibility", choices=VISIBILITIES)
        p.add_argument(
            "--upstream",
            action="append",
            metavar="SPEC",
            help="pypi, feed:<name>, or an index URL (';credential=<app setting>' after it); repeat in order",
        )
        p.add_argument(
            "--claim", action="append", metavar="PATTERN", help="a name pattern no upstream may serve"
        )
        p.add_argument(
            "--readers-save", dest="readers_save", action=argparse.BooleanOptionalAction, default=None
        )
        p.add_argument(
            "--upstream-cooldown-days",
            type=int,
            metavar="DAYS",
            help="hold back upstream versions younger than this (0-365; 0 turns it off)",
        )
        p.add_argument(
            "--cooldown-exception",
            action="append",
            metavar="NAME[==VERSION]",
            help="a project (or one version of it) the cooldown lets through; repeat for more",
        )
        if creating:
            p.add_argument("--owner", help="(the admin) the user who owns the new feed")
            p.set_defaults(no_upstreams=False, no_claims=False, no_cooldown_exceptions=False)
        else:
            p.add_argument("--no-upstreams", action="store_true", help="turn upstreams off")
            p.add_argument("--no-claims", action="store_true", help="remove every claimed pattern")
            p.add_argument(
                "--no-cooldown-exceptions", action="store_true", help="remove every cooldown exception"
            )

    feed_options(leaf(feeds, "create", feeds_create, "create a feed (you own it)"), creating=True)
    feed_options(
        leaf(feeds, "update", feeds_update, "change a feed; what you leave out stays"), creating=False
    )
    delete = leaf(feeds, "delete", feeds_delete, "move a feed with all its files to the recycle bin")
    delete.add_argument("feed")
    delete.add_argument("--yes", action="store_true", help="yes, delete it")
    leaf(feeds, "deleted", feeds_deleted, "the deleted feeds you own (the admin: all), until purged")
    leaf(feeds, "restore", feeds_restore, "bring a deleted feed back as it was").add_argument("feed")
    purge = leaf(feeds, "purge", feeds_purge, "delete a deleted feed for good, blobs included")
    purge.add_argument("feed")
    purge.add_argument("--yes", action="store_true", help="yes, purge it")

    def history_options(p):
        p.add_argument("--order", choices=("newest", "oldest"), default="newest")
        p.add_argument("--limit", type=int, default=50, help="at most this many entries (default 50)")

    feed_history = leaf(feeds, "changes", feeds_changes, "a feed's change history (owners)")
    feed_history.add_argument("feed")
    history_options(feed_history)

    perms = group("permissions", "who holds which role on a feed")
    leaf(perms, "list", permissions_list, "a feed's grants").add_argument("feed")
    grant = leaf(perms, "grant", permissions_grant, "give a user a role on a feed")
    grant.add_argument("feed")
    grant.add_argument("user")
    grant.add_argument("role", choices=ROLES)
    revoke = leaf(perms, "revoke", permissions_revoke, "take a user's role away")
    revoke.add_argument("feed")
    revoke.add_argument("user")

    tokens = group("tokens", "personal access tokens")
    leaf(tokens, "list", tokens_list, "your tokens (the admin: --user)").add_argument("--user")
    create = leaf(tokens, "create", tokens_create, "create a token; its secret is shown once")
    create.add_argument("name")
    create.add_argument("--scope", choices=SCOPES, default="read")
    create.add_argument("--feed", action="append", help="limit it to this feed (repeat for more)")
    expiry = create.add_mutually_exclusive_group()
    expiry.add_argument("--expires-in-days", type=int)
    expiry.add_argument("--expires", metavar="ISO-8601")
    create.add_argument("--user", help="(the admin) whose token it is")
    leaf(tokens, "revoke", tokens_revoke, "revoke a token and the tokens created from it").add_argument("id")
    token_history = leaf(tokens, "changes", tokens_changes, "your token creations and revocations")
    token_history.add_argument("--user", help="(the admin) whose history")
    history_options(token_history)

    packages = group("packages", "a feed's projects, versions and files")
    leaf(packages, "list", packages_list, "a feed's projects").add_argument("feed")
    show = leaf(packages, "show", packages_show, "a project's versions and files, or one version's")
    show.add_argument("feed")
    show.add_argument("project")
    show.add_argument("version", nargs="?")
    for name, handler, text in (
        ("yank", packages_yank, "yank a version (PEP 592): installers skip it unless pinned"),
        ("unyank", packages_unyank, "undo a yank"),
        ("delete", packages_delete, "move a version's files to the recycle bin"),
    ):
        p = leaf(packages, name, handler, text)
        p.add_argument("feed")
        p.add_argument("project")
        p.add_argument("version")
        if name == "yank":
            p.add_argument("--reason")
    delete_file = leaf(packages, "delete-file", packages_delete_file, "move one file to the recycle bin")
    delete_file.add_argument("feed")
    delete_file.add_argument("project")
    delete_file.add_argument("filename")
    upstreaming = leaf(
        packages, "upstreaming", packages_upstreaming, "whether upstream versions of a project show"
    )
    upstreaming.add_argument("feed")
    upstreaming.add_argument("project")
    allow = upstreaming.add_mutually_exclusive_group()
    allow.add_argument("--allow", dest="allow", action="store_const", const=True, default=None)
    allow.add_argument("--deny", dest="allow", action="store_const", const=False)

    promoting = leaf(sub, "promote", promote, "promote a version (all its files) into a view of its feed")
    promoting.add_argument("feed")
    promoting.add_argument("project")
    promoting.add_argument("version")
    promoting.add_argument("--view", required=True, help="the view, such as release or prerelease")

    views = group("views", "a feed's views (feed@view URLs): list, add, set visibility, remove")
    leaf(views, "list", views_list, "a feed's views with their visibility").add_argument("feed")
    add = leaf(views, "add", views_add, "add a view of your own naming")
    add.add_argument("feed")
    add.add_argument("name")
    add.add_argument("--visibility", choices=VISIBILITIES, help="wider than the feed's, if you like")
    set_ = leaf(views, "set", views_set, "change a view's visibility ('feed': the feed's)")
    set_.add_argument("feed")
    set_.add_argument("name")
    set_.add_argument("--visibility", choices=(*VISIBILITIES, "feed"), required=True)
    remove = leaf(views, "remove", views_remove, "remove a view of your own naming")
    remove.add_argument("feed")
    remove.add_argument("name")

    retention = group("retention", "a feed's retention policy and what it would delete")
    leaf(retention, "show", retention_show, "the feed's policy").add_argument("feed")
    for name, handler, text in (
        ("set", retention_set, "set the policy (--off removes it)"),
        ("preview", retention_preview, "what the next run would delete, and why (a policy to try)"),
    ):
        p = leaf(retention, name, handler, text)
        p.add_argument("feed")
        p.add_argument("--max-versions", type=int, help="keep at most this many versions per package")
        p.add_argument("--keep-downloaded-days", type=int, help="never delete one downloaded in these days")
        if name == "set":
            p.add_argument("--off", action="store_true", help="remove the policy: keep everything")
        else:
            p.add_argument("--all", action="store_true", help="list the versions kept too, with why")
    for name, handler, text in (
        ("pin", pin, "pin a version: retention never deletes it"),
        ("unpin", unpin, "remove an owner's pin"),
    ):
        p = leaf(sub, name, handler, text)
        p.add_argument("feed")
        p.add_argument("project")
        p.add_argument("version")
    lockfiles = group("lockfiles", "lockfiles whose pinned versions retention keeps")
    leaf(lockfiles, "list", lockfiles_list, "a feed's registered lockfiles").add_argument("feed")
    add_lock = leaf(lockfiles, "add", lockfiles_add, "register (or replace) a lockfile")
    add_lock.add_argument("feed")
    add_lock.add_argument("file", help="uv.lock, poetry.lock, pylock.toml or a requirements file")
    add_lock.add_argument("--name", help="the name to register it under (default: the file's name)")
    remove_lock = leaf(lockfiles, "remove", lockfiles_remove, "unregister a lockfile")
    remove_lock.add_argument("feed")
    remove_lock.add_argument("name")

    bin_ = group("recycle-bin", "deleted versions: list, restore, purge")
    leaf(bin_, "list", bin_list, "what is in a feed's recycle bin").add_argument("feed")
    for name, handler, text in (
        ("restore", bin_restore, "bring a version's deleted files back"),
        ("purge", bin_purge, "delete a version's binned files for good"),
    ):
        p = leaf(bin_, name, handler, text)
        p.add_argument("feed")
        p.add_argument("project")
        p.add_argument("version")
        if name == "purge":
            p.add_argument("--yes", action="store_true", help="yes, purge them")
