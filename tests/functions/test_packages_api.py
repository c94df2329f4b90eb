"""The package API at handler level: listing, yanking, deleting, the recycle bin and file-name reuse."""

import base64
import json
import re
import secrets
from urllib.parse import parse_qs, urlsplit

import pytest

from functions import packages_api as api
from functions.files import download
from functions.simple import project_detail
from shared import feeds
from shared.keys import BLOB_CONTAINER, PROJECTS_TABLE, files_partition
from tests.support.dists import make_wheel
from tests.support.http import json_of
from tests.support.publish import call, json_page, publish, publish_sdist, publish_wheel
from tests.support.stored import key_of


def versions_on_page(feed, project="demo"):
    return json_page(feed, project)


@pytest.fixture
def demo(feed_name):
    files = {
        "1.0": [publish_wheel(feed_name, "demo", "1.0")[0], publish_sdist(feed_name, "demo", "1.0")[0]],
        "2.0": [publish_wheel(feed_name, "demo", "2.0")[0]],
    }
    return feed_name, files


def path(feed, tail=""):
    return f"/api/feeds/{feed}/packages{tail}"


# Listing -------------------------------------------------------------------------------------------


def test_package_detail_lists_versions_files_hashes_and_uploader(demo):
    feed, files = demo
    response = call(api.package_item, "GET", path(feed, "/Demo"), feed=feed, project="Demo")
    assert response.status_code == 200
    body = json_of(response)
    assert body["name"] == "demo"
    assert [v["version"] for v in body["versions"]] == ["1.0", "2.0"]
    first = body["versions"][0]
    assert first["yanked"] is False
    assert [f["filename"] for f in first["files"]] == sorted(files["1.0"])
    wheel = next(f for f in first["files"] if f["packagetype"] == "bdist_wheel")
    assert set(wheel["hashes"]) == {"sha256", "blake2b_256", "md5"}
    assert wheel["uploader"] == "admin"
    assert wheel["upload_time"].endswith("Z")
    assert wheel["size"] > 0
    assert wheel["core_metadata"] == {"sha256": wheel["core_metadata"]["sha256"]}
    assert wheel["url"] == f"/{feed}/files/demo/{wheel['filename']}"
    one = call(
        api.version_item, "GET", path(feed, "/demo/versions/2.0"), feed=feed, project="demo", version="2.0"
    )
    assert json_of(one)["files"][0]["filename"] == files["2.0"][0]


@pytest.mark.parametrize(("project", "version"), [("nope", None), ("demo", "9.0"), ("demo", "not-a-version")])
def test_unknown_package_or_version_is_404(demo, project, version):
    feed, _ = demo
    if version is None:
        response = call(api.package_item, "GET", path(feed, f"/{project}"), feed=feed, project=project)
    else:
        response = call(api.version_item, "GET", "/x", feed=feed, project=project, version=version)
    assert response.status_code == 404
    assert json_of(response)["message"]


def test_package_list_is_paged_with_a_continuation_token(feed_name):
    names = [f"pkg{i:02d}" for i in range(5)]
    for name in names:
        publish_wheel(feed_name, name, "1.0")
    seen, params = [], {"limit": "2"}
    while True:
        body = json_of(call(api.packages_collection, "GET", path(feed_name), params=params, feed=feed_name))
        assert len(body["packages"]) <= 2
        seen += [p["name"] for p in body["packages"]]
        if not body["continuation"]:
            break
        assert body["next"].startswith(path(feed_name) + "?limit=2&continuation=")
        params = {"limit": "2", "continuation": body["continuation"]}
    assert seen == names


@pytest.mark.parametrize(
    "params", [{"limit": "0"}, {"limit": "x"}, {"limit": "5000"}, {"limit": ""}, {"continuation": "%%%"}]
)
def test_bad_paging_parameters_are_400(feed_name, params):
    response = call(api.packages_collection, "GET", path(feed_name), params=params, feed=feed_name)
    assert response.status_code == 400


def b64(data):
    return base64.urlsafe_b64encode(data if isinstance(data, bytes) else json.dumps(data).encode()).decode()


