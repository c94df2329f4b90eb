"""`feedhouse login`, `logout` and every administration subcommand against the local host + Azurite:
tables by default, the API's JSON with --json, the server's message verbatim and an exit status per kind
of failure."""

from __future__ import annotations

import json
import stat

import pytest
from feedhouse_cli import errors

from tests.conftest import ADMIN_TOKEN
from tests.e2e.api import call, create_feed, create_token, unique
from tests.support.dists import make_sdist, make_wheel
from tests.support.multipart import encode, upload_fields


def upload(server, feed: str, filename: str, data: bytes, name: str, version: str) -> None:
    import urllib.request

    body, content_type = encode(upload_fields(name, version, filename, data))
    request = urllib.request.Request(
        f"{server.url}/{feed}/upload/",
        data=body,
        headers={"Content-Type": content_type, "Authorization": f"Bearer {ADMIN_TOKEN}"},
    )
    with urllib.request.urlopen(request) as response:
        assert response.status == 200


@pytest.fixture
def logged_in(server, cli):
    cli.ok("login", server.url, "--token-stdin", stdin=ADMIN_TOKEN + "\n")
    return cli


def test_login_checks_the_token_keeps_it_private_and_logout_removes_it(server, cli):
    user = unique("alice")
    feed = create_feed(server)
    call(server, "PUT", f"/api/feeds/{feed}/permissions/{user}", {"role": "reader"})
    token = create_token(server, user, scope="read")

    result = cli.ok("login", server.url + "/", "--token-stdin", stdin=token + "\n")
    assert f"Logged in to {server.url} as {user}" in result.out
    credentials = cli.home / ".config" / "feedhouse" / "credentials.ini"
    assert stat.S_IMODE(credentials.stat().st_mode) == 0o600
    assert token in credentials.read_text()
    settings = (cli.home / ".config" / "feedhouse" / "config.toml").read_text()
    assert server.url in settings and token not in settings

    who = json.loads(cli.ok("whoami", "--json").out)
    assert who["user"] == user and who["roles"] == {feed.lower(): "reader"}
    assert user in cli.ok("whoami").out

    result = cli.ok("logout")
    assert "removed the token" in result.out
    assert token not in credentials.read_text()
    result = cli("whoami")
    assert result.code == errors.AUTH and "feedhouse login" in result.err


def test_login_refuses_a_wrong_token_with_the_servers_message(server, cli):
    result = cli("login", server.url, "--token-stdin", stdin="fhpat_nope_nope\n")
    assert result.code == errors.AUTH
    assert "[HTTP 401" in result.err
    assert not (cli.home / ".config" / "feedhouse" / "credentials.ini").exists()


def test_login_to_an_unreachable_url_or_something_else(server, cli, pypiserver):
    from tools.azurite import free_ports

    (port,) = free_ports(1)
    result = cli("login", f"http://127.0.0.1:{port}", "--token-stdin", stdin="x\n")
    assert result.code == errors.UNREACHABLE
    assert f"cannot reach http://127.0.0.1:{port}" in result.err
    # Not a Feedhouse: pypiserver answers /api/whoami with a 404 of its own.
    other = cli("login", pypiserver.index_url.rsplit("/simple", 1)[0], "--token-stdin", stdin="x\n")
    assert other.code != 0 and "feedhouse:" in other.err
    assert cli("login", "ftp://example.com", "--token-stdin", stdin="x\n").code == errors.USAGE
    assert cli("login", "https://__token__:secret@example.com").code == errors.USAGE
    assert cli("login", server.url).code == errors.USAGE  # no token given, no terminal to ask on


def test_environment_overrides_the_stored_login(server, cli):
    result = cli.ok("whoami", "--json", env={"FEEDHOUSE_URL": server.url, "FEEDHOUSE_TOKEN": ADMIN_TOKEN})
    assert json.loads(result.out)["admin"] is True


