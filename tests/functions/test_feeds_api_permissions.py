"""Who may do what, at handler level.

``RULES`` names, for every HTTP function and method the app serves, what it requires. The test
enumerates the app's routes, so a new endpoint without a rule here fails the suite. Every feed rule is
then run for every principal (anonymous, a user with a token and no role, each role, the admin) on a
private, an organization and a public feed.
"""

from __future__ import annotations

import secrets
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import pytest

from function_app import app
from shared import feeds, roles, tokens
from shared.auth import Permission
from shared.roles import Role
from shared.tokens import Scope
from tests.conftest import ADMIN_TOKEN, ROOT
from tests.support.http import basic, json_of, request
from tests.support.stored import key_of
from tools.functions_host import LocalFunctionsHost

ANYONE = "anyone"  # no credentials needed at all
LISTING = "listing"  # answers everyone, showing only what the caller may see
# Trusted publishing's exchange: the credential is the CI token in the body, whatever the header says.
EXCHANGE = "exchange"
LEADS_TO_UI = "leads to the UI"  # a redirect to a UI page, which checks (tests/functions/test_web.py)
# The OpenID Connect sign-in's steps: anyone may take them; what they check (state, nonce, PKCE, the ID
# token) is tests/functions/test_web_signin.py's. Without an issuer configured they are 404s.
ISSUER_SIGN_IN = "issuer sign-in"


@dataclass(frozen=True)
class Web:
    """A UI page or form (functions/web.py): what it needs of the browser's session. Run below for every
    principal as for the API, signed in through a session instead of the Authorization header."""

    needs: Permission | str