def add_projects(app_env, feed, count):
    """``count`` project rows in the feed's index, written directly (100 to a transaction)."""
    from azure.data.tables import TableClient

    connection = app_env["FEEDHOUSE_STORAGE_CONNECTION_STRING"]
    client = TableClient.from_connection_string(connection, PROJECTS_TABLE)
    names = [f"p{i:04d}" for i in range(count)]
    for start in range(0, count, 100):
        rows = [{"PartitionKey": key_of(feed), "RowKey": n, "Name": n} for n in names[start : start + 100]]
        client.submit_transaction([("create", row) for row in rows])
    return names


def page(feed, **params):
    response = call(api.packages_collection, "GET", path(feed), params=params, feed=feed)
    assert response.status_code == 200, response.get_body()
    return json_of(response)


def test_malformed_continuation_tokens_are_400(app_env, feed_name, storage):
    add_projects(app_env, feed_name, 3)
    other = "t-" + secrets.token_hex(6)
    feeds.create_feed(storage, feeds.parse_new_feed({"name": other}))
    add_projects(app_env, other, 3)
    real = page(feed_name, limit="1")["continuation"]
    from_other_feed = page(other, limit="1")["continuation"]
    (partition, next_partition, next_row) = json.loads(base64.urlsafe_b64decode(real + "=="))
    malformed = {
        "empty": "",
        "not base64": "%%%",
        "base64 of bytes": b64(b"\xff\xfe\x00garbage"),
        "base64 of text": b64(b"p0001"),  # what a token used to be: the last name of the page
        "a JSON object": b64({"PartitionKey": next_partition, "RowKey": next_row}),
        "a JSON string": b64("p0001"),
        "numbers": b64([1, 2, 3]),
        "too short": b64([partition, next_partition]),
        "too long": b64([partition, next_partition, next_row, "x"]),
        "empty keys": b64([partition, "", ""]),
        "no partition": b64(["", next_partition, next_row]),
        "another feed's": from_other_feed,
        "another partition's": b64([key_of(other), next_partition, next_row]),
        "cut short": real[:-4],
        "deeply nested": b64(b"[" * 5000),
        "huge": "A" * 100_000,
    }
    for label, token in malformed.items():
        response = call(
            api.packages_collection, "GET", path(feed_name), params={"continuation": token}, feed=feed_name
        )
        assert response.status_code == 400, label
        assert json_of(response)["error"] == "invalid_continuation", label
    assert [p["name"] for p in page(feed_name, limit="1", continuation=real)["packages"]] == ["p0001"]


class RecordingTableClient:
    """A table client that records the URL of every query request it sends."""

    def __init__(self, client):
        self._client = client
        self.queries = []

    def __getattr__(self, name):
        return getattr(self._client, name)

    def query_entities(self, *args, **kwargs):
        return self._client.query_entities(
            *args, raw_request_hook=lambda r: self.queries.append(r.http_request.url), **kwargs
        )


def test_one_page_is_one_storage_request_of_at_most_1000(app_env, feed_name, storage, monkeypatch):
    names = add_projects(app_env, feed_name, 1005)
    recorder = RecordingTableClient(storage._table_clients[PROJECTS_TABLE])
    monkeypatch.setitem(storage._table_clients, PROJECTS_TABLE, recorder)

    first = page(feed_name, limit="1000")
    assert len(recorder.queries) == 1
    assert parse_qs(urlsplit(recorder.queries[0]).query)["$top"] == ["1000"]
    assert [p["name"] for p in first["packages"]] == names[:1000] and first["continuation"]

    second = page(feed_name, limit="1000", continuation=first["continuation"])
    assert len(recorder.queries) == 2
    assert parse_qs(urlsplit(recorder.queries[1]).query)["$top"] == ["1000"]
    assert [p["name"] for p in second["packages"]] == names[1000:]
    assert second["continuation"] is None and "next" not in second

    page(feed_name)  # the default page size
    assert parse_qs(urlsplit(recorder.queries[2]).query)["$top"] == ["100"]


# Yanking -------------------------------------------------------------------------------------------


