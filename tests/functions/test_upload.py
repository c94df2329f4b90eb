"""The upload endpoint at handler level: every refusal is a 4xx with a message, and stores nothing."""

import hashlib

import pytest
from azure.storage.blob import ContainerClient

from functions.simple import project_list
from functions.upload import upload
from shared import settings
from shared.keys import BLOB_CONTAINER, documents_prefix
from shared.packages import read_project
from tests.conftest import ADMIN_TOKEN
from tests.support.dists import make_sdist, make_wheel, tar_gz, tar_link, zip_archive, zip_symlink
from tests.support.http import basic, request
from tests.support.multipart import encode, upload_fields
from tests.support.stored import key_of, listed_projects


def post(feed, items, *, headers=None, handler=upload, path="upload/"):
    body, content_type = encode(items)
    all_headers = {"Content-Type": content_type, **basic(ADMIN_TOKEN), **(headers or {})}
    return handler(
        request("POST", f"/{feed}/{path}", route_params={"feed": feed}, body=body, headers=all_headers)
    )


def text(response) -> str:
    return response.get_body().decode()


def blobs(app_env, feed) -> list[str]:
    """The feed's file and metadata blobs (not its page documents, which describe them)."""
    container = ContainerClient.from_connection_string(
        app_env["FEEDHOUSE_STORAGE_CONNECTION_STRING"], BLOB_CONTAINER, api_version="2025-11-05"
    )
    names = (b.name for b in container.list_blobs(name_starts_with=key_of(feed) + "/"))
    return [name for name in names if not name.startswith(documents_prefix(key_of(feed)))]


def assert_nothing_stored(storage, app_env, feed):
    assert listed_projects(feed) == []
    assert blobs(app_env, feed) == []


def test_wheel_and_sdist_upload(storage, feed_name):
    wheel, wheel_bytes = make_wheel("Demo_Pkg", "1.0", requires_python=">=3.8")
    sdist, sdist_bytes = make_sdist("Demo_Pkg", "1.0")
    r1 = post(feed_name, upload_fields("Demo_Pkg", "1.0", wheel, wheel_bytes, requires_python=">=3.8"))
    r2 = post(feed_name, upload_fields("Demo_Pkg", "1.0", sdist, sdist_bytes))
    assert (r1.status_code, r2.status_code) == (200, 200), (text(r1), text(r2))
    files = read_project(storage, key_of(feed_name), "demo-pkg").active
    assert {f.filename for f in files} == {wheel, sdist}
    stored = next(f for f in files if f.filename == wheel)
    assert stored.sha256 == hashlib.sha256(wheel_bytes).hexdigest()
    assert stored.size == len(wheel_bytes)
    assert stored.requires_python == ">=3.8"
    assert listed_projects(feed_name) == ["demo-pkg"]


def test_post_to_simple_url_uploads_too(storage, feed_name):
    wheel, data = make_wheel("viasimple", "2.0")
    response = post(
        feed_name, upload_fields("viasimple", "2.0", wheel, data), handler=project_list, path="simple/"
    )
    assert response.status_code == 200, text(response)
    assert [f.filename for f in read_project(storage, key_of(feed_name), "viasimple").active] == [wheel]


def test_identical_reupload_is_ok_and_changed_bytes_are_refused(storage, feed_name):
    wheel, data = make_wheel("again", "1.0")
    assert post(feed_name, upload_fields("again", "1.0", wheel, data)).status_code == 200
    same = post(feed_name, upload_fields("again", "1.0", wheel, data))
    assert same.status_code == 200
    _, other = make_wheel("again", "1.0", requires=("six",))
    changed = post(feed_name, upload_fields("again", "1.0", wheel, other))
    assert changed.status_code == 400
    assert text(changed).startswith("File already exists")
    files = read_project(storage, key_of(feed_name), "again").active
    assert [f.sha256 for f in files] == [hashlib.sha256(data).hexdigest()]


OTHER_VERSION = "Metadata-Version: 2.1\nName: demo\nVersion: 2.0\n\n"


