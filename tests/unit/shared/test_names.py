import pytest

from shared.names import (
    InvalidFeedName,
    InvalidFilename,
    InvalidProjectName,
    feed_key,
    normalize_project_name,
    validate_feed_name,
    validate_filename,
)


@pytest.mark.parametrize("name", ["team", "Team-Feed_1", "a", "x" * 64, "release.candidates", "(prod)!"])
def test_valid_feed_names(name):
    assert validate_feed_name(name) == name


@pytest.mark.parametrize(
    "name",
    [
        "",
        "api",
        "ADMIN",
        "runtime",
        "a b",
        "a/b",
        "a\\b",
        "a?b",
        "a#b",
        "a:b",
        "_x",
        ".x",
        "x.",
        "x" * 65,
        "ümlaut",
        "a..b",
        "tab\t",
        "50%",
    ],
)
def test_invalid_feed_names(name):
    with pytest.raises(InvalidFeedName):
        validate_feed_name(name)


def test_feed_key_is_case_insensitive():
    assert feed_key("Team") == feed_key("TEAM") == "team"


@pytest.mark.parametrize(
    ("name", "normal"), [("Foo.Bar", "foo-bar"), ("foo__bar", "foo-bar"), ("A", "a"), ("x-1", "x-1")]
)
def test_normalize_project_name(name, normal):
    assert normalize_project_name(name) == normal


@pytest.mark.parametrize("name", ["", "-x", "x-", "a b", "a/b", "é"])
def test_invalid_project_names(name):
    with pytest.raises(InvalidProjectName):
        normalize_project_name(name)


@pytest.mark.parametrize(
    "filename",
    [
        "",
        "a/b.whl",
        "a\\b.whl",
        "..whl",
        "x..y-1.0.tar.gz",
        "bad\x00.whl",
        "a#b.whl",
        "a?.whl",
        "ü-1.0.tar.gz",
        "x" * 256,
    ],
)
def test_unsafe_filenames(filename):
    with pytest.raises(InvalidFilename):
        validate_filename(filename)


def test_safe_filename():
    assert validate_filename("demo_pkg-1.0+local.1-py3-none-any.whl")