def yank(feed, version, body=None, *, project="demo", action="yank"):
    handler = api.yank if action == "yank" else api.unyank
    return call(
        handler,
        "POST",
        path(feed, f"/{project}/versions/{version}/{action}"),
        json_body=body,
        feed=feed,
        project=project,
        version=version,
    )


def publish_other_tag(feed, version):
    """A second wheel of the version (another python tag, so another file name)."""
    filename, data = make_wheel("demo", version)
    filename = filename.replace("py3-none-any", "py311-none-any")
    assert publish(feed, filename, data, "demo", version, pyversion="py311").status_code == 200
    return filename


def test_yank_with_reason_shows_on_pages_and_unyank_clears_it(demo):
    feed, files = demo
    response = yank(feed, "2.0", {"reason": "broken on Windows"})
    assert response.status_code == 200
    assert json_of(response)["yanked_reason"] == "broken on Windows"
    page = versions_on_page(feed)
    yanked = {f["filename"]: f["yanked"] for f in page["files"]}
    assert yanked[files["2.0"][0]] == "broken on Windows"
    assert all(yanked[f] is False for f in files["1.0"])
    assert "2.0" in page["versions"]  # a yanked version is still a version
    html = call(project_detail, "GET", f"/{feed}/simple/demo/", feed=feed, project="demo").get_body().decode()
    assert html.count('data-yanked="broken on Windows"') == 1
    # Files uploaded to a yanked version later are yanked too: the state belongs to the release.
    later = publish_other_tag(feed, "2.0")
    assert {f["filename"]: f["yanked"] for f in versions_on_page(feed)["files"]}[later] == "broken on Windows"
    assert yank(feed, "2.0", action="unyank").status_code == 200
    assert all(f["yanked"] is False for f in versions_on_page(feed)["files"])


def test_yank_without_reason_is_true(demo):
    feed, files = demo
    assert yank(feed, "1.0").status_code == 200
    entries = {f["filename"]: f["yanked"] for f in versions_on_page(feed)["files"]}
    assert all(entries[f] is True for f in files["1.0"])
    html = call(project_detail, "GET", f"/{feed}/simple/demo/", feed=feed, project="demo").get_body().decode()
    assert len(re.findall(r"data-yanked[ >]", html)) == 2


@pytest.mark.parametrize(
    ("body", "status"),
    [({"reason": 5}, 400), ({"why": "x"}, 400), ("text", 400), ({"reason": "x" * 1001}, 400)],
)
def test_bad_yank_bodies_are_400(demo, body, status):
    feed, _ = demo
    assert yank(feed, "1.0", body).status_code == status


def test_yank_needs_publish_permission_and_a_real_version(demo):
    feed, _ = demo
    anonymous = call(api.yank, "POST", "/x", token=None, feed=feed, project="demo", version="1.0")
    assert anonymous.status_code == 401
    assert yank(feed, "3.0").status_code == 404
    assert yank(feed, "1.0", project="other").status_code == 404


# Deleting, the recycle bin, restoring, purging ----------------------------------------------------


def delete_version(feed, version, **kwargs):
    return call(
        api.version_item,
        "DELETE",
        path(feed, f"/demo/versions/{version}"),
        feed=feed,
        project="demo",
        version=version,
        **kwargs,
    )


def bin_of(feed):
    return json_of(call(api.recycle_bin, "GET", f"/api/feeds/{feed}/recycle-bin", feed=feed))["versions"]


def file_status(feed, filename):
    return call(download, "GET", "/x", feed=feed, project="demo", filename=filename).status_code


def blob_names(app_env, feed):
    from azure.storage.blob import ContainerClient

    container = ContainerClient.from_connection_string(
        app_env["FEEDHOUSE_STORAGE_CONNECTION_STRING"], BLOB_CONTAINER, api_version="2025-11-05"
    )
    return {b.name.rsplit("/", 1)[1] for b in container.list_blobs(name_starts_with=key_of(feed) + "/")}


