"""What modern installers use, end to end with real clients against the local host + Azurite:
PEP 691 JSON, PEP 658 metadata, PEP 592 yanks, PEP 700 upload times, deletion and the recycle bin,
HTTP caching and ranges, and downloads through a 302 to blob storage."""

from __future__ import annotations

import gzip
import http.client
import json
import sys
import urllib.request
from urllib.parse import urlsplit

import pytest

from functions import simple
from shared import page_documents
from shared.keys import FILES_TABLE, files_partition
from tests.conftest import ADMIN_TOKEN
from tests.e2e.api import call, create_feed, downloads, fetched, installed, unique
from tests.e2e.clients import BIN
from tests.support.dists import build_project
from tests.support.stored import key_of

pytestmark = pytest.mark.e2e


def api(server, method: str, path: str, body: object = None) -> tuple[int, object]:
    return call(server, method, path, body)


@pytest.fixture
def feed(server) -> str:
    """A public feed: these tests are about the protocol, so clients read without credentials
    (tests/e2e/test_authentication.py covers credentials; the handler tests cover private caching)."""
    return create_feed(server, visibility="public")


def said(result) -> str:
    """A client's output with whitespace collapsed (twine's rich console wraps long messages)."""
    return " ".join((result.stdout + result.stderr).split())


def module(name: str) -> str:
    return name.replace("-", "_")


@pytest.fixture
def app_with_dep(server, feed, clients, tmp_path):
    """Two projects published with twine: an app depending on a library."""
    dep, app = unique("fh-lib"), unique("fh-app")
    files = build_project(tmp_path, dep, "1.0") + build_project(
        tmp_path, app, "1.0", dependencies=(f"{dep}>=1",)
    )
    clients.twine_upload(f"{server.url}/{feed}/upload/", ADMIN_TOKEN, *files)
    return feed, app, dep


@pytest.fixture
def served_formats(monkeypatch):
    """The representation of every simple page the server sent: [(path, media type)]."""
    seen: list[tuple[str, str]] = []
    original = simple.page_response

    def recording(req, body, *, media_type, **kwargs):
        seen.append((urlsplit(req.url).path, media_type))
        return original(req, body, media_type=media_type, **kwargs)

    monkeypatch.setattr(simple, "page_response", recording)
    return seen


def test_uv_resolves_from_json_pages_and_metadata_files_without_downloading_wheels(
    server, app_with_dep, clients, tmp_path, served_formats
):
    feed, app, dep = app_with_dep
    server.clear_requests()
    result = clients.run(
        BIN / "uv",
        "pip",
        "compile",
        "--no-config",
        "--no-cache",
        "--python",
        sys.executable,
        "--index-url",
        f"{server.url}/{feed}/simple/",
        "-",
        "-o",
        tmp_path / "requirements.txt",
        input_text=f"{app}\n",
    )
    assert result.returncode == 0
    pinned = (tmp_path / "requirements.txt").read_text()
    assert f"{app}==1.0" in pinned and f"{dep}==1.0" in pinned
    assert {path for path, media in served_formats} == {f"/{feed}/simple/{app}/", f"/{feed}/simple/{dep}/"}
    assert {media for _, media in served_formats} == {"application/vnd.pypi.simple.v1+json"}
    assert fetched(server, feed) == {
        f"{module(app)}-1.0-py3-none-any.whl.metadata",
        f"{module(dep)}-1.0-py3-none-any.whl.metadata",
    }


