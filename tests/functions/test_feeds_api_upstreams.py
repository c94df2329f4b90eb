"""A feed's upstream configuration through the API: set at creation and by PATCH, checked, shown."""

from __future__ import annotations

import dataclasses
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from functions.feeds_api import feed_item, feeds_collection
from shared import feeds, memo, roles
from shared.keys import FEEDS_TABLE
from shared.roles import Role
from shared.storage import get_storage
from shared.upstream.config import FEED, Upstream, UpstreamConfig, find_cycle
from tests.support.http import json_of
from tests.support.publish import call
from tests.support.stored import key_of
from tests.support.upstreams import create_feed, index, new_feed, patch_feed, user

pytestmark = pytest.mark.usefixtures("upstream_settings")


def get(feed: str, token: str | None = None) -> dict:
    kwargs = {"token": token} if token else {}
    response = call(feed_item, "GET", f"/api/feeds/{feed}", feed=feed, **kwargs)
    assert response.status_code == 200, response.get_body()
    return json_of(response)


def test_public_pypi_is_one_switch_at_creation_and_the_defaults_are_shown():
    status, body = create_feed([{"type": "pypi"}])
    assert status == 201, body
    assert body["upstreams"] == [{"type": "pypi"}]
    assert body["claimed_patterns"] == [] and body["readers_save"] is True
    assert get(body["name"])["upstreams"] == [{"type": "pypi"}]

    plain = get(new_feed())
    assert plain["upstreams"] == [] and plain["readers_save"] is True


def test_patch_sets_the_ordered_upstreams_patterns_and_readers_save_and_keeps_what_it_omits(monkeypatch):
    other = new_feed()
    feed = new_feed()
    monkeypatch.setenv("FEEDHOUSE_UPSTREAM_CREDENTIAL_MIRROR", "https://ci:s3cret@127.0.0.1:8443/")
    status, body = patch_feed(
        feed,
        {
            "upstreams": [
                {"type": "feed", "feed": other.upper()},
                {
                    "type": "index",
                    "url": "HTTPS://127.0.0.1:8443/simple",
                    "credential": "FEEDHOUSE_UPSTREAM_CREDENTIAL_MIRROR",
                },
                {"type": "pypi"},
            ],
            "claimed_patterns": ["Contoso_*", "contoso-*"],
            "readers_save": False,
        },
    )
    assert status == 200, body
    assert body["upstreams"] == [
        {"type": "feed", "feed": other.upper()},
        {
            "type": "index",
            "url": "https://127.0.0.1:8443/simple/",
            "credential": "FEEDHOUSE_UPSTREAM_CREDENTIAL_MIRROR",
        },
        {"type": "pypi"},
    ]
    assert body["claimed_patterns"] == ["contoso-*"]
    assert body["readers_save"] is False
    # No secret anywhere: the credential is named by its setting, in the API and in the record.
    assert "s3cret" not in repr(get(feed))
    assert "s3cret" not in feeds.get_feed(get_storage(), feed).to_record()["Upstreams"]

    status, body = patch_feed(feed, {"description": "only this"})
    assert status == 200 and len(body["upstreams"]) == 3 and body["readers_save"] is False
    status, body = patch_feed(feed, {"upstreams": []})
    assert status == 200 and body["upstreams"] == [] and body["claimed_patterns"] == ["contoso-*"]