def test_delete_version_goes_to_the_bin_and_restore_brings_it_back(demo):
    feed, files = demo
    response = delete_version(feed, "1.0")
    assert response.status_code == 200
    assert sorted(json_of(response)["deleted"]) == sorted(files["1.0"])
    assert versions_on_page(feed)["versions"] == ["2.0"]
    assert all(file_status(feed, f) == 404 for f in files["1.0"])
    (entry,) = bin_of(feed)
    assert (entry["project"], entry["version"]) == ("demo", "1.0")
    assert sorted(f["filename"] for f in entry["files"]) == sorted(files["1.0"])
    assert entry["files"][0]["deleted_by"] == "admin"
    assert entry["purge_after"] > entry["files"][0]["deleted_at"]

    restored = call(api.restore, "POST", "/x", feed=feed, project="demo", version="1.0")
    assert sorted(json_of(restored)["restored"]) == sorted(files["1.0"])
    assert versions_on_page(feed)["versions"] == ["1.0", "2.0"]
    assert all(file_status(feed, f) == 200 for f in files["1.0"])
    assert bin_of(feed) == []
    assert call(api.restore, "POST", "/x", feed=feed, project="demo", version="1.0").status_code == 404


def test_a_deleted_file_name_can_never_be_uploaded_again(demo, app_env):
    feed, files = demo
    wheel = files["2.0"][0]
    _, data = make_wheel("demo", "2.0")
    assert delete_version(feed, "2.0").status_code == 200
    # Not while in the bin (not even the identical bytes) ...
    refused = publish(feed, wheel, data, "demo", "2.0")
    assert refused.status_code == 400
    assert (
        refused.get_body()
        .decode()
        .startswith("This filename was previously used by a file that has since been deleted.")
    )
    # ... nor after the purge.
    purged = call(api.purge, "DELETE", "/x", feed=feed, project="demo", version="2.0")
    assert json_of(purged)["purged"] == [wheel]
    assert wheel not in blob_names(app_env, feed)
    assert f"{wheel}.metadata" not in blob_names(app_env, feed)
    assert bin_of(feed) == []
    assert publish(feed, wheel, data, "demo", "2.0").status_code == 400
    # Other names in that version are fine once it is purged, as on PyPI.
    publish_other_tag(feed, "2.0")


def test_delete_one_file(demo):
    feed, files = demo
    wheel, sdist = sorted(files["1.0"], key=lambda f: not f.endswith(".whl"))
    response = call(api.file_item, "DELETE", "/x", feed=feed, project="demo", filename=wheel)
    assert response.status_code == 200
    assert json_of(response)["version"] == "1.0"
    assert file_status(feed, wheel) == 404
    assert file_status(feed, sdist) == 200
    assert versions_on_page(feed)["versions"] == ["1.0", "2.0"]
    (entry,) = bin_of(feed)
    assert [f["filename"] for f in entry["files"]] == [wheel]
    # Deleting the rest of the version joins the same bin entry.
    delete_version(feed, "1.0")
    (entry,) = bin_of(feed)
    assert sorted(f["filename"] for f in entry["files"]) == sorted(files["1.0"])
    assert call(api.file_item, "DELETE", "/x", feed=feed, project="demo", filename=wheel).status_code == 404


def test_deleting_every_version_keeps_an_empty_page(demo):
    feed, _ = demo
    delete_version(feed, "1.0")
    delete_version(feed, "2.0")
    page = versions_on_page(feed)
    assert (page["versions"], page["files"]) == ([], [])


def test_one_sdist_per_release_counts_the_bin_and_the_purged(demo):
    feed, files = demo
    sdist = next(f for f in files["1.0"] if f.endswith(".tar.gz"))
    zipped = sdist.replace(".tar.gz", ".zip")
    from tests.shared.test_distributions import zip_bytes

    data = zip_bytes({"demo-1.0/PKG-INFO": b"Metadata-Version: 2.1\nName: demo\nVersion: 1.0\n"}).getvalue()
    refused = publish(feed, zipped, data, "demo", "1.0")
    assert refused.status_code == 400
    assert refused.get_body().decode().startswith("Only one sdist may be uploaded per release.")
    # Once the sdist is deleted, another one for the release reuses its name (the same release's
    # sdist under another spelling), in the bin and after the purge alike.
    call(api.file_item, "DELETE", "/x", feed=feed, project="demo", filename=sdist)
    for _ in ("in the bin", "purged"):
        reused = publish(feed, zipped, data, "demo", "1.0")
        assert reused.status_code == 400
        assert reused.get_body().decode().startswith("This filename was previously used by a file that")
        assert sdist in reused.get_body().decode()
        call(api.purge, "DELETE", "/x", feed=feed, project="demo", version="1.0")