def _refusals():
    wheel, data = make_wheel("demo", "1.0")
    sdist, sdist_data = make_sdist("demo", "1.0")
    return [
        (
            "wrong digest",
            upload_fields("demo", "1.0", wheel, data, sha256_digest="0" * 64),
            "digest supplied",
        ),
        (
            "no digest",
            upload_fields("demo", "1.0", wheel, data, sha256_digest=None, blake2_256_digest=None),
            "at least one message digest",
        ),
        (
            "name mismatch",
            upload_fields("other", "1.0", wheel, data),
            "Start filename for 'other' with 'other'.",
        ),
        ("version mismatch", upload_fields("demo", "2.0", wheel, data), "Version in filename"),
        ("slash", upload_fields("demo", "1.0", "x/" + wheel, data), "'/'"),
        ("dotdot", upload_fields("demo", "1.0", "..demo-1.0-py3-none-any.whl", data), "'..'"),
        (
            "unknown filetype",
            upload_fields("demo", "1.0", wheel, data, filetype="bdist_egg"),
            "known file type",
        ),
        ("wrong extension", upload_fields("demo", "1.0", "demo-1.0.exe", data), "Invalid file extension"),
        (
            "sdist as wheel",
            upload_fields("demo", "1.0", sdist, sdist_data, filetype="bdist_wheel"),
            "Invalid file extension",
        ),
        ("missing name", upload_fields("demo", "1.0", wheel, data, name=None), "Name"),
        ("missing version", upload_fields("demo", "1.0", wheel, data, version=None), "Version"),
        ("bad version", upload_fields("demo", "not a version", wheel, data), "Version"),
        (
            "bad metadata version",
            upload_fields("demo", "1.0", wheel, data, metadata_version="9.9"),
            "Metadata-Version",
        ),
        ("missing action", upload_fields("demo", "1.0", wheel, data, **{":action": None}), ":action"),
        ("protocol", upload_fields("demo", "1.0", wheel, data, protocol_version="2"), "protocol version"),
        (
            "wheel without pyversion",
            upload_fields("demo", "1.0", wheel, data, pyversion=None),
            "Python version",
        ),
        (
            "bad requires-python",
            upload_fields("demo", "1.0", wheel, data, requires_python="=>3"),
            "'=>3' is invalid for 'requires-python'",
        ),
        (
            "direct dependency",
            upload_fields("demo", "1.0", wheel, data, requires_dist="x @ https://example.org/x.whl"),
            "Can't have direct dependency: x @ https://example.org/x.whl",
        ),
        (
            "file metadata for another version",
            upload_fields("demo", "1.0", *make_wheel("demo", "1.0", metadata=OTHER_VERSION)),
            "The metadata in 'demo-1.0-py3-none-any.whl' is for 'demo' version '2.0'",
        ),
        (
            "wheel without RECORD",
            upload_fields("demo", "1.0", *make_wheel("demo", "1.0", omit=("RECORD",))),
            "does not contain the required RECORD file: demo-1.0.dist-info/RECORD",
        ),
        ("not a zip", upload_fields("demo", "1.0", wheel, b"definitely not a zip"), "not a zipfile"),
        ("not a tar", upload_fields("demo", "1.0", sdist, b"definitely not a tar"), "not a tarfile"),
        ("empty file", upload_fields("demo", "1.0", wheel, b""), "empty"),
        (
            "no file",
            [(k, v) for k, v in upload_fields("demo", "1.0", wheel, data) if k != "content"],
            "does not have a file",
        ),
    ]


@pytest.mark.parametrize(("case", "items", "message"), _refusals(), ids=[c[0] for c in _refusals()])
def test_bad_uploads_are_refused_with_a_message_and_store_nothing(
    storage, app_env, feed_name, case, items, message
):
    response = post(feed_name, items)
    assert 400 <= response.status_code < 500, text(response)
    assert message in text(response)
    assert_nothing_stored(storage, app_env, feed_name)


def _unsafe_archives():
    pkg_info = b"Metadata-Version: 2.1\nName: demo\nVersion: 1.0\n\n"
    return [
        (
            "sdist ../ member",
            "demo-1.0/../../evil.py",
            make_sdist("demo", "1.0", extra=[("demo-1.0/../../evil.py", b"")]),
        ),
        (
            "sdist symlink out",
            "demo-1.0/link",
            make_sdist("demo", "1.0", extra=[tar_link("demo-1.0/link", "../../x")]),
        ),
        (
            "sdist hard link out",
            "demo-1.0/h",
            make_sdist("demo", "1.0", extra=[tar_link("demo-1.0/h", "../x", hard=True)]),
        ),
        ("sdist only ../PKG-INFO", "../PKG-INFO", ("demo-1.0.tar.gz", tar_gz([("../PKG-INFO", pkg_info)]))),
        (
            "zip sdist symlink out",
            "demo-1.0/link",
            (
                "demo-1.0.zip",
                zip_archive([("demo-1.0/PKG-INFO", pkg_info), zip_symlink("demo-1.0/link", "/etc/passwd")]),
            ),
        ),
        ("wheel absolute member", "/etc/evil.py", make_wheel("demo", "1.0", extra=[("/etc/evil.py", b"")])),
        ("wheel ../ member", "..\\evil.py", make_wheel("demo", "1.0", extra=[("..\\evil.py", b"")])),
    ]