def test_feeds_update_sets_the_upstream_cooldown(server, logged_in):
    """Issue 15: --upstream-cooldown-days and --cooldown-exception, shown back; the server's 400 as is."""
    cli = logged_in
    feed = unique("cool")
    cli.ok("feeds", "create", feed)
    cli.ok("feeds", "update", feed, "--upstream-cooldown-days", "7", "--cooldown-exception", "Requests")
    shown = json.loads(cli.ok("feeds", "show", feed, "--json").out)
    assert shown["upstream_cooldown_days"] == 7 and shown["cooldown_exceptions"] == ["requests"]
    assert "upstream cooldown days" in cli.ok("feeds", "show", feed).out
    refused = cli("feeds", "update", feed, "--upstream-cooldown-days", "400")
    assert refused.code == errors.FAILED and "from 0 (off) to 365" in refused.err
    cli.ok("feeds", "update", feed, "--no-cooldown-exceptions", "--upstream-cooldown-days", "0")
    shown = json.loads(cli.ok("feeds", "show", feed, "--json").out)
    assert shown["upstream_cooldown_days"] == 0 and shown["cooldown_exceptions"] == []


def test_feeds_permissions_and_refusals(server, logged_in):
    cli = logged_in
    feed = unique("cli")
    created = json.loads(cli.ok("feeds", "create", feed, "--description", "the team's", "--json").out)
    assert created["name"] == feed and created["visibility"] == "private"
    assert feed in cli.ok("feeds", "list").out
    cli.ok(
        "feeds", "update", feed, "--upstream", "pypi", "--claim", "contoso-*", "--visibility", "organization"
    )
    shown = cli.ok("feeds", "show", feed).out
    assert "pypi" in shown and "contoso-*" in shown and "organization" in shown
    assert json.loads(cli.ok("feeds", "show", feed, "--json").out)["upstreams"] == [{"type": "pypi"}]
    cli.ok("feeds", "update", feed, "--no-upstreams")
    assert json.loads(cli.ok("feeds", "show", feed, "--json").out)["upstreams"] == []

    user = unique("bob")
    assert "contributor" in cli.ok("permissions", "grant", feed, user, "contributor").out
    assert [user, "contributor"] in [
        [p["user"], p["role"]]
        for p in json.loads(cli.ok("permissions", "list", feed, "--json").out)["permissions"]
    ]

    # bob's read token: the server's 403 message, verbatim, and the permission exit status.
    bob = create_token(server, user, scope="read")
    denied = cli("feeds", "delete", feed, "--yes", env={"FEEDHOUSE_TOKEN": bob})
    assert denied.code == errors.FORBIDDEN
    status, body = call(server, "DELETE", f"/api/feeds/{feed}", token=bob)
    assert status == 403 and body["message"] in denied.err

    missing = cli("feeds", "show", "no-such-feed-" + feed)
    assert missing.code == errors.NOT_FOUND and "[HTTP 404" in missing.err
    bad = cli("feeds", "create", "a b")
    assert bad.code == errors.FAILED and "whitespace" in bad.err
    assert cli("feeds", "update", feed).code == errors.USAGE
    assert cli("feeds", "delete", feed).code == errors.USAGE  # --yes is needed
    assert cli("feeds", "frobnicate").code == errors.USAGE

    cli.ok("permissions", "revoke", feed, user)
    assert user not in cli.ok("permissions", "list", feed).out
    cli.ok("feeds", "delete", feed, "--yes")
    assert cli("feeds", "show", feed).code == errors.NOT_FOUND


def test_tokens(server, logged_in):
    cli = logged_in
    user = unique("carol")
    created = json.loads(
        cli.ok(
            "tokens", "create", "ci", "--user", user, "--scope", "publish", "--expires-in-days", "3", "--json"
        ).out
    )
    assert created["token"].startswith("fhpat_") and created["scope"] == "publish"
    listed = cli.ok("tokens", "list", "--user", user).out
    assert created["id"] in listed and "publish" in listed and created["token"] not in listed
    cli.ok("tokens", "revoke", created["id"])
    assert json.loads(cli.ok("tokens", "list", "--user", user, "--json").out)["tokens"] == []
    assert cli("tokens", "revoke", "0" * 16).code == errors.NOT_FOUND