RULES: dict[tuple[str, str], Permission | str] = {
    ("health", "GET"): ANYONE,
    ("whoami", "GET"): ANYONE,
    # The client's wheel: anyone installs it before they have a token (issue 13).
    ("client", "GET"): ANYONE,
    ("client", "HEAD"): ANYONE,
    ("feeds_collection", "GET"): LISTING,
    ("feeds_collection", "POST"): Permission.CREATE_FEED,
    ("feed_item", "GET"): Permission.READ,
    ("feed_item", "PATCH"): Permission.MANAGE,
    ("feed_item", "DELETE"): Permission.MANAGE,
    ("feed_permissions", "GET"): Permission.MANAGE,
    ("feed_permission", "PUT"): Permission.MANAGE,
    ("feed_permission", "DELETE"): Permission.MANAGE,
    # The feed recycle bin: a feed that is not in it is a 409 for those allowed.
    ("feed_changes", "GET"): Permission.MANAGE,
    ("token_changes", "GET"): Permission.MANAGE_TOKENS,
    ("feed_bin", "GET"): LISTING,
    ("feed_bin_restore", "POST"): Permission.MANAGE,
    ("feed_bin_purge", "DELETE"): Permission.MANAGE,
    ("tokens_collection", "GET"): Permission.MANAGE_TOKENS,
    ("tokens_collection", "POST"): Permission.MANAGE_TOKENS,
    ("token_item", "DELETE"): Permission.MANAGE_TOKENS,
    ("project_list", "GET"): Permission.READ,
    ("project_list", "HEAD"): Permission.READ,
    ("project_list", "POST"): Permission.PUBLISH,
    ("project_detail", "GET"): Permission.READ,
    ("project_detail", "HEAD"): Permission.READ,
    # As-of indexes (issue 15): the feed's pages and files, read as the feed's.
    ("project_list_as_of", "GET"): Permission.READ,
    ("project_list_as_of", "HEAD"): Permission.READ,
    ("project_detail_as_of", "GET"): Permission.READ,
    ("project_detail_as_of", "HEAD"): Permission.READ,
    ("download_as_of", "GET"): Permission.READ,
    ("download_as_of", "HEAD"): Permission.READ,
    ("provenance_as_of", "GET"): Permission.READ,
    ("provenance_as_of", "HEAD"): Permission.READ,
    ("upload", "POST"): Permission.PUBLISH,
    ("download", "GET"): Permission.READ,
    ("download", "HEAD"): Permission.READ,
    ("provenance", "GET"): Permission.READ,
    ("provenance", "HEAD"): Permission.READ,
    ("project_json", "GET"): Permission.READ,
    ("project_json", "HEAD"): Permission.READ,
    ("version_json", "GET"): Permission.READ,
    ("version_json", "HEAD"): Permission.READ,
    ("packages_collection", "GET"): Permission.READ,
    ("package_item", "GET"): Permission.READ,
    ("version_item", "GET"): Permission.READ,
    ("version_item", "DELETE"): Permission.MANAGE,
    ("file_item", "DELETE"): Permission.MANAGE,
    ("yank", "POST"): Permission.PUBLISH,
    ("unyank", "POST"): Permission.PUBLISH,
    ("recycle_bin", "GET"): Permission.MANAGE,
    ("restore", "POST"): Permission.MANAGE,
    ("purge", "DELETE"): Permission.MANAGE,
    ("package_upstreaming", "GET"): Permission.READ,
    ("package_upstreaming", "PUT"): Permission.MANAGE,
    ("version_views", "GET"): Permission.READ,
    ("version_views", "POST"): Permission.PUBLISH,
    ("feed_views", "GET"): Permission.READ,
    ("feed_views", "POST"): Permission.MANAGE,
    ("feed_view", "PATCH"): Permission.MANAGE,
    ("feed_view", "DELETE"): Permission.MANAGE,
    # Retention (issue 14): the owner's.
    ("lockfiles_collection", "GET"): Permission.MANAGE,
    ("lockfile_item", "GET"): Permission.MANAGE,
    ("lockfile_item", "PUT"): Permission.MANAGE,
    ("lockfile_item", "DELETE"): Permission.MANAGE,
    ("version_pin", "PUT"): Permission.MANAGE,
    ("version_pin", "DELETE"): Permission.MANAGE,
    ("retention_preview", "GET"): Permission.MANAGE,
    # Trusted publishing (issue 15): uv asks every host for the audience before it has credentials.
    ("oidc_audience", "GET"): ANYONE,
    ("oidc_mint_token", "POST"): EXCHANGE,
    ("oidc_burn_token", "POST"): EXCHANGE,
    ("trusted_publishers", "GET"): Permission.MANAGE,
    ("trusted_publishers", "POST"): Permission.MANAGE,
    ("trusted_publisher", "DELETE"): Permission.MANAGE,
    # The URL hatch prints after an upload: a redirect to the package page.
    ("upload_page", "GET"): LEADS_TO_UI,
    # The web UI.
    ("web_home", "GET"): Web(LISTING),
    ("web_static", "GET"): Web(ANYONE),
    ("web_signin", "GET"): Web(ANYONE),
    ("web_signin", "POST"): Web(ANYONE),  # checks the token it is given (tests/functions/test_web.py)
    # Signing in through the OpenID Connect issuer: its checks are tests/functions/test_web_signin.py's.
    ("web_signin_start", "POST"): Web(ISSUER_SIGN_IN),
    ("web_signin_callback", "GET"): Web(ISSUER_SIGN_IN),
    ("web_signout", "POST"): Web(ANYONE),
    ("web_create_feed", "POST"): Web(Permission.CREATE_FEED),
    ("web_feed", "GET"): Web(Permission.READ),
    ("web_feed_settings", "GET"): Web(Permission.MANAGE),
    ("web_feed_settings", "POST"): Web(Permission.MANAGE),
    ("web_delete_feed", "POST"): Web(Permission.MANAGE),
    ("web_deleted_feeds", "GET"): Web(LISTING),
    # A live feed (the one these checks use) is a 409 for those allowed, as in the API.
    ("web_restore_feed", "POST"): Web(Permission.MANAGE),
    ("web_purge_feed", "POST"): Web(Permission.MANAGE),
    ("web_retention", "GET"): Web(Permission.MANAGE),
    ("web_permissions", "GET"): Web(Permission.MANAGE),
    ("web_permissions", "POST"): Web(Permission.MANAGE),
    ("web_revoke_permission", "POST"): Web(Permission.MANAGE),
    ("web_recycle_bin", "GET"): Web(Permission.MANAGE),
    ("web_restore", "POST"): Web(Permission.MANAGE),
    ("web_purge", "POST"): Web(Permission.MANAGE),
    ("web_package", "GET"): Web(Permission.READ),
    ("web_version", "GET"): Web(Permission.READ),
    ("web_yank", "POST"): Web(Permission.PUBLISH),
    ("web_unyank", "POST"): Web(Permission.PUBLISH),
    ("web_promote", "POST"): Web(Permission.PUBLISH),
    ("web_delete_version", "POST"): Web(Permission.MANAGE),
    ("web_delete_file", "POST"): Web(Permission.MANAGE),
    ("web_tokens", "GET"): Web(Permission.MANAGE_TOKENS),
    ("web_tokens", "POST"): Web(Permission.MANAGE_TOKENS),
    ("web_revoke_token", "POST"): Web(Permission.MANAGE_TOKENS),
}