def test_readers_see_index_upstreams_by_host_only():
    feed = new_feed(
        [index("http://127.0.0.1:9/private-token-abc/simple/"), {"type": "pypi"}], visibility="organization"
    )
    reader = user(feed, Role.READER)
    owner = user(feed, Role.OWNER)
    assert get(feed, reader)["upstreams"] == [{"type": "index", "host": "127.0.0.1"}, {"type": "pypi"}]
    assert get(feed, owner)["upstreams"][0]["url"] == "http://127.0.0.1:9/private-token-abc/simple/"
    listed = json_of(call(feeds_collection, "GET", "/api/feeds", token=reader))["feeds"]
    (mine,) = [f for f in listed if f["name"] == feed]
    assert "private-token-abc" not in repr(mine)
    listed = json_of(call(feeds_collection, "GET", "/api/feeds", token=owner))["feeds"]
    (mine,) = [f for f in listed if f["name"] == feed]
    assert mine["upstreams"][0]["url"].endswith("/private-token-abc/simple/")


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://169.254.169.254/metadata/identity/", "cloud metadata"),
        ("http://[::ffff:169.254.169.254]/simple/", "cloud metadata"),
        ("http://168.63.129.16/simple/", "cloud metadata or platform"),
        ("http://169.254.10.1/simple/", "link-local"),
        ("ftp://example.com/simple/", "https://"),
        ("file:///etc/passwd", "https://"),
        ("http://user:pw@127.0.0.1/simple/", "credentials"),
        ("http://127.0.0.1/simple/?x=1", "query"),
    ],
)
def test_unsafe_index_urls_are_refused_at_patch_with_the_reason(url, reason):
    feed = new_feed()
    status, body = patch_feed(feed, {"upstreams": [{"type": "pypi"}, index(url)]})
    assert status == 400, body
    assert body["error"] == "invalid_upstreams"
    assert reason in body["message"] and "upstreams[1].url" in body["message"]
    assert get(feed)["upstreams"] == []
    status, body = create_feed([index(url)])
    assert status == 400 and reason in body["message"]


def test_loopback_is_refused_unless_the_deployment_allows_private_upstreams(upstream_settings):
    from shared import settings

    upstream_settings.setenv("FEEDHOUSE_UPSTREAM_ALLOW_PRIVATE", "false")
    settings.load.cache_clear()
    status, body = create_feed([index("http://127.0.0.1:3141/simple/")])
    assert status == 400 and "loopback" in body["message"]
    assert "FEEDHOUSE_UPSTREAM_ALLOW_PRIVATE" in body["message"]


@pytest.mark.parametrize(
    ("upstreams", "message"),
    [
        ("pypi", "must be a list"),
        ([{"type": "npm"}], "type must be one of"),
        ([{"type": "pypi"}, {"type": "pypi"}], "repeats"),
        (
            [{"type": "index", "url": "https://x.test/simple/", "credential": "hunter2"}],
            "name of an app setting",
        ),
        (
            [
                {
                    "type": "index",
                    "url": "https://127.0.0.1/simple/",
                    "credential": "FEEDHOUSE_UPSTREAM_CREDENTIAL_NONE",
                }
            ],
            "is not set",
        ),
        ([{"type": "pypi", "url": "https://pypi.org/simple/"}], "unknown field"),
        ([{"type": "pypi"}] * 21, "at most 20"),
    ],
)
def test_invalid_upstream_lists_are_400(upstreams, message):
    status, body = create_feed(upstreams)
    assert status == 400, body
    assert message in body["message"]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"claimed_patterns": "contoso-*"}, "list of strings"),
        ({"claimed_patterns": ["contoso/*"]}, "not a usable pattern"),
        ({"readers_save": "yes"}, "true or false"),
    ],
)
def test_invalid_patterns_and_flags_are_400(body, message):
    status, response = patch_feed(new_feed(), body)
    assert status == 400 and message in response["message"]


def test_a_feed_upstream_must_exist_be_readable_and_make_no_cycle():
    a = new_feed()
    status, body = patch_feed(a, {"upstreams": [{"type": "feed", "feed": "no-such-feed-q"}]})
    assert status == 400 and "does not exist" in body["message"]
    status, body = patch_feed(a, {"upstreams": [{"type": "feed", "feed": a.upper()}]})
    assert status == 400 and body["error"] == "upstream_cycle"

    b = new_feed([{"type": "feed", "feed": a}])
    c = new_feed([{"type": "feed", "feed": b}])
    status, body = patch_feed(a, {"upstreams": [{"type": "pypi"}, {"type": "feed", "feed": c}]})
    assert status == 400, body
    assert body["error"] == "upstream_cycle"
    assert f"{a} -> {c} -> {b} -> {a}" in body["message"]
    assert get(a)["upstreams"] == []