def test_packages_yank_delete_and_the_recycle_bin(server, logged_in):
    cli = logged_in
    feed = create_feed(server)
    name = unique("fh-cli")
    wheel, data = make_wheel(name, "1.0")
    upload(server, feed, wheel, data, name, "1.0")
    sdist, data = make_sdist(name, "1.0")
    upload(server, feed, sdist, data, name, "1.0")
    upload(server, feed, *make_wheel(name, "2.0"), name, "2.0")

    assert name in cli.ok("packages", "list", feed).out
    shown = cli.ok("packages", "show", feed, name).out
    assert wheel in shown and sdist in shown
    assert (
        f"Yanked {name} 2.0: broken"
        in cli.ok("packages", "yank", feed, name, "2.0", "--reason", "broken").out
    )
    version = json.loads(cli.ok("packages", "show", feed, name, "2.0", "--json").out)
    assert (version["yanked"], version["yanked_reason"]) == (True, "broken")
    assert "yanked: broken" in cli.ok("packages", "show", feed, name).out
    cli.ok("packages", "unyank", feed, name, "2.0")
    assert json.loads(cli.ok("packages", "show", feed, name, "2.0", "--json").out)["yanked"] is False

    assert sdist in cli.ok("packages", "delete-file", feed, name, sdist).out
    assert wheel in cli.ok("packages", "delete", feed, name, "1.0").out
    binned = cli.ok("recycle-bin", "list", feed).out
    assert wheel in binned and sdist in binned
    restored = cli.ok("recycle-bin", "restore", feed, name, "1.0").out
    assert wheel in restored
    cli.ok("packages", "delete", feed, name, "1.0")
    assert cli("recycle-bin", "purge", feed, name, "1.0").code == errors.USAGE
    assert wheel in cli.ok("recycle-bin", "purge", feed, name, "1.0", "--yes").out
    assert cli("packages", "show", feed, name, "9.9").code == errors.NOT_FOUND

    upstreaming = json.loads(cli.ok("packages", "upstreaming", feed, name, "--allow", "--json").out)
    assert upstreaming["allow_external_versions"] is True


def test_deleted_feeds_restore_purge_and_change_histories(server, logged_in):
    cli = logged_in
    feed = unique("cli-bin")
    cli.ok("feeds", "create", feed)
    name = unique("fh-hist")
    upload(server, feed, *make_wheel(name, "1.0"), name, "1.0")

    refused = cli("feeds", "delete", feed)
    assert refused.code == errors.USAGE and "recycle bin" in refused.err
    assert "recycle bin" in cli.ok("feeds", "delete", feed, "--yes").out
    assert cli("feeds", "show", feed).code == errors.NOT_FOUND
    binned = json.loads(cli.ok("feeds", "deleted", "--json").out)["feeds"]
    assert feed in [f["name"] for f in binned]
    assert feed in cli.ok("feeds", "deleted").out
    taken = cli("feeds", "create", feed)
    assert taken.code != 0 and "recycle bin" in taken.err

    assert f"Restored feed {feed}" in cli.ok("feeds", "restore", feed).out
    assert name in cli.ok("packages", "list", feed).out
    again = cli("feeds", "restore", feed)
    assert again.code != 0 and "not in the recycle bin" in again.err

    history = json.loads(cli.ok("feeds", "changes", feed, "--order", "oldest", "--json").out)["changes"]
    assert [e["action"] for e in history] == [
        "feed.create",
        "file.publish",
        "feed.delete",
        "feed.restore",
    ]
    assert history[0]["agent"].startswith("feedhouse/")  # the CLI's own user agent
    newest = json.loads(cli.ok("feeds", "changes", feed, "--limit", "1", "--json").out)["changes"]
    assert [e["action"] for e in newest] == ["feed.restore"]
    assert "file.publish" in cli.ok("feeds", "changes", feed).out
    assert cli("feeds", "changes", feed, "--limit", "0").code == errors.USAGE

    user = unique("dave")
    created = json.loads(cli.ok("tokens", "create", "ci", "--user", user, "--json").out)
    cli.ok("tokens", "revoke", created["id"])
    tokens = json.loads(cli.ok("tokens", "changes", "--user", user, "--json").out)["changes"]
    assert [e["action"] for e in tokens] == ["token.revoke", "token.create"]
    assert created["token"] not in json.dumps(tokens)

    cli.ok("feeds", "delete", feed, "--yes")
    assert cli("feeds", "purge", feed).code == errors.USAGE
    assert "its name is free" in cli.ok("feeds", "purge", feed, "--yes").out
    assert cli("feeds", "purge", feed, "--yes").code == errors.NOT_FOUND
    cli.ok("feeds", "create", feed)