# The issue's model, written out independently of shared/auth.py: the least role for each permission.
LEAST_ROLE = {Permission.READ: "reader", Permission.PUBLISH: "contributor", Permission.MANAGE: "owner"}
ROLE_ORDER = ["reader", "collaborator", "contributor", "owner"]
PRINCIPALS = ["anonymous", "outsider", "reader", "collaborator", "contributor", "owner", "admin"]
VISIBILITIES = ["private", "organization", "public"]

ROUTES = {r.function_name: r for r in LocalFunctionsHost(app, ROOT).routes}


def served() -> set[tuple[str, str]]:
    pairs = set()
    for route in ROUTES.values():
        assert route.methods, f"{route.function_name} accepts every method; declare its methods"
        pairs |= {(route.function_name, m) for m in route.methods}
    return pairs


def test_every_endpoint_has_a_rule():
    assert served() == set(RULES), "add the new endpoint's rule to RULES (and its check to the handler)"


def expected(principal: str, visibility: str, permission: Permission) -> bool:
    if principal == "admin":
        return True
    role = principal if principal in ROLE_ORDER else None
    if visibility == "public" or (visibility == "organization" and principal != "anonymous"):
        role = role or "reader"
    needed = LEAST_ROLE[permission]
    return role is not None and ROLE_ORDER.index(role) >= ROLE_ORDER.index(needed)


@dataclass
class World:
    credentials: dict[str, dict[str, str]]  # principal -> headers
    users: dict[str, str]  # principal -> user name


@pytest.fixture(scope="module")
def world(app_env) -> World:
    from shared.storage import get_storage

    storage = get_storage()
    credentials = {"anonymous": {}, "admin": basic(ADMIN_TOKEN)}
    users = {}
    for principal in PRINCIPALS[1:-1]:
        users[principal] = f"{principal}-{secrets.token_hex(3)}"
        _, secret = tokens.create_token(storage, user=users[principal], name="matrix", scope=Scope.MANAGE)
        credentials[principal] = basic(secret)
    return World(credentials, users)


def new_feed(world: World, visibility: str) -> str:
    from shared.storage import get_storage

    storage = get_storage()
    name = f"m-{visibility[:3]}-{secrets.token_hex(4)}"
    feeds.create_feed(storage, feeds.parse_new_feed({"name": name, "visibility": visibility}))
    for principal in ROLE_ORDER:
        user = tokens.verify(
            storage, world.credentials[principal]["Authorization"].split()[1] and _secret(world, principal)
        )
        roles.grant(storage, key_of(name), user.user, Role(principal))
    return name


def _secret(world: World, principal: str) -> str:
    import base64

    encoded = world.credentials[principal]["Authorization"].split()[1]
    return base64.b64decode(encoded).decode().split(":", 1)[1]


BODIES = {
    ("feed_item", "PATCH"): {"description": "changed"},
    ("feed_permission", "PUT"): {"role": "reader"},
    ("package_upstreaming", "PUT"): {"allow_external_versions": True},
    ("version_views", "POST"): {"view": "release"},
    ("feed_views", "POST"): {"name": "qa"},
    ("feed_view", "PATCH"): {"visibility": "public"},
    ("tokens_collection", "POST"): {"name": "made-by-matrix"},
    ("trusted_publishers", "POST"): {"kind": "github", "repository": "o/r", "workflow": "release.yml"},
    ("feeds_collection", "POST"): None,  # filled per call: a fresh feed name
}


def call(function: str, method: str, headers: dict[str, str], feed: str = "none"):
    route_params = {
        "feed": feed,
        "project": "demo",
        "filename": "demo-1.0-py3-none-any.whl",
        "user": "somebody",
        "token_id": "0123456789abcdef",
        "version": "1.0",
        "publisher_id": "0123456789abcdef",
        "moment": "2026-01-01",
        "view": "release",
        "name": "uv.lock",
    }
    body = BODIES.get((function, method))
    if (function, method) == ("feeds_collection", "POST"):
        body = {"name": "c-" + secrets.token_hex(5)}
    # A canonical path (normalized, with its trailing slash), so no handler answers with a redirect.
    req = request(
        method, f"/{feed}/{function}/demo/", route_params=route_params, headers=headers, json_body=body
    )
    return ROUTES[function].user_function(req)


FEED_RULES = [(k, v) for k, v in RULES.items() if v in LEAST_ROLE]