@pytest.mark.parametrize(
    ("case", "member", "dist"), _unsafe_archives(), ids=[c[0] for c in _unsafe_archives()]
)
def test_archives_with_unsafe_members_are_refused_naming_the_member(
    storage, app_env, feed_name, case, member, dist
):
    filename, data = dist
    response = post(feed_name, upload_fields("demo", "1.0", filename, data))
    assert response.status_code == 400, text(response)
    assert text(response).startswith(f"Invalid distribution file. Unsafe archive member {member!r}")
    assert_nothing_stored(storage, app_env, feed_name)
    assert read_project(storage, key_of(feed_name), "demo").active == []


def post_raw(feed: str, body: bytes, content_type: str):
    headers = {"Content-Type": content_type, **basic(ADMIN_TOKEN)}
    return upload(
        request("POST", f"/{feed}/upload/", route_params={"feed": feed}, body=body, headers=headers)
    )


def test_backslash_in_filename_is_refused(storage, app_env, feed_name):
    # A quoted multipart filename cannot carry a backslash (it is an escape); RFC 2231's filename* can.
    wheel, data = make_wheel("demo", "1.0")
    body, content_type = encode(upload_fields("demo", "1.0", wheel, data))
    body = body.replace(f'filename="{wheel}"'.encode(), f"filename*=UTF-8''x%5C{wheel}".encode())
    response = post_raw(feed_name, body, content_type)
    assert response.status_code == 400
    assert "'\\'" in text(response)
    assert_nothing_stored(storage, app_env, feed_name)


def test_non_multipart_body_is_refused(storage, app_env, feed_name):
    response = post_raw(feed_name, b'{"name": "demo"}', "application/json")
    assert response.status_code == 400
    assert "multipart/form-data" in text(response)
    assert_nothing_stored(storage, app_env, feed_name)


@pytest.fixture
def small_upload_limit(monkeypatch):
    monkeypatch.setenv("FEEDHOUSE_MAX_UPLOAD_BYTES", "1000")
    settings.load.cache_clear()
    yield 1000
    monkeypatch.undo()
    settings.load.cache_clear()


def assert_names_the_deployment_limit(response, limit):
    """The limit is the deployment's, not the feed's: the message names the setting and who sets it."""
    assert response.status_code == 413
    message = text(response)
    assert message.startswith("File too large.")
    assert f"{limit} bytes" in message
    assert "for feed" not in message
    assert "FEEDHOUSE_MAX_UPLOAD_BYTES" in message
    assert "maxUploadBytes" in message
    assert "operator" in message


def test_oversize_file_is_refused(storage, app_env, feed_name, small_upload_limit):
    wheel, data = make_wheel("big", "1.0")
    data += b"\0" * 2000  # still a valid zip: trailing bytes follow the central directory
    response = post(feed_name, upload_fields("big", "1.0", wheel, data))
    assert_names_the_deployment_limit(response, small_upload_limit)
    assert_nothing_stored(storage, app_env, feed_name)


def test_oversize_body_is_refused_before_parsing(storage, app_env, feed_name, small_upload_limit):
    wheel, data = make_wheel("huge", "1.0")
    response = post(feed_name, upload_fields("huge", "1.0", wheel, data + b"\0" * (2 * 1024 * 1024)))
    assert_names_the_deployment_limit(response, small_upload_limit)
    assert_nothing_stored(storage, app_env, feed_name)


def test_upload_needs_the_admin_token(storage, app_env, feed_name):
    wheel, data = make_wheel("demo", "1.0")
    response = post(feed_name, upload_fields("demo", "1.0", wheel, data), headers=basic("not-the-token"))
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Basic")
    assert_nothing_stored(storage, app_env, feed_name)


def test_upload_to_a_missing_feed_is_404(app_env):
    wheel, data = make_wheel("demo", "1.0")
    response = post("no-such-feed-x", upload_fields("demo", "1.0", wheel, data))
    assert response.status_code == 404
    assert "does not exist" in text(response)