def test_pip_uses_and_verifies_metadata_hashes(server, app_with_dep, clients, storage, tmp_path):
    feed, app, dep = app_with_dep
    server.clear_requests()
    clients.pip_install(f"{server.url}/{feed}/simple/", tmp_path / "ok", app)
    assert installed(tmp_path / "ok") == {f"{module(app)}-1.0.dist-info", f"{module(dep)}-1.0.dist-info"}
    assert f"{module(app)}-1.0-py3-none-any.whl.metadata" in fetched(server, feed)

    # Advertise a wrong metadata hash: pip must refuse the metadata file rather than trust it.
    wheel = f"{module(app)}-1.0-py3-none-any.whl"
    record = storage.get(FILES_TABLE, files_partition(key_of(feed), app), wheel)
    storage.replace(FILES_TABLE, {**record, "MetadataSha256": "0" * 64})
    # Pages are served from the project's page document, which the app's writers keep up to date.
    page_documents.follow_rows(storage, key_of(feed), app, [wheel])
    result = clients.pip_install(f"{server.url}/{feed}/simple/", tmp_path / "bad", app, check=False)
    assert result.returncode != 0
    assert "DO NOT MATCH THE HASHES" in result.stderr
    assert f"Expected sha256 {'0' * 64}" in said(result)


def test_pypi_simple_reads_every_page_in_both_formats_and_verifies_every_hash(server, app_with_dep, tmp_path):
    from pypi_simple import ACCEPT_HTML_ONLY, ACCEPT_JSON_ONLY, PyPISimple

    feed, app, dep = app_with_dep
    for accept in (ACCEPT_JSON_ONLY, ACCEPT_HTML_ONLY):
        with PyPISimple(f"{server.url}/{feed}/simple/", accept=accept) as client:
            index = client.get_index_page()
            assert sorted(index.projects) == sorted([app, dep])
            checked = 0
            for project in index.projects:
                page = client.get_project_page(project)
                assert page.repository_version == "1.1"
                for package in page.packages:
                    target = tmp_path / accept[:10].replace("/", "_") / package.filename
                    target.parent.mkdir(exist_ok=True)
                    client.download_package(package, target, verify=True)
                    assert package.digests["sha256"]
                    # setuptools writes Metadata-Version 2.4 PKG-INFO without dynamic dependencies: both
                    # the wheel and the sdist have PEP 658 metadata.
                    assert package.has_metadata, package.filename
                    assert client.get_package_metadata(package, verify=True).startswith("Metadata-Version:")
                    checked += 1
            assert checked == 4


def publish_versions(server, feed, clients, tmp_path, name, versions):
    for version in versions:
        clients.twine_upload(
            f"{server.url}/{feed}/upload/", ADMIN_TOKEN, *build_project(tmp_path, name, version)
        )


def test_pip_and_uv_skip_a_yanked_version_unless_pinned(server, feed, clients, tmp_path):
    name = unique("fh-yank")
    publish_versions(server, feed, clients, tmp_path, name, ("1.0", "2.0"))
    status, body = api(
        server, "POST", f"/api/feeds/{feed}/packages/{name}/versions/2.0/yank", {"reason": "bad"}
    )
    assert (status, body["yanked"]) == (200, True)
    index = f"{server.url}/{feed}/simple/"
    for install in (clients.pip_install, clients.uv_install):
        latest, pinned = tmp_path / f"{install.__name__}-latest", tmp_path / f"{install.__name__}-pinned"
        install(index, latest, name)
        assert installed(latest) == {f"{module(name)}-1.0.dist-info"}
        install(index, pinned, f"{name}==2.0")
        assert installed(pinned) == {f"{module(name)}-2.0.dist-info"}
    api(server, "POST", f"/api/feeds/{feed}/packages/{name}/versions/2.0/unyank")
    clients.pip_install(index, tmp_path / "after", name)
    assert installed(tmp_path / "after") == {f"{module(name)}-2.0.dist-info"}


