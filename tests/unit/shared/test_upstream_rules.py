from dataclasses import dataclass

from shared.upstream.confusion import (
    LOCAL,
    SAVED,
    UPSTREAM,
    ConfusionPolicy,
    merge_files,
    upstream_visible,
    why_upstream_hidden,
)


def test_upstream_versions_show_for_names_the_feed_does_not_have():
    assert upstream_visible("requests", ConfusionPolicy())


def test_a_published_name_hides_its_upstream_versions():
    policy = ConfusionPolicy.build(published=["Requests"])
    assert not upstream_visible("requests", policy)
    assert not upstream_visible("REQUESTS", policy)
    assert "allow external versions" in why_upstream_hidden("requests", policy)
    assert upstream_visible("requests-toolbelt", policy)


def test_an_owner_can_allow_external_versions():
    policy = ConfusionPolicy.build(published=["requests"], allow_external=["Requests"])
    assert upstream_visible("requests", policy)


def test_claimed_patterns_hide_names_never_published():
    policy = ConfusionPolicy.build(claimed_patterns=["contoso-*"])
    assert not upstream_visible("contoso-lib", policy)
    assert not upstream_visible("Contoso_Lib", policy)
    assert "claims" in why_upstream_hidden("contoso.lib", policy)
    assert upstream_visible("contoso", policy)
    assert upstream_visible("acme-contoso-lib", policy)


def test_an_explicit_allow_wins_over_a_claimed_pattern():
    policy = ConfusionPolicy.build(allow_external=["contoso-vendored"], claimed_patterns=["contoso-*"])
    assert upstream_visible("contoso-vendored", policy)
    assert not upstream_visible("contoso-lib", policy)


@dataclass(frozen=True)
class F:
    filename: str
    tag: str


def test_merge_order_local_then_saved_then_upstreams_in_order():
    merged = merge_files(
        local=[F("a-1.0.tar.gz", "local")],
        saved=[F("a-1.0.tar.gz", "saved"), F("a-1.1.tar.gz", "saved")],
        live=[
            ("pypi", [F("a-1.1.tar.gz", "pypi"), F("a-1.2.tar.gz", "pypi")]),
            ("mirror", [F("a-1.2.tar.gz", "mirror"), F("a-1.3.tar.gz", "mirror")]),
        ],
    )
    assert [(m.filename, m.origin, m.upstream, m.file.tag) for m in merged] == [
        ("a-1.0.tar.gz", LOCAL, None, "local"),
        ("a-1.1.tar.gz", SAVED, None, "saved"),
        ("a-1.2.tar.gz", UPSTREAM, "pypi", "pypi"),
        ("a-1.3.tar.gz", UPSTREAM, "mirror", "mirror"),
    ]


def test_merge_with_nothing_upstream():
    assert [m.origin for m in merge_files([F("a-1.0.tar.gz", "x")], [])] == [LOCAL]
    assert merge_files([], [], []) == []
