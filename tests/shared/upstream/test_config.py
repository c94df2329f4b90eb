import json

import pytest

from shared.upstream.config import (
    MAX_UPSTREAMS,
    CredentialUnavailable,
    InvalidClaimedPattern,
    InvalidUpstreams,
    Upstream,
    UpstreamConfig,
    UpstreamCycle,
    apply_changes,
    check_upstream_feeds,
    find_cycle,
    matches_claimed,
    normalize_index_url,
    parse_claimed_patterns,
    parse_upstreams,
)

CRED = "FEEDHOUSE_UPSTREAM_CREDENTIAL_MIRROR"


def public(host, port):
    return ["93.184.216.34"]


def parse(value, *, environ=None, allow_private=False, feed_name="team"):
    return parse_upstreams(
        value, feed_name=feed_name, allow_private=allow_private, resolver=public, environ=environ or {}
    )


def test_the_three_kinds_in_order():
    upstreams = parse(
        [
            {"type": "feed", "feed": "Shared"},
            {"type": "pypi"},
            {"type": "index", "url": "HTTPS://Mirror.Example:8443/simple"},
        ]
    )
    assert [u.kind for u in upstreams] == ["feed", "pypi", "index"]
    assert upstreams[2].url == "https://mirror.example:8443/simple/"
    assert upstreams[0].feed == "Shared"
    assert [u.label for u in upstreams] == ["feed 'Shared'", "PyPI", "https://mirror.example:8443/simple/"]


def test_keys_are_stable_distinct_and_blob_safe():
    a = Upstream("index", url="https://a.example/simple/")
    assert a.key == Upstream("index", url="https://a.example/simple/").key
    assert a.key != Upstream("index", url="https://b.example/simple/").key
    assert Upstream("feed", feed="Shared").key == Upstream("feed", feed="shared").key
    assert Upstream("pypi").key == "pypi"
    assert all(c.isalnum() or c == "-" for c in a.key)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ({"type": "pypi"}, "must be a list"),
        ([{"type": "npm"}], "type must be one of"),
        (["pypi"], "must be an object"),
        ([{"type": "pypi", "url": "https://x/"}], "unknown field"),
        ([{"type": "index"}], "url must be"),
        ([{"type": "index", "url": "ftp://x.example/"}], "https://"),
        ([{"type": "index", "url": "https://u:p@x.example/simple/"}], "app setting"),
        ([{"type": "index", "url": "https://x.example/simple/?token=1"}], "query or fragment"),
        ([{"type": "feed"}], "name of a feed"),
        ([{"type": "pypi"}, {"type": "pypi"}], "repeats"),
        (
            [
                {"type": "index", "url": "https://x.example/simple"},
                {"type": "index", "url": "https://X.example/simple/"},
            ],
            "repeats",
        ),
        ([{"type": "index", "url": "https://x.example/", "credential": "hunter2"}], "never the secret"),
        (
            [{"type": "index", "url": "https://x.example/", "credential": "FEEDHOUSE_ADMIN_TOKEN"}],
            "FEEDHOUSE_UPSTREAM_CREDENTIAL_",
        ),
        ([{"type": "pypi"}] * (MAX_UPSTREAMS + 1), "at most"),
    ],
)
def test_invalid_upstreams_say_what_to_do(value, message):
    with pytest.raises(InvalidUpstreams, match=message) as caught:
        parse(value)
    assert caught.value.status == 400


def test_a_feed_cannot_be_its_own_upstream():
    with pytest.raises(UpstreamCycle):
        parse([{"type": "feed", "feed": "TEAM"}], feed_name="team")


def test_unsafe_hosts_are_refused_at_configuration():
    with pytest.raises(InvalidUpstreams, match="metadata"):
        parse([{"type": "index", "url": "http://169.254.169.254/simple/"}], allow_private=True)
    with pytest.raises(InvalidUpstreams, match="loopback"):
        parse_upstreams(
            [{"type": "index", "url": "http://localhost:1234/simple/"}], feed_name="t", allow_private=False
        )
    assert parse_upstreams(
        [{"type": "index", "url": "http://127.0.0.1:1234/simple/"}], feed_name="t", allow_private=True
    )


def test_credentials_are_a_setting_name_bound_to_the_url_host():
    url = "https://mirror.example/simple/"
    entry = {"type": "index", "url": url, "credential": CRED}
    with pytest.raises(InvalidUpstreams, match="is not set"):
        parse([entry])
    with pytest.raises(InvalidUpstreams, match="Key Vault reference"):
        parse([entry], environ={CRED: "@Microsoft.KeyVault(SecretUri=https://v.vault.azure.net/secrets/x/)"})
    with pytest.raises(InvalidUpstreams, match="must hold https://user:password@host/"):
        parse([entry], environ={CRED: "user:password"})
    with pytest.raises(InvalidUpstreams, match="another host") as caught:
        parse([entry], environ={CRED: "https://user:s3cret@evil.example/"})
    assert "s3cret" not in caught.value.message

    (upstream,) = parse([entry], environ={CRED: "https://us%40er:p%3Ass@mirror.example/"})
    assert upstream.to_json() == {"type": "index", "url": url, "credential": CRED}
    credential = upstream.resolve_credential({CRED: "https://us%40er:p%3Ass@mirror.example/"})
    assert (credential.username, credential.password) == ("us@er", "p:ss")
    assert credential.applies_to("https://mirror.example/files/x.whl")
    assert not credential.applies_to("http://mirror.example/files/x.whl")
    assert not credential.applies_to("https://mirror.example:8443/files/x.whl")
    assert not credential.applies_to("https://files.example/x.whl")
    assert "p:ss" not in repr(credential)
    assert credential.authorization() == "Basic dXNAZXI6cDpzcw=="