@pytest.mark.parametrize(("endpoint", "permission"), FEED_RULES, ids=[f"{f}-{m}" for (f, m), _ in FEED_RULES])
@pytest.mark.parametrize("visibility", VISIBILITIES)
def test_feed_endpoint_rules(world, endpoint, permission, visibility):
    feed = new_feed(world, visibility)
    # Least privileged first, so a destructive call that is allowed comes after every refusal.
    for principal in PRINCIPALS:
        response = call(*endpoint, world.credentials[principal], feed)
        status = response.status_code
        if expected(principal, visibility, permission):
            assert status not in (401, 403), (
                f"{principal} should be allowed ({status}: {response.get_body()!r})"
            )
        elif principal == "anonymous":
            assert status == 401, f"anonymous should get 401, got {status}"
            assert response.headers["WWW-Authenticate"].startswith("Basic realm=")
        else:
            assert status == 403, f"{principal} should get 403, got {status}: {response.get_body()!r}"
            assert permission.value in response.get_body().decode()


@pytest.mark.parametrize(
    ("endpoint", "permission"),
    [(k, v) for k, v in RULES.items() if v in (Permission.CREATE_FEED, Permission.MANAGE_TOKENS)],
)
def test_account_endpoint_rules(world, endpoint, permission):
    for principal in PRINCIPALS:
        status = call(*endpoint, world.credentials[principal]).status_code
        if principal == "anonymous":
            assert status == 401
        else:
            assert status not in (401, 403), f"{principal}: {status}"


@pytest.mark.parametrize("endpoint", [k for k, v in RULES.items() if v in (ANYONE, LISTING)])
def test_open_endpoints(world, endpoint):
    for principal in PRINCIPALS:
        assert call(*endpoint, world.credentials[principal]).status_code == 200


def test_the_exchange_answers_every_caller_alike(world):
    """Minting and burning look only at the body: a refusal for a missing CI token, 202 for burning."""
    for principal in PRINCIPALS:
        assert call("oidc_mint_token", "POST", world.credentials[principal]).status_code == 422
        assert call("oidc_burn_token", "POST", world.credentials[principal]).status_code == 202


# The web UI: the same rules, for a browser signed in as each principal ------------------------------------

WEB_FORMS = {
    "web_create_feed": lambda feed, visibility: {"name": "w-" + secrets.token_hex(5)},
    "web_feed_settings": lambda feed, visibility: {
        "description": "changed",
        "visibility": visibility,
        "upstreams": "",
        "claimed_patterns": "",
        "readers_save": "on",
    },
    "web_delete_feed": lambda feed, visibility: {"confirm": feed},
    "web_permissions": lambda feed, visibility: {"user": "somebody", "role": "reader"},
    "web_yank": lambda feed, visibility: {"reason": "matrix"},
    "web_delete_file": lambda feed, visibility: {"filename": "demo-1.0-py3-none-any.whl"},
    "web_tokens": lambda feed, visibility: {"name": "made-by-matrix"},
}


@pytest.fixture(scope="module")
def browsers(world):
    """A browser session for each principal but the anonymous one, made from its token."""
    from shared import auth
    from shared.auth import ADMIN
    from shared.storage import get_storage
    from tests.support.web import sign_in

    storage = get_storage()
    made = {"anonymous": None, "admin": sign_in(storage, ADMIN)}
    for principal in PRINCIPALS[1:-1]:
        made[principal] = sign_in(storage, auth.authenticate(storage, _secret(world, principal), ADMIN_TOKEN))
    return made


def web_call(function: str, method: str, browser, feed: str = "none", visibility: str = "private"):
    from tests.support.web import visit

    route_params = {
        "feed": feed,
        "project": "demo",
        "version": "1.0",
        "user": "somebody",
        "token_id": "0123456789abcdef",
        "name": "style.css",
    }
    form = WEB_FORMS.get(function, lambda *_: {})(feed, visibility) if method == "POST" else None
    return visit(
        ROUTES[function].user_function, method, f"/-/{function}/", browser=browser, form=form, **route_params
    )


def _sent_to_sign_in(response) -> bool:
    return response.status_code == 303 and response.headers["Location"].startswith("/-/signin")


WEB_FEED_RULES = [(k, v.needs) for k, v in RULES.items() if isinstance(v, Web) and v.needs in LEAST_ROLE]


@pytest.mark.parametrize(
    ("endpoint", "permission"), WEB_FEED_RULES, ids=[f"{f}-{m}" for (f, m), _ in WEB_FEED_RULES]
)
@pytest.mark.parametrize("visibility", VISIBILITIES)
def test_web_feed_endpoint_rules(world, browsers, endpoint, permission, visibility):
    feed = new_feed(world, visibility)
    for principal in PRINCIPALS:
        response = web_call(*endpoint, browsers[principal], feed, visibility)
        body = response.get_body().decode()
        if expected(principal, visibility, permission):
            assert not _sent_to_sign_in(response) and response.status_code != 403, (
                f"{principal} should be allowed ({response.status_code}: {body[:300]!r})"
            )
        elif principal == "anonymous":
            assert _sent_to_sign_in(response), (
                f"anonymous should be sent to sign in, got {response.status_code}"
            )
        else:
            assert response.status_code == 403, f"{principal} should get 403, got {response.status_code}"
            # The API's message, as the page shows it (escaped).
            assert f"lacks the &#39;{permission.value}&#39; permission" in body