def test_lifecycle_needs_manage_permission(demo):
    feed, files = demo
    for handler, params in (
        (api.version_item, {"project": "demo", "version": "1.0"}),
        (api.file_item, {"project": "demo", "filename": files["1.0"][0]}),
        (api.purge, {"project": "demo", "version": "1.0"}),
    ):
        assert call(handler, "DELETE", "/x", token=None, feed=feed, **params).status_code == 401
    assert call(api.recycle_bin, "GET", "/x", token=None, feed=feed).status_code == 401
    assert (
        call(api.restore, "POST", "/x", token=None, feed=feed, project="demo", version="1.0").status_code
        == 401
    )
    assert versions_on_page(feed)["versions"] == ["1.0", "2.0"]


def test_deleting_what_is_not_there_is_404(demo):
    feed, _ = demo
    assert delete_version(feed, "7.0").status_code == 404
    assert (
        call(api.file_item, "DELETE", "/x", feed=feed, project="demo", filename="nope.whl").status_code == 404
    )
    assert call(api.purge, "DELETE", "/x", feed=feed, project="demo", version="1.0").status_code == 404


def test_a_version_with_hundreds_of_long_file_names_is_deleted_listed_restored_and_purged(app_env, feed_name):
    """Table Storage takes at most 64 KiB in one property (32K characters): the bin must not write a
    version's file list into one."""
    from azure.data.tables import TableClient

    feed = key_of(feed_name)
    platforms = ".".join(f"manylinux_2_{n}_x86_64" for n in range(5, 15))
    names = sorted(f"demo-1.0-{i}-py3-none-{platforms}.whl" for i in range(400))
    assert all(200 < len(name) < 255 for name in names)
    client = TableClient.from_connection_string(app_env["FEEDHOUSE_STORAGE_CONNECTION_STRING"], "files")
    rows = [
        {
            "PartitionKey": files_partition(feed, "demo"),
            "RowKey": name,
            "Project": "demo",
            "Version": "1.0",
            "Filetype": "bdist_wheel",
            "Size": 1,
            "Sha256": "ab" * 32,
            "Blake2b256": "cd" * 32,
            "Uploaded": "2024-01-01T00:00:00.000000Z",
            "Uploader": "admin",
            "Blob": f"{feed}/demo/{'ab' * 32}/{name}",
            "State": "active",
        }
        for name in names
    ]
    for start in range(0, len(rows), 100):
        client.submit_transaction([("create", row) for row in rows[start : start + 100]])
    publish_wheel(feed_name, "demo", "2.0")

    deleted = delete_version(feed_name, "1.0")
    assert deleted.status_code == 200, deleted.get_body()
    assert sorted(json_of(deleted)["deleted"]) == names
    (entry,) = bin_of(feed_name)
    assert sorted(f["filename"] for f in entry["files"]) == names

    restored = call(api.restore, "POST", "/x", feed=feed_name, project="demo", version="1.0")
    assert restored.status_code == 200, restored.get_body()
    assert sorted(json_of(restored)["restored"]) == names
    assert bin_of(feed_name) == []
    assert versions_on_page(feed_name)["versions"] == ["1.0", "2.0"]

    assert delete_version(feed_name, "1.0").status_code == 200
    purged = call(api.purge, "DELETE", "/x", feed=feed_name, project="demo", version="1.0")
    assert purged.status_code == 200, purged.get_body()
    assert sorted(json_of(purged)["purged"]) == names
    assert bin_of(feed_name) == []
