from shared.upstream.confusion import ConfusionPolicy, why_upstream_hidden


def test_upstream_versions_show_for_names_the_feed_does_not_have():
    assert why_upstream_hidden("requests", ConfusionPolicy()) is None


def test_a_published_name_hides_its_upstream_versions():
    policy = ConfusionPolicy.build(published=["Requests"])
    assert why_upstream_hidden("requests", policy) is not None
    assert why_upstream_hidden("REQUESTS", policy) is not None
    assert "allow external versions" in why_upstream_hidden("requests", policy)
    assert why_upstream_hidden("requests-toolbelt", policy) is None


def test_an_owner_can_allow_external_versions():
    policy = ConfusionPolicy.build(published=["requests"], allow_external=["Requests"])
    assert why_upstream_hidden("requests", policy) is None


def test_claimed_patterns_hide_names_never_published():
    policy = ConfusionPolicy.build(claimed_patterns=["contoso-*"])
    assert why_upstream_hidden("contoso-lib", policy) is not None
    assert why_upstream_hidden("Contoso_Lib", policy) is not None
    assert "claims" in why_upstream_hidden("contoso.lib", policy)
    assert why_upstream_hidden("contoso", policy) is None
    assert why_upstream_hidden("acme-contoso-lib", policy) is None


def test_an_explicit_allow_wins_over_a_claimed_pattern():
    policy = ConfusionPolicy.build(allow_external=["contoso-vendored"], claimed_patterns=["contoso-*"])
    assert why_upstream_hidden("contoso-vendored", policy) is None
    assert why_upstream_hidden("contoso-lib", policy) is not None
