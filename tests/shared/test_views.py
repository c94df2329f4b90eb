"""A feed's views: names, visibility, their stored form, and promotions in page documents."""

from __future__ import annotations

import pytest

from shared.keys import promotion_of_row, promotion_row
from shared.packages import Project
from shared.page_documents import ProjectDocument, ProjectList
from shared.views import FeedViews, InvalidView, ViewNotFound, split_feed_view, validate_view_name


@pytest.mark.parametrize("name", ["qa", "QA", "nightly-2", "team.ci", "x" * 64])
def test_valid_view_names_are_lower_cased(name):
    assert validate_view_name(name) == name.lower()


@pytest.mark.parametrize(
    "name",
    [
        "",
        "a@b",
        "a/b",
        "a b",
        "release",
        "Local",
        "PRERELEASE",
        "x" * 65,
        "_x",
        ".x",
        "-x",
        "x.",
        "a..b",
        "ü",
        3,
    ],
)
def test_bad_view_names_are_refused(name):
    with pytest.raises(InvalidView):
        validate_view_name(name)


def test_built_in_views_always_exist_and_cannot_be_removed():
    views = FeedViews()
    assert [v.name for v in views.all] == ["local", "prerelease", "release"]
    for name in ("local", "prerelease", "release"):
        with pytest.raises(InvalidView):
            views.without(name)
    with pytest.raises(ViewNotFound):
        views.find("qa")


def test_a_view_is_never_narrower_than_its_feed():
    views = FeedViews().with_visibility("release", "public").with_view("qa", "private")
    assert views.find("release").visible_as("private") == "public"
    assert views.find("qa").visible_as("organization") == "organization"
    assert views.find("prerelease").visible_as("organization") == "organization"
    with pytest.raises(InvalidView):
        views.with_visibility("local", "public")


def test_views_round_trip_and_a_view_added_again_gets_a_new_id():
    views = FeedViews().with_view("qa", "organization").with_visibility("release", "public")
    assert FeedViews.loads(views.dumps()) == views
    assert FeedViews.loads(None) == FeedViews() and FeedViews().dumps() is None
    again = views.without("qa").with_view("qa", None)
    assert again.find("qa").id != views.find("qa").id
    with pytest.raises(InvalidView):
        views.with_view("QA", None)


def test_feed_view_names_split_at_the_at_sign():
    assert split_feed_view("team@release") == ("team", "release")
    assert split_feed_view("team") == ("team", None)
    assert split_feed_view("team@") == ("team", "")


def test_promotion_rows_name_the_view_and_release():
    row = promotion_row("release", "1!2.0rc1+local")
    assert promotion_of_row(row) == ("release", "1!2.0rc1+local")
    assert promotion_of_row("~release:1.0") is None and promotion_of_row("demo-1.0.tar.gz") is None


def test_documents_carry_promotions_and_read_without_them_as_before():
    document = ProjectDocument("demo").with_rows(
        [{"RowKey": promotion_row("release", "1.0"), "Version": "1.0", "PromotedBy": "a", "PromotedAt": "t"}]
    )
    assert document.promoted == {"release": frozenset({"1.0"})}
    assert ProjectDocument.from_bytes(document.to_bytes()) == document
    assert b"promoted" not in ProjectDocument("demo").to_bytes()  # the feed's documents are unchanged
    listed = ProjectList((Project("demo", "Demo", "t"),)).with_view("demo", "release")
    assert ProjectList.from_bytes(listed.to_bytes()) == listed
    assert b"views" not in ProjectList((Project("demo", "Demo", "t"),)).to_bytes()