def test_uv_exclude_newer_and_pip_uploaded_prior_to_pick_the_older_upload(
    server, feed, clients, storage, tmp_path
):
    name = unique("fh-time")
    publish_versions(server, feed, clients, tmp_path, name, ("1.0", "2.0"))
    # Backdate 1.0's files so a cutoff falls between the two uploads without waiting for the clock.
    for record in storage.partition(FILES_TABLE, files_partition(key_of(feed), name)):
        if record.get("Version") == "1.0":
            storage.replace(FILES_TABLE, {**record, "Uploaded": "2020-06-01T00:00:00.000000Z"})
    page_documents.follow_all(storage, key_of(feed), name)  # the page document follows the rows
    index = f"{server.url}/{feed}/simple/"
    clients.uv_install(index, tmp_path / "uv", name, "--exclude-newer", "2021-01-01T00:00:00Z")
    assert installed(tmp_path / "uv") == {f"{module(name)}-1.0.dist-info"}
    clients.pip_install(index, tmp_path / "pip", name, "--uploaded-prior-to", "2021-01-01T00:00:00Z")
    assert installed(tmp_path / "pip") == {f"{module(name)}-1.0.dist-info"}
    clients.uv_install(index, tmp_path / "now", name)
    assert installed(tmp_path / "now") == {f"{module(name)}-2.0.dist-info"}


def test_delete_restore_purge_and_file_name_reuse(server, feed, clients, tmp_path):
    name = unique("fh-life")
    publish_versions(server, feed, clients, tmp_path, name, ("1.0",))
    files = build_project(tmp_path / "again", name, "1.0")
    upload_url = f"{server.url}/{feed}/upload/"
    index = f"{server.url}/{feed}/simple/"
    wheel = f"{module(name)}-1.0-py3-none-any.whl"

    status, body = api(server, "DELETE", f"/api/feeds/{feed}/packages/{name}/versions/1.0")
    assert status == 200 and wheel in body["deleted"]
    result = clients.pip_install(index, tmp_path / "gone", name, check=False)
    assert result.returncode != 0 and "No matching distribution" in result.stderr
    refused = clients.twine_upload(upload_url, ADMIN_TOKEN, *files, check=False)
    assert refused.returncode != 0
    assert "previously used by a file that has since been deleted" in said(refused)

    status, bin_ = api(server, "GET", f"/api/feeds/{feed}/recycle-bin")
    assert [(v["project"], v["version"]) for v in bin_["versions"]] == [(name, "1.0")]
    assert api(server, "POST", f"/api/feeds/{feed}/recycle-bin/{name}/1.0/restore")[0] == 200
    clients.pip_install(index, tmp_path / "back", name)
    assert installed(tmp_path / "back") == {f"{module(name)}-1.0.dist-info"}

    api(server, "DELETE", f"/api/feeds/{feed}/packages/{name}/versions/1.0")
    status, body = api(server, "DELETE", f"/api/feeds/{feed}/recycle-bin/{name}/1.0")
    assert status == 200 and wheel in body["purged"]
    with pytest.raises(urllib.error.HTTPError) as missing:
        urllib.request.urlopen(f"{server.url}/{feed}/files/{name}/{wheel}")
    assert missing.value.code == 404
    refused = clients.uv_publish(upload_url, ADMIN_TOKEN, *files, check=False)
    assert refused.returncode != 0
    assert "previously used by a file that has since been deleted" in said(refused)


def test_pip_and_uv_install_through_a_302_to_blob_storage(
    server, app_with_dep, clients, tmp_path, redirect_downloads
):
    feed, app, dep = app_with_dep
    index = f"{server.url}/{feed}/simple/"
    for install in (clients.pip_install, clients.uv_install):
        server.clear_requests()
        target = tmp_path / install.__name__
        install(index, target, app)
        assert installed(target) == {f"{module(app)}-1.0.dist-info", f"{module(dep)}-1.0.dist-info"}
        redirected = {
            path.rsplit("/", 1)[1]
            for method, path, status in server.requests
            if method == "GET" and path.startswith(f"/{feed}/files/") and status == 302
        }
        assert redirected == {f"{module(app)}-1.0-py3-none-any.whl", f"{module(dep)}-1.0-py3-none-any.whl"}
        assert downloads(server, feed) == set()  # no wheel bytes went through the function