def test_an_owner_cannot_name_a_feed_they_cannot_read():
    secret_feed = new_feed()  # private, no roles
    mine = new_feed()
    owner = user(mine, Role.OWNER)
    status, body = patch_feed(mine, {"upstreams": [{"type": "feed", "feed": secret_feed}]}, token=owner)
    assert status == 403 and secret_feed in body["message"]
    status, body = create_feed([{"type": "feed", "feed": secret_feed}], token=owner)
    assert status == 403

    readable = new_feed(visibility="organization")
    status, body = patch_feed(mine, {"upstreams": [{"type": "feed", "feed": readable}]}, token=owner)
    assert status == 200, body


def test_only_owners_change_upstreams():
    feed = new_feed()
    contributor = user(feed, Role.CONTRIBUTOR)
    status, _ = patch_feed(feed, {"upstreams": [{"type": "pypi"}]}, token=contributor)
    assert status == 403
    assert get(feed)["upstreams"] == []


def test_the_admin_names_an_owner_at_creation():
    status, body = create_feed(owner="Someone-Else")
    assert status == 201, body
    assert roles.role_of(get_storage(), key_of(body["name"]), "someone-else") is Role.OWNER


def stored_upstream_feeds(key: str) -> tuple[str, ...] | None:
    found = feeds.find_feed(get_storage(), key)
    return None if found is None else found.upstream_config.upstream_feeds


def test_concurrent_patches_never_close_a_cycle():
    """A -> B and B -> A at the same instant: at most one succeeds, the other is refused (a cycle, or
    409 to retry), no cycle is stored, and both feeds stay editable."""
    start = threading.Barrier(2)

    def link(feed: str, upstream: str) -> tuple[int, dict]:
        start.wait()
        return patch_feed(feed, {"upstreams": [{"type": "feed", "feed": upstream}]})

    with ThreadPoolExecutor(2) as pool:
        for round_ in range(30):
            a, b = new_feed(), new_feed()
            results = list(pool.map(lambda pair: link(*pair), [(a, b), (b, a)]))
            statuses = sorted(status for status, _ in results)
            assert statuses[0] == 200 and statuses[1] in (400, 409), f"round {round_}: {results}"
            assert all(body.get("error") in (None, "upstream_cycle", "conflict") for _, body in results)
            assert find_cycle(a, stored_upstream_feeds) is None, f"round {round_}: {results}"
            # Both stay editable, upstreams included.
            for feed in (a, b):
                status, body = patch_feed(feed, {"upstreams": [{"type": "pypi"}]})
                assert status == 200, f"round {round_}: {body}"


def test_a_cycle_stored_before_the_rule_can_be_repaired():
    """Edits that add no feed upstream are never refused for a cycle, so a cycle stored earlier (by the
    race above, before it was fixed) can be edited and removed."""
    a = new_feed()
    b = new_feed([{"type": "feed", "feed": a}])
    storage = get_storage()
    stored = feeds.get_feed(storage, a)
    closing = UpstreamConfig(upstreams=(Upstream(FEED, feed=b),))
    storage.replace(FEEDS_TABLE, dataclasses.replace(stored, upstream_config=closing).to_record())
    memo.forget_all()  # written behind the app's back: what this instance keeps would expire soon anyway
    assert find_cycle(a, stored_upstream_feeds) == [a, b, a]

    status, body = patch_feed(a, {"claimed_patterns": ["contoso-*"]})
    assert status == 200, body
    status, body = patch_feed(b, {"upstreams": [{"type": "pypi"}, {"type": "feed", "feed": a}]})
    assert status == 200, body
    status, body = patch_feed(a, {"upstreams": []})
    assert status == 200, body
    assert find_cycle(a, stored_upstream_feeds) is None
    status, body = patch_feed(a, {"upstreams": [{"type": "feed", "feed": b}]})
    assert status == 400 and body["error"] == "upstream_cycle"