@pytest.mark.parametrize(
    "endpoint",
    [
        k
        for k, v in RULES.items()
        if isinstance(v, Web) and v.needs in (Permission.CREATE_FEED, Permission.MANAGE_TOKENS)
    ],
)
def test_web_account_endpoint_rules(browsers, endpoint):
    for principal in PRINCIPALS:
        response = web_call(*endpoint, browsers[principal])
        if principal == "anonymous":
            assert _sent_to_sign_in(response)
        else:
            assert not _sent_to_sign_in(response) and response.status_code != 403, f"{principal}"


@pytest.mark.parametrize(
    "endpoint",
    [k for k, v in RULES.items() if isinstance(v, Web) and v.needs in (ANYONE, LISTING) and k[1] == "GET"],
)
def test_web_open_pages(browsers, endpoint):
    for principal in PRINCIPALS:
        assert web_call(*endpoint, browsers[principal]).status_code == 200


def test_missing_feed_is_401_for_anonymous_and_404_for_users(world):
    assert call("project_list", "GET", {}, "no-such-feed-zz").status_code == 401
    assert call("project_list", "GET", world.credentials["outsider"], "no-such-feed-zz").status_code == 404


def test_feed_list_shows_only_readable_feeds(world):
    made = {v: new_feed(world, v) for v in VISIBILITIES}
    other_private = "m-other-" + secrets.token_hex(4)
    from shared.storage import get_storage

    feeds.create_feed(get_storage(), feeds.parse_new_feed({"name": other_private}))

    def listed(principal: str) -> set[str]:
        names = {
            f["name"] for f in json_of(call("feeds_collection", "GET", world.credentials[principal]))["feeds"]
        }
        return names & {*made.values(), other_private}

    assert listed("anonymous") == {made["public"]}
    assert listed("outsider") == {made["public"], made["organization"]}
    assert listed("reader") == {*made.values()}
    assert listed("admin") == {*made.values(), other_private}


ROUNDS = 40


def test_two_owners_removing_each_other_at_once_leave_one_owner(app_env):
    """The last-owner rule holds under a race: of two owners demoting or removing each other at the same
    instant, exactly one succeeds and the feed keeps an owner."""
    from functions.feeds_api import feed_permission
    from shared.storage import get_storage

    storage = get_storage()
    names = [f"race-{who}-{secrets.token_hex(3)}" for who in ("a", "b")]
    headers = {}
    for name in names:
        _, secret = tokens.create_token(storage, user=name, name="race", scope=Scope.MANAGE)
        headers[name] = basic(secret)

    def take_away(feed: str, actor: str, target: str, demote: bool) -> int:
        method, body = ("PUT", {"role": "reader"}) if demote else ("DELETE", None)
        req = request(
            method, "/", route_params={"feed": feed, "user": target}, headers=headers[actor], json_body=body
        )
        start.wait()
        return feed_permission(req).status_code

    start = threading.Barrier(2)
    with ThreadPoolExecutor(2) as pool:
        for round_ in range(ROUNDS):
            feed = "race-" + secrets.token_hex(5)
            feeds.create_feed(storage, feeds.parse_new_feed({"name": feed}))
            for name in names:
                roles.grant(storage, key_of(feed), name, Role.OWNER)
            # Every mix: both demote, both remove, one of each.
            a_demotes, b_demotes = bool(round_ & 1), bool(round_ & 2)
            a, b = names
            statuses = sorted(
                pool.map(
                    lambda args: take_away(*args),
                    [(feed, a, b, a_demotes), (feed, b, a, b_demotes)],
                )
            )
            owners = [g.user for g in roles.grants(storage, key_of(feed)) if g.role is Role.OWNER]
            assert len(owners) == 1, f"round {round_}: owners {owners}, statuses {statuses}"
            # The loser gets 409, or 403 when the winner had already finished before it was authorized.
            assert statuses[0] in (200, 204) and statuses[1] in (403, 409), f"round {round_}: {statuses}"
            # The mirror rows (a user's feeds) agree with the feed's grants.
            for name in names:
                mine = roles.roles_of_user(storage, name).get(key_of(feed))
                assert mine == roles.role_of(storage, key_of(feed), name), f"round {round_}: {name}"