def test_a_credential_that_disappears_is_an_upstream_failure_not_a_crash():
    upstream = Upstream("index", url="https://mirror.example/simple/", credential=CRED)
    with pytest.raises(CredentialUnavailable) as caught:
        upstream.resolve_credential({})
    assert caught.value.status == 502
    assert Upstream("pypi").resolve_credential({}) is None


def test_stored_form_round_trips_and_holds_no_secret():
    config = UpstreamConfig(
        upstreams=(
            Upstream("pypi"),
            Upstream("index", url="https://mirror.example/simple/", credential=CRED),
            Upstream("feed", feed="Shared"),
        ),
        claimed_patterns=("contoso-*",),
        readers_save=False,
    )
    text = config.dumps()
    assert UpstreamConfig.loads(text) == config
    assert json.loads(text)["upstreams"][1] == {
        "type": "index",
        "url": "https://mirror.example/simple/",
        "credential": CRED,
    }
    assert UpstreamConfig.loads(None) == UpstreamConfig() == UpstreamConfig.loads("")
    assert config.upstream_feeds == ("shared",)


def test_the_largest_valid_configuration_fits_a_table_property():
    prefix = "https://m00.example/"
    names = [f"FEEDHOUSE_UPSTREAM_CREDENTIAL_{i:02}" + "X" * 62 for i in range(MAX_UPSTREAMS)]
    urls = [
        {
            "type": "index",
            "url": f"https://m{i:02}.example/" + "p" * (999 - len(prefix)) + "/",
            "credential": name,
        }
        for i, name in enumerate(names)
    ]
    environ = {name: f"https://u:p@m{i:02}.example/" for i, name in enumerate(names)}
    config = apply_changes(
        UpstreamConfig(),
        {"upstreams": urls, "claimed_patterns": [f"n{i:02}-" + "x" * 60 for i in range(100)]},
        feed_name="team",
        allow_private=False,
        resolver=public,
        environ=environ,
    )
    assert len(config.upstreams[0].url) == 1000
    assert len(config.dumps().encode("utf-16-le")) <= 64 * 1024
    with pytest.raises(InvalidUpstreams, match="at most 1000"):
        parse([{"type": "index", "url": "https://x.example/" + "p" * 1000}])


def test_apply_changes_replaces_only_given_fields():
    current = UpstreamConfig((Upstream("pypi"),), ("contoso-*",), True)
    changed = apply_changes(current, {"readers_save": False}, feed_name="t", allow_private=False)
    assert changed == UpstreamConfig((Upstream("pypi"),), ("contoso-*",), False)
    cleared = apply_changes(
        current, {"upstreams": [], "claimed_patterns": []}, feed_name="t", allow_private=False
    )
    assert cleared == UpstreamConfig((), (), True)
    with pytest.raises(InvalidUpstreams):
        apply_changes(current, {"readers_save": "yes"}, feed_name="t", allow_private=False)


def test_claimed_patterns_are_normalized_and_checked():
    assert parse_claimed_patterns(["Contoso_*", "contoso-*", "acme.?ib"]) == ("contoso-*", "acme-?ib")
    for bad in (["con[st]oso"], ["a/b"], [""], ["x" * 101], "contoso-*", [1]):
        with pytest.raises(InvalidClaimedPattern):
            parse_claimed_patterns(bad)
    assert matches_claimed("contoso-lib", ("contoso-*",))
    assert not matches_claimed("contoso", ("contoso-*",))
    assert not matches_claimed("acme-contoso-lib", ("contoso-*",))


def test_index_url_normal_form():
    assert normalize_index_url("https://EXAMPLE.com") == "https://example.com/"
    assert normalize_index_url("http://[::1]:8080/simple") == "http://[::1]:8080/simple/"


# Cycles -------------------------------------------------------------------------------------------


def graph(edges):
    return lambda key: edges.get(key)


def test_find_cycle():
    edges = {"a": ["b"], "b": ["c", "d"], "c": [], "d": ["a"]}
    assert find_cycle("a", graph(edges)) == ["a", "b", "d", "a"]
    assert find_cycle("c", graph(edges)) is None


def test_a_cycle_not_through_the_feed_does_not_loop_the_search():
    edges = {"a": ["b"], "b": ["c"], "c": ["b"]}
    assert find_cycle("a", graph(edges)) is None


def test_diamonds_are_not_cycles():
    edges = {"a": ["b", "c"], "b": ["d"], "c": ["d"], "d": []}
    assert find_cycle("a", graph(edges)) is None


def test_check_upstream_feeds_uses_the_new_configuration():
    stored = {"a": [], "b": ["c"], "c": ["a"]}
    config = UpstreamConfig((Upstream("feed", feed="B"),))
    with pytest.raises(UpstreamCycle, match="a -> b -> c -> a"):
        check_upstream_feeds("A", config, graph(stored))
    check_upstream_feeds(
        "A", UpstreamConfig((Upstream("feed", feed="C"), Upstream("pypi"))), graph({"a": [], "c": []})
    )
    with pytest.raises(InvalidUpstreams, match="does not exist"):
        check_upstream_feeds("A", UpstreamConfig((Upstream("feed", feed="nope"),)), graph(stored))