def test_uv_revalidates_a_cached_page_and_gets_304(server, app_with_dep, clients, tmp_path):
    feed, app, _ = app_with_dep
    del clients.env["UV_NO_CACHE"]
    clients.env["UV_CACHE_DIR"] = str(tmp_path / "uv-cache")
    index = f"{server.url}/{feed}/simple/"
    clients.uv_install(index, tmp_path / "first", app, no_cache=False)
    server.clear_requests()
    clients.uv_install(index, tmp_path / "second", app, "--refresh", no_cache=False)
    pages = [(path, status) for method, path, status in server.requests if path == f"/{feed}/simple/{app}/"]
    assert pages and all(status == 304 for _, status in pages)


def raw(server, method: str, path: str, headers: dict[str, str] | None = None):
    parts = urlsplit(server.url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    try:
        connection.request(method, path, headers=headers or {})
        response = connection.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        connection.close()


def test_http_caching_gzip_and_ranges_through_the_host(server, app_with_dep):
    feed, app, _ = app_with_dep
    page = f"/{feed}/simple/{app}/"
    status, headers, body = raw(server, "GET", page, {"Accept-Encoding": "gzip"})
    assert (status, headers["Content-Encoding"], headers["Vary"]) == (200, "gzip", "Accept, Accept-Encoding")
    assert b"pypi:repository-version" in gzip.decompress(body)
    status, again, body = raw(
        server, "GET", page, {"Accept-Encoding": "gzip", "If-None-Match": headers["ETag"]}
    )
    assert (status, body, again["ETag"]) == (304, b"", headers["ETag"])

    wheel = f"/{feed}/files/{app}/{module(app)}-1.0-py3-none-any.whl"
    status, head, body = raw(server, "HEAD", wheel, {"Accept-Encoding": "identity"})
    size = int(head["Content-Length"])
    assert (status, head["Accept-Ranges"], body) == (200, "bytes", b"")
    status, headers, whole = raw(server, "GET", wheel)
    assert len(whole) == size
    status, headers, tail = raw(server, "GET", wheel, {"Range": "bytes=-100"})
    assert (status, headers["Content-Range"], tail) == (
        206,
        f"bytes {size - 100}-{size - 1}/{size}",
        whole[-100:],
    )
    status, headers, part = raw(server, "GET", wheel, {"Range": "bytes=10-19"})
    assert (status, part) == (206, whole[10:20])
    status, headers, _ = raw(server, "GET", wheel, {"Range": f"bytes={size}-"})
    assert (status, headers["Content-Range"]) == (416, f"bytes */{size}")
    status, _, body = raw(server, "GET", wheel, {"If-None-Match": head["ETag"]})
    assert (status, body) == (304, b"")


def test_unsupported_accept_gets_406_through_the_host(server, app_with_dep):
    feed, app, _ = app_with_dep
    status, headers, body = raw(server, "GET", f"/{feed}/simple/{app}/", {"Accept": "application/json"})
    assert status == 406
    assert b"application/vnd.pypi.simple.v1+json" in body
    status, headers, body = raw(
        server, "GET", f"/{feed}/simple/{app}/?format=application/vnd.pypi.simple.latest%2Bjson"
    )
    assert (status, headers["Content-Type"]) == (200, "application/vnd.pypi.simple.v1+json")
    assert json.loads(body)["meta"]["api-version"] == "1.1"


def test_json_api_through_the_host(server, app_with_dep):
    feed, app, dep = app_with_dep
    with urllib.request.urlopen(f"{server.url}/{feed}/pypi/{app}/json") as response:
        doc = json.loads(response.read())
    assert doc["info"]["requires_dist"] == [f"{dep}>=1"]
    assert {u["packagetype"] for u in doc["urls"]} == {"bdist_wheel", "sdist"}
    with urllib.request.urlopen(doc["urls"][0]["url"]) as response:
        assert response.status == 200
