"""The web UI: pages for a feed's readers and owners, served by the same app.

``/`` (the deployment, its feeds, the client), ``/-/signin`` and ``/-/signout``, ``/-/feeds/{feed}/``
(packages, search, the Connect panel) with its settings, permissions and recycle bin,
``/-/feeds/{feed}/packages/{project}/[{version}/]`` (a package page, with yank and delete), and
``/-/tokens/`` and ``/-/recycle-bin`` (deleted feeds, to restore or purge). Under ``/-/``, which no
feed can be named (shared/names.py), so no UI route can take a feed's URL. Static files are at ``/-/static/``.

Handlers here are thin: who may do what is ``auth.authorize``, asked through ``Page.feed`` and
``Page.require`` exactly as the JSON API asks it (a refusal shows the API's message); changes are the
domain's functions, the same the API calls; pages are shared/web/'s templates and view models.
Forms post (with the session's CSRF secret) and are answered with a redirect to the page to show.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import azure.functions as func

from functions import client
from functions.feeds_api import binned_feed, create_feed, deleted_feeds, reader_check
from functions.http import MAX_PAGE_SIZE, html_errors, redirect, text_errors
from functions.tokens_api import create_token, revoke_token
from functions.web_context import Page, page, segment
from shared import (
    auth,
    download_counts,
    feeds,
    lifecycle,
    pypi_json,
    retaining,
    roles,
    settings,
    tokens,
    yanking,
)
from shared import views as feed_views
from shared.auth import Permission
from shared.errors import BadRequest, FeedhouseError, NotFound, Unauthorized
from shared.names import normalize_project_name
from shared.packages import ProjectNotFound, parse_version, version_key
from shared.storage import InvalidContinuation
from shared.web import connect, security, sessions, signin, views

bp = func.Blueprint()

PROJECTS_PER_PAGE = 50


# The deployment ---------------------------------------------------------------------------------


@bp.route(route="{ignored:maxlength(0)?}", methods=["GET"])
@page
def web_home(ui: Page) -> func.HttpResponse:
    """The landing page: what this is, the feeds the visitor may read, the client, signing in.

    The route matches only the empty path (an empty route is not served at the root by the Functions
    host: azure-functions-host#4638)."""
    return _home(ui)


def _home(
    ui: Page, status: int = 200, error: str | None = None, form: dict | None = None
) -> func.HttpResponse:
    storage = ui.storage
    principal = ui.principal
    # A user signed in through the issuer also holds their groups' roles.
    granted = roles.roles_of_grantees(storage, principal.name, principal.groups) if principal.token else {}
    readable = auth.readable_feeds(principal, feeds.list_feeds(storage), granted)
    return ui.render(
        "home.html",
        status,
        feeds=views.feed_rows(principal, readable, granted),
        install_lines=client.install_lines(ui.base_url),
        error=error,
        form=form or {"visibility": feeds.DEFAULT_VISIBILITY},
        visibilities=feeds.VISIBILITIES,
        provider=_provider_name(),
    )


def _provider_name() -> str | None:
    """The issuer people may sign in through, by name; None where only tokens sign in."""
    provider = signin.client(settings.load())
    return provider.provider_name if provider else None


@bp.route(route="-/feeds", methods=["POST"])
@page
def web_create_feed(ui: Page) -> func.HttpResponse:
    principal = ui.check_form()
    ui.require(Permission.CREATE_FEED)
    body = {k: ui.field(k) for k in ("name", "description", "visibility")}
    try:
        created = create_feed(ui.storage, principal, body)
    except FeedhouseError as error:
        return _home(ui, error.status, error.message, body)
    return ui.redirect(views.feed_url(created.name), "feed-created")


@bp.route(route="-/static/{name}", methods=["GET"])
@html_errors
def web_static(req: func.HttpRequest) -> func.HttpResponse:
    """The stylesheet, the copy-button script and the icon: cached for good under a URL that names
    their hash (render.static_url), briefly otherwise. The same for everyone, so no session is looked
    up (a page's every asset would cost a storage read)."""
    from shared.web.render import static_file

    found = static_file(req.route_params["name"])
    if found is None:
        raise NotFound("No such file.")
    data, content_type, digest = found
    immutable = req.params.get("v") == digest
    headers = {
        **security.PAGE_HEADERS,
        "Content-Type": content_type,
        "Cache-Control": "public, max-age=31536000, immutable" if immutable else "public, max-age=300",
    }
    return func.HttpResponse(data, status_code=200, headers=headers)


# Signing in and out --------------------------------------------------------------------------------


@bp.route(route="-/signin", methods=["GET", "POST"])
@page
def web_signin(ui: Page) -> func.HttpResponse:
    """Sign in with a personal access token or the admin token: a session, whose cookie holds only its
    id. The form carries a secret that must match a cookie set with it (shared/web/security.py)."""
    target = security.local_path(ui.req.params.get("next"))
    if ui.req.method == "GET":
        return _signin_form(ui, target, reason=ui.req.params.get("why"))
    if not security.same_secret(ui.field("signin"), ui.cookie(security.SIGNIN_COOKIE)):
        return _signin_form(
            ui,
            target,
            status=403,
            error="This sign-in form had expired or did not come from this site. Try again.",
        )
    token = ui.field("token").strip()
    if not token:
        return _signin_form(ui, target, status=400, error="Paste a token to sign in.")
    admin_token = settings.load().admin_token
    try:
        principal = auth.authenticate(ui.storage, token, admin_token)
    except Unauthorized as error:
        return _signin_form(ui, target, status=401, error=error.message)
    if ui.session_id:
        # Signing in again replaces the browser's session: the one it held ends, not left to expire.
        sessions.end(ui.storage, ui.session_id)
    session_id, _ = sessions.start(ui.storage, principal, admin_token=admin_token)
    cookie = security.cookie(
        security.SESSION_COOKIE, session_id, secure=ui.secure, max_age=int(sessions.ABSOLUTE.total_seconds())
    )
    response = ui.redirect(target, "signed-in" if target == "/" else None)
    return ui.respond(response, cookie)


def _signin_form(
    ui: Page, target: str, *, status: int = 200, error: str | None = None, reason: str | None = None
) -> func.HttpResponse:
    from functions.web_context import SIGN_IN_REASONS

    secret = security.new_form_secret()
    provider = signin.client(settings.load())
    origin = signin.authorization_origin(provider) if provider else None
    response = ui.render(
        "signin.html",
        status,
        target=target,
        signin_secret=secret,
        provider=provider.provider_name if provider and origin else None,
        error=error,
        reason=SIGN_IN_REASONS.get(reason or ""),
        idle_hours=int(sessions.IDLE.total_seconds() // 3600),
        absolute_hours=int(sessions.ABSOLUTE.total_seconds() // 3600),
    )
    cookie = security.cookie(
        security.SIGNIN_COOKIE, secret, secure=ui.secure, max_age=security.SIGNIN_FORM_SECONDS
    )
    response = ui.respond(response, cookie)
    if origin:
        response.headers["Content-Security-Policy"] = security.content_security_policy(origin)
    return response


@bp.route(route="-/signin/start", methods=["POST"])
@page
def web_signin_start(ui: Page) -> func.HttpResponse:
    """Sign in through the deployment's OpenID Connect issuer: off to its authorization endpoint, with
    the state, nonce and PKCE challenge of a sign-in under way that this browser's cookie names
    (shared/web/signin.py). Started only from the sign-in form (its secret), so no link from elsewhere
    records sign-ins."""
    provider = signin.client(settings.load())
    if provider is None:
        raise NotFound("This deployment signs in with tokens only (no FEEDHOUSE_OIDC_CLIENT_ID).")
    target = security.local_path(ui.req.params.get("next"))
    if not security.same_secret(ui.field("signin"), ui.cookie(security.SIGNIN_COOKIE)):
        return _signin_form(
            ui,
            target,
            status=403,
            error="This sign-in form had expired or did not come from this site. Try again.",
        )
    signin_id, location = signin.begin(ui.storage, provider, ui.base_url + signin.CALLBACK_PATH, target)
    cookie = security.cookie(
        security.PENDING_SIGNIN_COOKIE,
        signin_id,
        secure=ui.secure,
        max_age=int(sessions.SIGNIN_LIFETIME.total_seconds()),
        same_site="Lax",
    )
    return ui.respond(func.HttpResponse(status_code=303, headers={"Location": location}), cookie)


@bp.route(route="-/signin/callback", methods=["GET"])
@page
def web_signin_callback(ui: Page) -> func.HttpResponse:
    """The way back from the issuer: its answer checked against the sign-in under way (used up
    whatever the outcome), the code redeemed, the ID token validated; then a session for its user, whose
    cookie lasts no longer than the ID token. A refusal shows the sign-in page saying why."""
    provider = signin.client(settings.load())
    if provider is None:
        raise NotFound("This deployment signs in with tokens only (no FEEDHOUSE_OIDC_CLIENT_ID).")
    params = {key: ui.req.params.get(key) or "" for key in ("code", "state", "error", "error_description")}
    try:
        principal, target = signin.finish(
            ui.storage,
            provider,
            ui.cookie(security.PENDING_SIGNIN_COOKIE),
            params,
            ui.base_url + signin.CALLBACK_PATH,
        )
    except signin.SigninRefused as refused:
        return _signin_form(ui, "/", status=refused.status, error=refused.message)
    if ui.session_id:
        sessions.end(ui.storage, ui.session_id)
    session_id, session = sessions.start(ui.storage, principal, admin_token=None)
    lifetime = int((session.ends - datetime.now(UTC)).total_seconds())
    cookie = security.cookie(security.SESSION_COOKIE, session_id, secure=ui.secure, max_age=max(lifetime, 0))
    response = ui.render(
        "signed_in.html",
        principal=principal,
        signed_in=True,
        csrf=session.csrf,
        target=target,
        provider=provider.provider_name,
    )
    return ui.respond(response, cookie)


@bp.route(route="-/signout", methods=["POST"])
@page
def web_signout(ui: Page) -> func.HttpResponse:
    if ui.session is not None:
        ui.check_form()
        sessions.end(ui.storage, ui.session_id or "")
    cookie = security.cookie(security.SESSION_COOKIE, "", secure=ui.secure, max_age=0)
    return ui.respond(ui.redirect("/", "signed-out"), cookie)


# A feed ---------------------------------------------------------------------------------------------


def _feed_nav(ui: Page, access, active: str) -> dict:
    manager = ui.may(access, Permission.MANAGE)
    feed_json = access.feed.to_json(manager=manager)
    return {
        "feed": access.feed,
        "feed_url": views.feed_url(access.feed.name),
        "manager": manager,
        "active": active,
        "upstreams": views.upstream_rows(feed_json["upstreams"]),
        "claimed_patterns": feed_json["claimed_patterns"],
        "readers_save": feed_json["readers_save"],
        "upstream_cooldown_days": feed_json["upstream_cooldown_days"],
        "cooldown_exceptions": feed_json["cooldown_exceptions"],
    }


@bp.route(route="-/feeds/{feed}", methods=["GET"])
@page
def web_feed(ui: Page) -> func.HttpResponse:
    """A feed: its packages (search by name, a page at a time), what it is, and how to connect."""
    access = ui.feed(Permission.READ)
    query = (ui.req.params.get("q") or "").strip()
    after = ui.req.params.get("after")
    following = None
    page_number = 1
    if query:
        # A search reads the feed's whole list, as its simple index does.
        matches = [p for p in access.index.projects() if views.project_matches(query, p.name)]
        page_number = _page_number(ui.req.params.get("page"))
        start = (page_number - 1) * PROJECTS_PER_PAGE
        projects = matches[start : start + PROJECTS_PER_PAGE]
        more = len(matches) > start + PROJECTS_PER_PAGE
        total = len(matches)
    else:
        try:
            projects, following = access.index.projects_page(continuation=after, limit=PROJECTS_PER_PAGE)
        except InvalidContinuation:
            raise BadRequest(
                "That page of the list is out of date; start again from the first page."
            ) from None
        more = following is not None
        total = None
    nav = _feed_nav(ui, access, "packages")
    principal = ui.principal
    return ui.render(
        "feed.html",
        **nav,
        role=auth.feed_role(ui.storage, principal, access.feed),
        publisher=ui.may(access, Permission.PUBLISH),
        projects=[(p, views.package_url(access.feed.name, p.name)) for p in projects],
        query=query,
        total=total,
        page_number=page_number,
        more=more,
        following=following,
        paged=bool(after),
        clients=connect.clients(
            ui.base_url,
            access.feed.name,
            public=access.feed.visibility == "public",
            client_wheel=client.WHEEL,
            today=datetime.now(UTC).date().isoformat(),
        ),
        index_url=f"{ui.base_url}/{segment(access.feed.name)}/simple/",
        upload_url=f"{ui.base_url}/{segment(access.feed.name)}/upload/",
    )


def _page_number(text: str | None) -> int:
    """A search's page number from the URL; anything but a plain number up to 10**6 is the first page
    (``str.isdigit`` takes "²", and int() refuses thousands of digits)."""
    text = (text or "").strip()
    if not (text.isascii() and text.isdigit() and len(text) <= 6):
        return 1
    return max(1, int(text))


@bp.route(route="-/feeds/{feed}/settings", methods=["GET", "POST"])
@page
def web_feed_settings(ui: Page) -> func.HttpResponse:
    """The owners' form: description, visibility, upstreams, claimed patterns, readers-save, the
    upstream cooldown and its exceptions; and the
    feed's deletion, confirmed by its name."""
    if ui.req.method == "POST":
        ui.check_form()
    access = ui.feed(Permission.MANAGE)
    current = access.feed.to_json()
    if ui.req.method == "GET":
        return _settings_form(ui, access, current, views.upstream_lines(current["upstreams"]))
    form = {
        "description": ui.field("description"),
        "visibility": ui.field("visibility"),
        "upstreams": ui.field("upstreams"),
        "claimed_patterns": ui.field("claimed_patterns"),
        "readers_save": ui.field("readers_save") == "on",
        "upstream_cooldown_days": ui.field("upstream_cooldown_days"),
        "cooldown_exceptions": ui.field("cooldown_exceptions"),
    }
    changes: dict = {"description": form["description"], "visibility": form["visibility"]}
    try:
        # Upstreams and patterns are sent only when they changed: an index URL is checked again
        # (resolved) whenever it is set, which an edit of the description should not depend on.
        upstreams = views.parse_upstream_lines(form["upstreams"])
        if upstreams != current["upstreams"]:
            changes["upstreams"] = upstreams
        patterns = views.pattern_lines(form["claimed_patterns"])
        if patterns != current["claimed_patterns"]:
            changes["claimed_patterns"] = patterns
        if form["readers_save"] != current["readers_save"]:
            changes["readers_save"] = form["readers_save"]
        days = views.whole_number(form["upstream_cooldown_days"], "Upstream cooldown")
        if days != current["upstream_cooldown_days"]:
            changes["upstream_cooldown_days"] = days
        exceptions = views.pattern_lines(form["cooldown_exceptions"])
        if exceptions != current["cooldown_exceptions"]:
            changes["cooldown_exceptions"] = exceptions
        feeds.update_feed(
            access.storage, access.feed.name, changes, may_read=reader_check(access.storage, access.principal)
        )
    except FeedhouseError as error:
        return _settings_form(ui, access, form, form["upstreams"], status=error.status, error=error.message)
    return ui.redirect(views.feed_url(access.feed.name) + "settings", "feed-saved")


def _settings_form(
    ui: Page, access, values: dict, upstream_text: str, *, status: int = 200, error: str | None = None
):
    patterns = values["claimed_patterns"]
    exceptions = values["cooldown_exceptions"]
    return ui.render(
        "feed_settings.html",
        status,
        **_feed_nav(ui, access, "settings"),
        values=values,
        upstream_text=upstream_text,
        patterns_text=patterns if isinstance(patterns, str) else "\n".join(patterns),
        exceptions_text=exceptions if isinstance(exceptions, str) else "\n".join(exceptions),
        upstream_help=views.UPSTREAM_LINES_HELP,
        feed_views=[v.to_json(access.feed.visibility) for v in access.feed.views.all],
        retention=access.feed.retention,
        visibilities=feeds.VISIBILITIES,
        feed_bin_days=settings.load().feed_recycle_bin_days,
        error=error,
    )


@bp.route(route="-/feeds/{feed}/retention", methods=["GET"])
@page
def web_retention(ui: Page) -> func.HttpResponse:
    """What the stored retention policy would delete now: the first page of projects (as many as the
    packages API gives at once), for a look before or after enabling it; the API pages on."""
    access = ui.feed(Permission.MANAGE)
    plans: list = []
    following = None
    if access.feed.retention is not None:
        plans, following = retaining.preview(
            access.storage,
            access.feed,
            access.feed.retention,
            continuation=None,
            limit=MAX_PAGE_SIZE,
            now=datetime.now(UTC),
        )
    return ui.render(
        "retention.html",
        **_feed_nav(ui, access, "settings"),
        policy=access.feed.retention,
        deletions=[(p.project, v) for p in plans for v in p.versions if v.delete],
        more=following is not None,
    )


@bp.route(route="-/feeds/{feed}/delete", methods=["POST"])
@page
def web_delete_feed(ui: Page) -> func.HttpResponse:
    ui.check_form()
    access = ui.feed(Permission.MANAGE)
    if ui.field("confirm") != access.feed.name:
        current = access.feed.to_json()
        return _settings_form(
            ui,
            access,
            current,
            views.upstream_lines(current["upstreams"]),
            status=400,
            error=f"The feed was not deleted: type its name, {access.feed.name}, exactly to confirm.",
        )
    feeds.delete_feed(access.storage, access.feed.name, by=access.principal.name)
    return ui.redirect("/", "feed-deleted")


@bp.route(route="-/recycle-bin", methods=["GET"])
@page
def web_deleted_feeds(ui: Page) -> func.HttpResponse:
    """The feeds in the recycle bin the visitor may restore or purge (the API's list)."""
    days = settings.load().feed_recycle_bin_days
    listed = deleted_feeds(ui.storage, ui.principal)
    return ui.render("deleted_feeds.html", feeds=[f.deleted_json(days) for f in listed], days=days)


@bp.route(route="-/recycle-bin/{feed}/restore", methods=["POST"])
@page
def web_restore_feed(ui: Page) -> func.HttpResponse:
    ui.check_form()
    feed = binned_feed(ui.storage, ui.principal, ui.req.route_params["feed"])
    restored = feeds.restore_feed(ui.storage, feed.name)
    return ui.redirect(views.feed_url(restored.name), "feed-restored")


@bp.route(route="-/recycle-bin/{feed}/purge", methods=["POST"])
@page
def web_purge_feed(ui: Page) -> func.HttpResponse:
    ui.check_form()
    feed = binned_feed(ui.storage, ui.principal, ui.req.route_params["feed"])
    feeds.purge_feed(ui.storage, feed.name)
    return ui.redirect("/-/recycle-bin", "feed-purged")


@bp.route(route="-/feeds/{feed}/permissions", methods=["GET", "POST"])
@page
def web_permissions(ui: Page) -> func.HttpResponse:
    """Who holds which role; owners grant roles (granting again changes one)."""
    if ui.req.method == "POST":
        ui.check_form()
    access = ui.feed(Permission.MANAGE)
    error = None
    status = 200
    if ui.req.method == "POST":
        try:
            role = roles.parse_role(ui.field("role"))
            roles.grant(access.storage, access.feed.key, ui.field("user").strip(), role)
        except FeedhouseError as refused:
            error, status = refused.message, refused.status
        else:
            return ui.redirect(views.feed_url(access.feed.name) + "permissions", "role-granted")
    return ui.render(
        "permissions.html",
        status,
        **_feed_nav(ui, access, "permissions"),
        grants=roles.grants(access.storage, access.feed.key),
        roles=[r.value for r in roles.Role],
        error=error,
        form={"user": ui.field("user"), "role": ui.field("role") or "reader"},
    )


@bp.route(route="-/feeds/{feed}/permissions/{user}/revoke", methods=["POST"])
@page
def web_revoke_permission(ui: Page) -> func.HttpResponse:
    ui.check_form()
    access = ui.feed(Permission.MANAGE)
    roles.revoke(access.storage, access.feed.key, ui.req.route_params["user"])
    return ui.redirect(views.feed_url(access.feed.name) + "permissions", "role-revoked")


@bp.route(route="-/feeds/{feed}/recycle-bin", methods=["GET"])
@page
def web_recycle_bin(ui: Page) -> func.HttpResponse:
    access = ui.feed(Permission.MANAGE)
    retention = timedelta(days=settings.load().recycle_bin_days)
    entries = lifecycle.list_recycle_bin(access.storage, access.feed.key)
    return ui.render(
        "recycle_bin.html",
        **_feed_nav(ui, access, "recycle-bin"),
        entries=[(e, e.to_json(retention)) for e in entries],
        retention_days=retention.days,
    )


def _bin_action(ui: Page, done: str, act) -> func.HttpResponse:
    ui.check_form()
    access = ui.feed(Permission.MANAGE)
    project = _project(ui)
    act(access, project, ui.req.route_params["version"])
    return ui.redirect(views.feed_url(access.feed.name) + "recycle-bin", done)


@bp.route(route="-/feeds/{feed}/recycle-bin/{project}/{version}/restore", methods=["POST"])
@page
def web_restore(ui: Page) -> func.HttpResponse:
    return _bin_action(
        ui,
        "restored",
        lambda access, project, version: lifecycle.restore_version(
            access.storage, access.feed.key, project, version
        ),
    )


@bp.route(route="-/feeds/{feed}/recycle-bin/{project}/{version}/purge", methods=["POST"])
@page
def web_purge(ui: Page) -> func.HttpResponse:
    return _bin_action(
        ui,
        "purged",
        lambda access, project, version: lifecycle.purge_version(
            access.storage, access.feed.key, project, version, now=datetime.now(UTC)
        ),
    )


# A package ------------------------------------------------------------------------------------------


def _project(ui: Page) -> str:
    requested = ui.req.route_params["project"]
    try:
        return normalize_project_name(requested)
    except BadRequest:
        raise ProjectNotFound(f"No project named '{requested}'.") from None


@bp.route(route="-/feeds/{feed}/packages/{project}", methods=["GET"])
@page
def web_package(ui: Page) -> func.HttpResponse:
    """A package: its newest version (as PyPI's page shows it), every version, the files."""
    return _package_page(ui, None)


@bp.route(route="-/feeds/{feed}/packages/{project}/{version}", methods=["GET"])
@page
def web_version(ui: Page) -> func.HttpResponse:
    return _package_page(ui, ui.req.route_params["version"])


def _package_page(ui: Page, wanted: str | None) -> func.HttpResponse:
    from shared.web import readme

    requested = ui.req.route_params["project"]
    project = _project(ui)
    access = ui.feed(Permission.READ)
    if requested != project:
        return ui.respond(redirect(views.package_url(access.feed.name, project, wanted)))
    # What GET /api/feeds/{feed}/packages/{project} reads, and the release's core metadata as the
    # JSON API reads it for "info".
    records = access.index.records(project)
    display_name = access.index.display_name(project)
    if display_name is None and not records.exists:
        raise ProjectNotFound(f"No project named '{project}' in feed '{access.feed.name}'.")
    if wanted is not None:
        parse_version(wanted, project)
    version = views.chosen_version(records, wanted)
    metadata = (
        pypi_json.release_metadata(access.index, pypi_json.release_files(records, version))
        if version
        else None
    )
    raw = dict(metadata or {})
    description = readme.render(raw.get("description"), raw.get("description_content_type"))
    package = views.package_view(
        access.feed.name, records, display_name or project, version, metadata, description
    )
    promoted = feed_views.views_by_release(access.feed.views, records.records)
    in_views = {v.version: promoted.get(version_key(v.version), []) for v in package.versions}
    counts = download_counts.project_counts(access.storage, access.feed.key, project)
    return ui.render(
        "package.html",
        **_feed_nav(ui, access, "packages"),
        package=package,
        publisher=ui.may(access, Permission.PUBLISH),
        files_base=f"/{segment(access.feed.name)}/files/{segment(project)}/",
        version_url=views.package_url(access.feed.name, project, version) if version else None,
        index_url=f"{ui.base_url}/{segment(access.feed.name)}/simple/",
        public=access.feed.visibility == "public",
        in_views=in_views,
        downloads=counts,
        version_downloads=counts.version(version_key(version)).to_json() if version else None,
        promotable=[
            v.name
            for v in access.feed.views.all
            if v.name != feed_views.LOCAL and v.name not in in_views.get(package.version, [])
        ],
    )


def _version_action(ui: Page, permission: Permission, done: str, act) -> func.HttpResponse:
    ui.check_form()
    access = ui.feed(permission)
    project = _project(ui)
    version = ui.req.route_params["version"]
    act(access, project, version)
    # After a deletion the version may be gone: the package page shows what is left.
    deleted = permission is Permission.MANAGE
    return ui.redirect(views.package_url(access.feed.name, project, None if deleted else version), done)


@bp.route(route="-/feeds/{feed}/packages/{project}/{version}/yank", methods=["POST"])
@page
def web_yank(ui: Page) -> func.HttpResponse:
    def act(access, project, version):
        reason = yanking.parse_reason({"reason": ui.field("reason")})
        yanking.set_yanked(
            access.storage,
            access.feed.key,
            project,
            version,
            yanked=True,
            reason=reason,
            by=access.principal.name,
            now=datetime.now(UTC),
        )

    return _version_action(ui, Permission.PUBLISH, "yanked", act)


@bp.route(route="-/feeds/{feed}/packages/{project}/{version}/unyank", methods=["POST"])
@page
def web_unyank(ui: Page) -> func.HttpResponse:
    def act(access, project, version):
        yanking.set_yanked(
            access.storage,
            access.feed.key,
            project,
            version,
            yanked=False,
            reason=None,
            by=access.principal.name,
            now=datetime.now(UTC),
        )

    return _version_action(ui, Permission.PUBLISH, "unyanked", act)


@bp.route(route="-/feeds/{feed}/packages/{project}/{version}/promote", methods=["POST"])
@page
def web_promote(ui: Page) -> func.HttpResponse:
    def act(access, project, version):
        feed_views.promote(
            access.storage,
            access.feed.key,
            access.feed.views,
            project,
            version,
            ui.field("view"),
            by=access.principal.name,
        )

    return _version_action(ui, Permission.PUBLISH, "promoted", act)


@bp.route(route="-/feeds/{feed}/packages/{project}/{version}/delete", methods=["POST"])
@page
def web_delete_version(ui: Page) -> func.HttpResponse:
    def act(access, project, version):
        lifecycle.delete_version(
            access.storage, access.feed.key, project, version, by=access.principal.name, now=datetime.now(UTC)
        )

    return _version_action(ui, Permission.MANAGE, "version-deleted", act)


@bp.route(route="-/feeds/{feed}/packages/{project}/{version}/delete-file", methods=["POST"])
@page
def web_delete_file(ui: Page) -> func.HttpResponse:
    def act(access, project, version):
        lifecycle.delete_file(
            access.storage,
            access.feed.key,
            project,
            ui.field("filename"),
            by=access.principal.name,
            now=datetime.now(UTC),
        )

    return _version_action(ui, Permission.MANAGE, "file-deleted", act)


# Tokens ----------------------------------------------------------------------------------------------


@bp.route(route="-/tokens", methods=["GET", "POST"])
@page
def web_tokens(ui: Page) -> func.HttpResponse:
    """The visitor's tokens (the admin's: a user's), with last use; create one (shown once) or revoke
    one. The same checks as /api/tokens: a token creates tokens no wider and no longer-lived than
    itself."""
    if ui.req.method == "POST":
        ui.check_form()
    principal = ui.require(Permission.MANAGE_TOKENS)
    user = (ui.req.params.get("user") or ui.field("user")).strip() if principal.is_admin else principal.name
    created = None
    error = None
    status = 200
    form = {
        "name": ui.field("name"),
        "scope": ui.field("scope") or "read",
        "feeds": ui.field("feeds") or (ui.req.params.get("feed") or ""),
        "expires_in_days": ui.field("expires_in_days") or "90",
        "user": user,
    }
    if ui.req.method == "POST":
        body: dict = {"name": form["name"], "scope": form["scope"]}
        if form["feeds"].strip():
            body["feeds"] = views.pattern_lines(form["feeds"])
        if form["expires_in_days"].strip():
            days = form["expires_in_days"].strip()
            body["expires_in_days"] = (
                int(days) if days.isascii() and days.isdigit() and len(days) < 6 else days
            )
        if principal.is_admin:
            body["user"] = user or None
        try:
            created = create_token(ui.storage, principal, body)
        except FeedhouseError as refused:
            error, status = refused.message, refused.status
        else:
            # Created: the form starts again empty, so a second click makes no twin by mistake.
            form |= {"name": "", "scope": "read", "feeds": "", "expires_in_days": "90"}
    listed = tokens.list_tokens(ui.storage, user) if user else []
    response = ui.render(
        "tokens.html",
        status,
        tokens=listed,
        user=user,
        created=created[0] if created else None,
        secret=created[1] if created else None,
        error=error,
        form=form,
        scopes=[s.value for s in tokens.Scope],
        session_token=principal.token,
        now=datetime.now(UTC),
    )
    return response


@bp.route(route="-/tokens/{token_id}/revoke", methods=["POST"])
@page
def web_revoke_token(ui: Page) -> func.HttpResponse:
    ui.check_form()
    principal = ui.require(Permission.MANAGE_TOKENS)
    token_id = ui.req.route_params["token_id"]
    user = tokens.get_token(ui.storage, token_id).user if principal.is_admin else principal.name
    revoke_token(ui.storage, principal, token_id)
    # Revoking the token this session was made from ends the session: the next page says so.
    return ui.redirect(
        "/-/tokens" + (f"?user={segment(user)}" if principal.is_admin else ""), "token-revoked"
    )


# Where clients send people ---------------------------------------------------------------------------


@bp.route(route="{feed}/upload/{project}/{version}", methods=["GET"])
@text_errors
def upload_page(req: func.HttpRequest) -> func.HttpResponse:
    """The URL hatch prints after publishing (its upload URL + project/version/, as on devpi): the
    package page. Nothing is looked up here; the page checks who may see it."""
    try:
        project = normalize_project_name(req.route_params["project"])
    except BadRequest:
        raise NotFound("No such package page.") from None
    location = views.package_url(req.route_params["feed"], project, req.route_params["version"])
    return func.HttpResponse(status_code=303, headers={"Location": location, "Cache-Control": "no-store"})