def test_views_promote_and_a_versions_views(server, logged_in):
    cli = logged_in
    feed = create_feed(server)
    name = unique("fh-cli-views")
    for version in ("1.0", "2.0"):
        upload(server, feed, *make_wheel(name, version), name, version)

    listed = cli.ok("views", "list", feed).out
    assert "@local" in listed and "@prerelease" in listed and "@release" in listed
    assert "@release" in cli.ok("promote", feed, name, "1.0", "--view", "release").out
    assert json.loads(cli.ok("packages", "show", feed, name, "1.0", "--json").out)["views"] == [
        "local",
        "release",
    ]
    assert "@local, @release" in cli.ok("packages", "show", feed, name).out
    assert cli("promote", feed, name, "9.9", "--view", "release").code == errors.NOT_FOUND
    assert cli("promote", feed, name, "1.0", "--view", "nosuch").code == errors.NOT_FOUND

    cli.ok("views", "add", feed, "qa", "--visibility", "organization")
    views = json.loads(cli.ok("views", "set", feed, "release", "--visibility", "public", "--json").out)[
        "views"
    ]
    assert {v["name"]: v["visibility"] for v in views}["release"] == "public"
    assert {v["name"]: v["visibility"] for v in views}["qa"] == "organization"
    assert cli("views", "add", feed, "a@b").code == errors.FAILED
    assert cli("views", "remove", feed, "release").code == errors.FAILED
    assert "@qa" not in cli.ok("views", "remove", feed, "qa").out


def test_retention_lockfiles_and_pins(server, logged_in, tmp_path):
    cli = logged_in
    feed = create_feed(server)
    name = unique("fh-cli-kept")
    for version in ("1.0", "1.1", "2.0", "3.0"):
        upload(server, feed, *make_wheel(name, version), name, version)

    assert "no retention policy" in cli.ok("retention", "show", feed).out
    assert cli("retention", "set", feed).code == errors.USAGE
    assert cli("retention", "set", feed, "--max-versions", "-1").code == errors.FAILED
    out = cli.ok("retention", "set", feed, "--max-versions", "1").out
    assert "keep at most 1 versions" in out
    assert json.loads(cli.ok("retention", "show", feed, "--json").out)["max_versions"] == 1

    lockfile = tmp_path / "requirements.txt"
    lockfile.write_text(f"{name}==1.1\n")
    assert "pins 1 versions" in cli.ok("lockfiles", "add", feed, str(lockfile)).out
    assert "requirements.txt" in cli.ok("lockfiles", "list", feed).out
    bad = tmp_path / "uv.lock"
    bad.write_text("not [toml")
    assert cli("lockfiles", "add", feed, str(bad)).code == errors.FAILED
    assert "pinned" in cli.ok("pin", feed, name, "1.0").out
    assert cli("pin", feed, name, "9.9").code == errors.NOT_FOUND

    preview = cli.ok("retention", "preview", feed).out
    assert "2.0" in preview and "1 version(s) would go" in preview
    everything = json.loads(cli.ok("retention", "preview", feed, "--max-versions", "3", "--json").out)
    assert everything["projects"][0]["delete"] == []
    assert "no longer pinned" in cli.ok("unpin", feed, name, "1.0").out
    assert "Removed" in cli.ok("lockfiles", "remove", feed, "requirements.txt").out
    assert json.loads(cli.ok("retention", "preview", feed, "--json").out)["projects"][0]["delete"] == [
        "2.0",
        "1.1",
        "1.0",
    ]
    assert "no retention policy" in cli.ok("retention", "set", feed, "--off").out


def test_packages_show_and_feeds_show_give_download_counts(server, logged_in, storage):
    import urllib.request

    from shared import download_counts

    cli = logged_in
    feed = create_feed(server)
    name = unique("fh-counted")
    wheel, data = make_wheel(name, "1.0")
    upload(server, feed, wheel, data, name, "1.0")
    request = urllib.request.Request(
        f"{server.url}/{feed}/files/{name}/{wheel}", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}
    )
    for _ in range(2):
        with urllib.request.urlopen(request) as response:
            assert response.read() == data
    download_counts.flush(storage)  # what the timer does every minute (the host runs in this process)
    shown = cli.ok("packages", "show", feed, name).out
    assert "downloads" in shown and "2 (last " in shown
    version = json.loads(cli.ok("packages", "show", feed, name, "1.0", "--json").out)
    assert version["downloads"]["total"] == 2 and version["files"][0]["downloads"]["total"] == 2
    assert "2 (last " in cli.ok("feeds", "show", feed).out
