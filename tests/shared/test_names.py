import pytest

from shared.names import (
    InvalidFeedName,
    InvalidFilename,
    InvalidProjectName,
    InvalidUserName,
    feed_name_key,
    grantee_key,
    normalize_project_name,
    user_key,
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
        "-",  # /-/client/ serves the feedhouse client
        "a b",
        "a/b",
        "a\\b",
        "a?b",
        "a#b",
        "a:b",
        "team@release",  # feed@view names a view of a feed (shared/views.py)
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


def test_feed_name_key_is_case_insensitive():
    assert feed_name_key("Team") == feed_name_key("TEAM") == "team"


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


# User names (issue 10.12): ASCII only, case-insensitive, reserved names refused for new grantees.


@pytest.mark.parametrize(
    ("name", "key"),
    [("alice", "alice"), ("Alice", "alice"), (" Bob@Contoso.com ", "bob@contoso.com"), ("k8s-ci", "k8s-ci")],
)
def test_user_names_are_ascii_case_insensitive(name, key):
    assert user_key(name) == key == grantee_key(name)


@pytest.mark.parametrize(
    "name",
    [
        "\u212aim",  # KELVIN SIGN: str.lower() makes it 'k', so it would address user 'kim'
        "\u017fam",  # LATIN SMALL LETTER LONG S: casefold() makes it 's'
        "\uff41lice",  # FULLWIDTH a: NFKC makes it 'a'
        "\u0430lice",  # CYRILLIC a: no normalization folds it, it only looks like 'a'
        "ali\u0307ce",
        "",
        "-x",
        "a b",
        "a:b",
        "a..b",
        "x" * 101,
    ],
)
def test_non_ascii_and_malformed_user_names_are_refused(name):
    with pytest.raises(InvalidUserName):
        user_key(name)


@pytest.mark.parametrize("name", ["admin", "Admin", "anonymous", "none"])
def test_reserved_user_names_cannot_be_given_anything(name):
    with pytest.raises(InvalidUserName, match="reserved"):
        grantee_key(name)
    # ...but still name what was stored under them before, so it can be found and removed.
    assert user_key(name) == name.lower()


def test_grant_keys_name_users_groups_and_publishers():
    from shared.names import grant_key

    assert grant_key("Alice", giving=True) == "alice"
    assert grant_key("group:6F1E2D3C-AAAA-bbbb-cccc-000000000001", giving=True) == (
        "group:6f1e2d3c-aaaa-bbbb-cccc-000000000001"
    )
    assert grant_key("publisher:0123456789abcdef", giving=False) == "publisher:0123456789abcdef"
    for bad in ("group:", "group:a/b", "group:Кирилл", "publisher:../x"):
        with pytest.raises(InvalidUserName):
            grant_key(bad, giving=True)
    with pytest.raises(InvalidUserName):
        grant_key("admin", giving=True)  # reserved, as for users
    with pytest.raises(InvalidUserName):
        grantee_key("group:x")  # no token, feed or creator right for a group
