"""Downloading upstream files through a feed, at handler level: saving, passing through, refusing."""

from __future__ import annotations

import io
import json
import secrets
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest

from functions.files import download
from functions.packages_api import file_item, package_item, package_upstreaming
from functions.simple import project_detail
from shared import auth, feeds, roles, tokens
from shared.keys import FILES_TABLE, files_partition
from shared.packages import FileNotFound, StoredFile
from shared.roles import Role
from shared.storage import get_storage
from shared.tokens import Scope
from shared.upstream.sources import FeedUpstreams
from tests.support.dists import make_wheel
from tests.support.http import json_of
from tests.support.publish import call, json_page, publish, publish_wheel
from tests.support.upstream_server import FakeIndex, Reply, ranged
from tests.support.upstreams import ScriptedIndex, index, new_feed, patch_feed, sha256, user

pytestmark = pytest.mark.usefixtures("upstream_settings")


@pytest.fixture
def upstream() -> Iterator[ScriptedIndex]:
    with FakeIndex() as fake:
        yield ScriptedIndex(fake)


def get_file(feed: str, project: str, filename: str, *, token: str | None = None, method: str = "GET", **kw):
    kwargs = {"token": token} if token else {}
    return call(
        download,
        method,
        f"/{feed}/files/{project}/{filename}",
        feed=feed,
        project=project,
        filename=filename,
        **kwargs,
        **kw,
    )


def key(feed: str) -> str:
    """The feed's storage key (never derived from its name here)."""
    return feeds.get_feed(get_storage(), feed).key


def rows(feed: str, project: str) -> dict[str, dict]:
    records = get_storage().partition(FILES_TABLE, files_partition(key(feed), project))
    return {r["RowKey"]: r for r in records if not r["RowKey"].startswith("~")}


def blobs(feed: str, project: str, data: bytes, filename: str, suffix: str = "") -> bool:
    return get_storage().blob_info(f"{key(feed)}/{project}/{sha256(data)}/{filename}{suffix}") is not None


@pytest.fixture
def offered(upstream):
    """A feed whose upstream offers one wheel (with metadata): (feed, filename, bytes, metadata)."""
    filename, data = make_wheel("offered", "1.0", requires_python=">=3.8")
    metadata = b"Metadata-Version: 2.1\nName: offered\nVersion: 1.0\nRequires-Python: >=3.8\n\n"
    upstream.project(
        "offered",
        [
            upstream.entry(
                filename,
                data,
                **{
                    "core-metadata": upstream.metadata(filename, metadata),
                    "requires-python": ">=3.8",
                    "size": len(data),
                    "upload-time": "2023-03-04T05:06:07Z",
                },
            )
        ],
    )
    return new_feed([index(upstream.url)]), filename, data, metadata


def test_a_collaborators_download_saves_the_file_and_the_feed_serves_it_from_then_on(upstream, offered):
    feed, filename, data, metadata = offered
    collaborator = user(feed, Role.COLLABORATOR)
    response = get_file(feed, "offered", filename, token=collaborator)
    assert response.status_code == 200, response.get_body()
    assert response.get_body() == data
    assert response.headers["ETag"] == f'"{sha256(data)}"'

    (row,) = rows(feed, "offered").values()
    assert row["Origin"] == "upstream"
    assert row["Uploader"] == f"upstream:index {upstream.fake.url}"
    assert row["UpstreamLabel"] == f"index {upstream.fake.url}"
    assert row["Sha256"] == sha256(data) and row["Size"] == len(data)
    assert row["Uploaded"] == "2023-03-04T05:06:07.000000Z"  # the upstream's upload time
    assert row["MetadataSha256"] == sha256(metadata) and row["MetadataServed"] is True
    assert get_storage().read_blob(row["Blob"]) == data

    # Saved: the upstream is no longer asked for it, and the page lists it once, as saved.
    asked = upstream.file_requests(filename)
    again = get_file(feed, "offered", filename, token=collaborator)
    assert again.get_body() == data and upstream.file_requests(filename) == asked
    meta = get_file(feed, "offered", filename + ".metadata")
    assert meta.status_code == 200 and meta.get_body() == metadata
    doc = json_page(feed, "offered")
    assert [f["filename"] for f in doc["files"]] == [filename]
    assert doc["files"][0]["upload-time"] == "2023-03-04T05:06:07.000000Z"

    # The package API marks it as from upstream.
    api = json_of(call(package_item, "GET", "/", feed=feed, project="offered"))
    (entry,) = api["versions"][0]["files"]
    assert entry["origin"] == "upstream" and entry["upstream"] == f"index {upstream.fake.url}"
    assert entry["uploader"] == f"upstream:index {upstream.fake.url}" and entry["saved_at"]


def test_a_reader_saves_by_default_and_passes_through_when_the_feed_says_readers_do_not_save(offered):
    feed, filename, data, _ = offered
    reader = user(feed, Role.READER)
    status, _ = patch_feed(feed, {"readers_save": False})
    assert status == 200
    response = get_file(feed, "offered", filename, token=reader)
    assert response.status_code == 200 and response.get_body() == data
    assert response.headers["ETag"] == f'"{sha256(data)}"'
    assert rows(feed, "offered") == {}
    assert not blobs(feed, "offered", data, filename)
    ranged = get_file(feed, "offered", filename, token=reader, headers={"Range": "bytes=0-9"})
    assert ranged.status_code == 206 and ranged.get_body() == data[:10]
    assert rows(feed, "offered") == {}

    patch_feed(feed, {"readers_save": True})
    assert get_file(feed, "offered", filename, token=reader).get_body() == data
    assert list(rows(feed, "offered")) == [filename]


def test_anonymous_readers_of_a_public_feed_get_the_file_but_never_save_it(upstream):
    filename, data = make_wheel("public-dep", "1.0")
    upstream.project("public-dep", [upstream.entry(filename, data)])
    feed = new_feed([index(upstream.url)], visibility="public")
    anonymous = call(download, "GET", "/", token=None, feed=feed, project="public-dep", filename=filename)
    assert anonymous.status_code == 200 and anonymous.get_body() == data
    assert rows(feed, "public-dep") == {}
    signed_in = get_file(feed, "public-dep", filename, token=user())  # a reader by visibility
    assert signed_in.status_code == 200
    assert list(rows(feed, "public-dep")) == [filename]


def test_metadata_of_upstream_files_passes_through_checked_without_saving_the_file(upstream, offered):
    feed, filename, _data, metadata = offered
    response = get_file(feed, "offered", filename + ".metadata")
    assert response.status_code == 200 and response.get_body() == metadata
    assert response.headers["ETag"] == f'"{sha256(metadata)}"'
    assert rows(feed, "offered") == {}
    upstream.fake.routes[upstream.file_path(filename) + ".metadata"] = Reply(body=b"Name: evil\n")
    tampered = get_file(feed, "offered", filename + ".metadata")
    assert tampered.status_code == 502 and b"does not match" in tampered.get_body()


def test_a_hash_mismatch_is_refused_with_a_502_and_nothing_is_saved(upstream):
    filename, data = make_wheel("tampered", "1.0")
    upstream.project("tampered", [upstream.entry(filename, data)])
    evil = data[:-1] + bytes([data[-1] ^ 1])
    upstream.fake.routes[upstream.file_path(filename)] = Reply(body=evil)
    feed = new_feed([index(upstream.url)])
    for token in (None, user(feed, Role.READER)):
        response = get_file(feed, "tampered", filename, token=token)
        assert response.status_code == 502
        text = response.get_body().decode()
        assert "does not match the sha256" in text and sha256(evil) in text
        assert rows(feed, "tampered") == {}
        assert not blobs(feed, "tampered", data, filename) and not blobs(feed, "tampered", evil, filename)
    patch_feed(feed, {"readers_save": False})
    assert get_file(feed, "tampered", filename, token=user(feed, Role.READER)).status_code == 502


def test_saved_files_are_served_when_the_upstream_is_down_or_dropped_the_release(upstream, upstream_settings):
    upstream_settings.setenv("FEEDHOUSE_UPSTREAM_CACHE_SECONDS", "0")
    filename, data = make_wheel("survivor", "1.0")
    upstream.project("survivor", [upstream.entry(filename, data, yanked=False)])
    feed = new_feed([index(upstream.url)])
    assert get_file(feed, "survivor", filename).status_code == 200

    upstream.project("survivor", [])  # deleted upstream
    assert [f["filename"] for f in json_page(feed, "survivor")["files"]] == [filename]
    upstream.answer("survivor", Reply(status=404))  # the whole project gone upstream
    assert [f["filename"] for f in json_page(feed, "survivor")["files"]] == [filename]
    del upstream.fake.routes[upstream.file_path(filename)]
    upstream.answer("survivor", Reply(status=500))  # and now the upstream is down
    assert [f["filename"] for f in json_page(feed, "survivor")["files"]] == [filename]
    response = get_file(feed, "survivor", filename)
    assert response.status_code == 200 and response.get_body() == data


def test_a_saved_file_follows_its_upstreams_yank_while_listed(upstream, upstream_settings):
    upstream_settings.setenv("FEEDHOUSE_UPSTREAM_CACHE_SECONDS", "0")
    filename, data = make_wheel("yankable", "1.0")
    upstream.project("yankable", [upstream.entry(filename, data)])
    feed = new_feed([index(upstream.url)])
    get_file(feed, "yankable", filename)
    upstream.project("yankable", [upstream.entry(filename, data, yanked="security issue")])
    assert json_page(feed, "yankable")["files"][0]["yanked"] == "security issue"
    upstream.project("yankable", [upstream.entry(filename, data)])
    assert json_page(feed, "yankable")["files"][0]["yanked"] is False


RACE_ROUNDS = 50
RACERS = 8


def test_concurrent_first_downloads_save_one_record_and_all_get_the_file(upstream):
    # A race shows only now and then, so it is run many times here: a regression fails this test
    # instead of hiding as a flaky one. Each round is a new file. The pool starts its threads one
    # after another, which spreads the racers over the window where the first one saves the file:
    # some look before the record exists and again after it does.
    feed = new_feed([index(upstream.url)])
    for round_ in range(RACE_ROUNDS):
        project = f"stampede-{round_}"
        filename, data = make_wheel(project, "1.0")
        upstream.project(project, [upstream.entry(filename, data)])
        json_page(feed, project)  # the page is cached, as it would be after pip read it
        with ThreadPoolExecutor(max_workers=RACERS) as pool:
            responses = list(pool.map(lambda _, p=project, f=filename: get_file(feed, p, f), range(RACERS)))
        assert [r.status_code for r in responses] == [200] * RACERS, f"round {round_}: " + "; ".join(
            r.get_body()[:200].decode() for r in responses if r.status_code != 200
        )
        assert all(r.get_body() == data for r in responses)
        assert list(rows(feed, project)) == [filename]
        assert get_storage().read_blob(rows(feed, project)[filename]["Blob"]) == data


def test_a_feed_upstreams_file_that_does_not_match_its_record_is_refused_and_not_copied():
    source = new_feed(visibility="organization")  # its files may be copied into a private feed
    downstream = new_feed([{"type": "feed", "feed": source}])
    filename, data = publish_wheel(source, "altered", "1.0")
    (row,) = rows(source, "altered").values()
    storage = get_storage()
    storage.delete_blob(row["Blob"])
    altered = bytes(len(data))
    storage.create_blob(row["Blob"], io.BytesIO(altered), length=len(altered), content_type="application/zip")
    response = get_file(downstream, "altered", filename)
    assert response.status_code == 502 and b"does not match" in response.get_body()
    assert rows(downstream, "altered") == {}
    assert not blobs(downstream, "altered", data, filename)


def test_concurrent_first_downloads_from_a_feed_upstream_copy_it_once_and_all_get_it():
    source = new_feed(visibility="organization")  # its files may be copied into a private feed
    downstream = new_feed([{"type": "feed", "feed": source}])
    for round_ in range(RACE_ROUNDS // 2):
        project = f"copied-{round_}"
        filename, data = publish_wheel(source, project, "1.0")
        with ThreadPoolExecutor(max_workers=RACERS) as pool:
            responses = list(
                pool.map(lambda _, p=project, f=filename: get_file(downstream, p, f), range(RACERS))
            )
        assert [r.status_code for r in responses] == [200] * RACERS, f"round {round_}: " + "; ".join(
            r.get_body()[:200].decode() for r in responses if r.status_code != 200
        )
        assert all(r.get_body() == data for r in responses)
        (row,) = rows(downstream, project).values()
        assert row["Origin"] == "upstream" and get_storage().read_blob(row["Blob"]) == data


def test_a_file_stored_after_the_callers_first_look_is_served_not_refused(offered):
    """The race's window made deterministic: the handler found no file, then a concurrent first
    download saved it before the upstream path reads the project again."""
    feed, filename, data, metadata = offered
    assert get_file(feed, "offered", filename).status_code == 200  # the concurrent winner
    storage = get_storage()
    view = FeedUpstreams(storage, feeds.get_feed(storage, feed), auth.ADMIN)
    for obtain in (view.obtain_file, view.obtain_metadata):
        found = obtain("offered", filename)
        assert isinstance(found, StoredFile) and found.sha256 == sha256(data)
        assert found.core_metadata_sha256 == sha256(metadata)
    assert call(file_item, "DELETE", "/", feed=feed, project="offered", filename=filename).status_code == 200
    with pytest.raises(FileNotFound):  # a deleted name stays gone
        view.obtain_file("offered", filename)


def test_redirect_mode_serves_a_saved_file_from_blob_storage(offered, redirect_downloads):
    feed, filename, data, _ = offered
    response = get_file(feed, "offered", filename)
    assert response.status_code == 302
    assert f"/{key(feed)}/offered/{sha256(data)}/{filename}?" in response.headers["Location"]
    assert list(rows(feed, "offered")) == [filename]


def test_files_not_upstream_are_404_and_upstream_failures_502(upstream):
    feed = new_feed([index(upstream.url)])
    filename, data = make_wheel("partial", "1.0")
    upstream.project("partial", [upstream.entry(filename, data)])
    assert get_file(feed, "partial", "partial-9.9-py3-none-any.whl").status_code == 404
    assert get_file(feed, "partial", filename + ".metadata").status_code == 404  # none offered
    fresh = new_feed([index(upstream.url)])
    upstream.answer("partial", Reply(status=503))
    assert get_file(fresh, "partial", filename).status_code == 502
    upstream.project("partial", [upstream.entry(filename, data)])
    del upstream.fake.routes[upstream.file_path(filename)]
    gone = get_file(new_feed([index(upstream.url)]), "partial", filename)
    assert gone.status_code == 502 and b"not there" in gone.get_body()


def test_hidden_upstream_files_cannot_be_downloaded_through_the_feed(upstream):
    filename, data = make_wheel("shadowed", "66.0")
    upstream.project("shadowed", [upstream.entry(filename, data)])
    feed = new_feed([index(upstream.url)])
    publish_wheel(feed, "shadowed", "1.0")
    assert get_file(feed, "shadowed", filename).status_code == 404
    claimed = new_feed([index(upstream.url)], claimed_patterns=["shadow*"])
    assert get_file(claimed, "shadowed", filename).status_code == 404
    assert upstream.file_requests(filename) == 0


def test_a_deleted_saved_file_does_not_come_back_from_the_upstream(upstream):
    filename, data = make_wheel("regretted", "1.0")
    upstream.project("regretted", [upstream.entry(filename, data)])
    feed = new_feed([index(upstream.url)])
    assert get_file(feed, "regretted", filename).status_code == 200
    deleted = call(file_item, "DELETE", "/", feed=feed, project="regretted", filename=filename)
    assert deleted.status_code == 200
    assert json_page(feed, "regretted")["files"] == []
    assert get_file(feed, "regretted", filename).status_code == 404


def test_publishing_over_a_saved_file_name_is_refused_and_saved_files_do_not_hide_upstream(upstream):
    one, one_bytes = make_wheel("mixed", "1.0")
    two, two_bytes = make_wheel("mixed", "2.0")
    upstream.project("mixed", [upstream.entry(one, one_bytes), upstream.entry(two, two_bytes)])
    feed = new_feed([index(upstream.url)])
    get_file(feed, "mixed", one)
    # Saving one version must not hide the others (only published files count as published).
    assert [f["filename"] for f in json_page(feed, "mixed")["files"]] == [one, two]
    other_name, other_bytes = make_wheel("mixed", "1.0", requires_python=">=3.9")
    assert other_name == one and other_bytes != one_bytes
    clash = publish(feed, one, other_bytes, "mixed", "1.0")
    assert clash.status_code == 400 and b"already exists" in clash.get_body()


def test_feed_upstreams_are_read_with_the_callers_rights():
    source = new_feed()  # private
    wheel, data = publish_wheel(source, "internal-lib", "1.0")
    downstream = new_feed([{"type": "feed", "feed": source}], visibility="organization")
    outsider = user()  # reads the organization feed, not the private one
    both = user(source, Role.READER)
    roles.grant(get_storage(), key(downstream), _user_of(both), Role.READER)

    assert _page_status(downstream, "internal-lib", outsider) == 404
    assert get_file(downstream, "internal-lib", wheel, token=outsider).status_code == 404

    doc = json.loads(
        call(
            project_detail,
            "GET",
            "/",
            token=both,
            headers={"Accept": "application/vnd.pypi.simple.v1+json"},
            feed=downstream,
            project="internal-lib",
        ).get_body()
    )
    assert [f["filename"] for f in doc["files"]] == [wheel]
    assert doc["files"][0]["core-metadata"]  # the source feed's metadata file is offered too

    response = get_file(downstream, "internal-lib", wheel, token=both)
    assert response.status_code == 200 and response.get_body() == data
    assert get_file(downstream, "internal-lib", wheel + ".metadata", token=both).status_code == 200
    # Not copied (the private source's file would become every organization member's): the outsider
    # still gets nothing.
    assert rows(downstream, "internal-lib") == {}
    assert get_file(downstream, "internal-lib", wheel, token=outsider).status_code == 404


def test_a_feed_upstreams_published_names_block_external_versions(upstream):
    source = new_feed(visibility="organization")
    ours, _ = publish_wheel(source, "contoso-core", "1.0")
    evil, evil_bytes = make_wheel("contoso-core", "9.9")
    upstream.project("contoso-core", [upstream.entry(evil, evil_bytes)])
    downstream = new_feed([{"type": "feed", "feed": source}, index(upstream.url)])
    assert [f["filename"] for f in json_page(downstream, "contoso-core")["files"]] == [ours]
    assert upstream.page_requests("contoso-core") == 0
    reason = json_of(call(package_upstreaming, "GET", "/", feed=downstream, project="contoso-core"))["reason"]
    assert f"upstream feed '{source}'" in reason


def _user_of(token: str) -> str:
    return tokens.verify(get_storage(), token).user


def _page_status(feed: str, project: str, token: str) -> int:
    return call(project_detail, "GET", "/", token=token, feed=feed, project=project).status_code


# What a caller who may not save is passed through is held in memory: FEEDHOUSE_STREAM_MAX_BYTES.


def _anonymous(feed: str, project: str, filename: str):
    return call(download, "GET", "/", token=None, feed=feed, project=project, filename=filename)


def _names_the_limit(response, size: str, limit: int) -> bool:
    text = response.get_body().decode()
    return size in text and f"{limit} bytes" in text and "FEEDHOUSE_STREAM_MAX_BYTES" in text


def test_a_file_listed_larger_than_the_limit_is_not_passed_through_nor_fetched(upstream, stream_limit):
    filename, data = make_wheel("bulky", "1.0")
    upstream.project("bulky", [upstream.entry(filename, data, size=len(data))])
    feed = new_feed([index(upstream.url)], visibility="public")
    limit = len(data) - 1
    stream_limit(limit)

    anonymous = _anonymous(feed, "bulky", filename)
    assert anonymous.status_code == 401  # credentials would help: pip and uv then send theirs
    assert anonymous.headers["WWW-Authenticate"].startswith("Basic")
    assert _names_the_limit(anonymous, f"is {len(data)} bytes", limit)
    assert "Sign in" in anonymous.get_body().decode()
    patch_feed(feed, {"readers_save": False})
    reader = get_file(feed, "bulky", filename, token=user(feed, Role.READER))
    assert reader.status_code == 403 and _names_the_limit(reader, f"is {len(data)} bytes", limit)
    assert "Ask a feed owner to save it" in reader.get_body().decode()
    assert upstream.file_requests(filename) == 0 and rows(feed, "bulky") == {}

    # A caller who may save gets it saved, and then everyone gets it from the feed (here by redirect).
    assert get_file(feed, "bulky", filename, token=user(feed, Role.COLLABORATOR)).status_code == 302
    assert list(rows(feed, "bulky")) == [filename]
    assert _anonymous(feed, "bulky", filename).status_code == 302
    stream_limit(len(data))
    assert _anonymous(feed, "bulky", filename).get_body() == data


@pytest.mark.parametrize("length_header", [True, False], ids=["content-length", "no-length"])
def test_a_file_of_unknown_size_is_refused_once_past_the_limit(upstream, stream_limit, length_header):
    filename, data = make_wheel("unsized", "1.0")
    upstream.project("unsized", [upstream.entry(filename, data)])  # no size listed
    if not length_header:
        upstream.fake.routes[upstream.file_path(filename)] = Reply(body=[data[:100], data[100:]])
    feed = new_feed([index(upstream.url)], visibility="public")
    stream_limit(len(data) - 1)
    response = _anonymous(feed, "unsized", filename)
    assert response.status_code == 401
    expected = f"is {len(data)} bytes" if length_header else f"is larger than {len(data) - 1} bytes"
    assert _names_the_limit(response, expected, len(data) - 1)
    stream_limit(len(data))
    assert _anonymous(feed, "unsized", filename).get_body() == data


def test_a_file_is_read_no_further_than_its_listed_size(upstream):
    filename, data = make_wheel("liar", "1.0")
    sent = []

    def endless():
        yield data
        for _ in range(1000):  # 1 GiB if all of it were read
            sent.append(1)
            yield b"x" * (1024 * 1024)

    upstream.project("liar", [upstream.entry(filename, data, size=len(data))])
    upstream.fake.routes[upstream.file_path(filename)] = Reply(body=endless())
    feed = new_feed([index(upstream.url)], visibility="public")
    response = _anonymous(feed, "liar", filename)
    assert response.status_code == 502
    assert f"larger than the {len(data)} bytes its upstream page lists" in response.get_body().decode()
    assert len(sent) < 100  # what socket buffers took, not the rest


def test_a_feed_upstreams_file_passed_through_is_redirected_past_the_limit(stream_limit):
    source = new_feed(visibility="organization")
    wheel, data = publish_wheel(source, "shared-lib", "1.0")
    downstream = new_feed([{"type": "feed", "feed": source}], visibility="organization", readers_save=False)
    reader = user()  # reads both by visibility; may not save
    stream_limit(len(data) - 1)
    response = get_file(downstream, "shared-lib", wheel, token=reader)
    assert response.status_code == 302 and response.headers["Cache-Control"] == "no-store"
    assert f"/{key(source)}/shared-lib/" in response.headers["Location"]  # the upstream feed's blob
    with urllib.request.urlopen(response.headers["Location"]) as blob:
        assert blob.read() == data
    assert rows(downstream, "shared-lib") == {}


def test_a_token_limited_to_other_feeds_never_saves_into_a_public_feed(upstream):
    """A read token for feed X reads a public feed Y as anyone does, so, like anyone, it gets Y's
    upstream files passed through and never makes Y store them (issue 10, item 9)."""
    filename, data = make_wheel("elsewhere", "1.0")
    upstream.project("elsewhere", [upstream.entry(filename, data, size=len(data))])
    public = new_feed([index(upstream.url)], visibility="public")
    other = new_feed()
    storage = get_storage()
    _, limited = tokens.create_token(
        storage,
        user="user-" + secrets.token_hex(4),
        name="ci",
        scope=Scope.READ,
        feeds=(feeds.get_feed(storage, other).key,),
    )
    response = get_file(public, "elsewhere", filename, token=limited)
    assert response.status_code == 200 and response.get_body() == data
    assert rows(public, "elsewhere") == {}
    assert not blobs(public, "elsewhere", data, filename)
    # A token for every feed does save, as readers_save is on.
    _, unlimited = tokens.create_token(
        storage, user="user-" + secrets.token_hex(4), name="ci", scope=Scope.READ
    )
    assert get_file(public, "elsewhere", filename, token=unlimited).status_code == 200
    assert list(rows(public, "elsewhere")) == [filename]


def test_dependency_confusion_protection_is_the_same_whoever_asks(upstream):
    """Issue 10, item 1: 'team' (organization) has upstreams [internal (private), an index]; internal
    publishes contoso-lib 1.0 and the index serves an attacker's 99.0. A reader of team who cannot
    read internal must not be shown 99.0 nor save it, or everyone installs it from then on."""
    internal = new_feed()  # private
    ours, ours_bytes = publish_wheel(internal, "contoso-lib", "1.0")
    evil, evil_bytes = make_wheel("contoso-lib", "99.0")
    upstream.project("contoso-lib", [upstream.entry(evil, evil_bytes, size=len(evil_bytes))])
    team = new_feed([{"type": "feed", "feed": internal}, index(upstream.url)], visibility="organization")
    team_only = user()  # reads team by its visibility (and readers_save is on), not internal

    page = call(project_detail, "GET", "/", token=team_only, feed=team, project="contoso-lib")
    assert page.status_code == 404, page.get_body()
    assert b"dependency-confusion" in page.get_body() and internal.encode() not in page.get_body()
    assert get_file(team, "contoso-lib", evil, token=team_only).status_code == 404
    assert get_file(team, "contoso-lib", ours, token=team_only).status_code == 404
    assert rows(team, "contoso-lib") == {}
    assert upstream.page_requests("contoso-lib") == 0 and upstream.file_requests(evil) == 0
    reason = call(package_upstreaming, "GET", "/", token=team_only, feed=team, project="contoso-lib")
    assert json_of(reason)["upstream_versions_visible"] is False

    insider = user(internal, Role.READER)  # reads internal, and team by visibility
    doc = json.loads(
        call(
            project_detail,
            "GET",
            "/",
            token=insider,
            headers={"Accept": "application/vnd.pypi.simple.v1+json"},
            feed=team,
            project="contoso-lib",
        ).get_body()
    )
    assert [f["filename"] for f in doc["files"]] == [ours]
    assert get_file(team, "contoso-lib", evil, token=insider).status_code == 404
    assert get_file(team, "contoso-lib", ours, token=insider).get_body() == ours_bytes
    assert upstream.file_requests(evil) == 0
    assert rows(team, "contoso-lib") == {}  # served from internal, never copied (item 5)


WIDENING = [
    ("private", "public"),
    ("private", "organization"),
    ("private", "private"),
    ("organization", "public"),
]


@pytest.mark.parametrize(("source", "downstream"), WIDENING, ids=[f"{s}-into-{d}" for s, d in WIDENING])
def test_a_file_of_an_upstream_feed_is_never_copied_where_more_callers_may_read_it(source, downstream):
    """Issue 10, item 5: a download through the downstream feed by someone who may read the source
    and save would copy the file where callers who may not read the source get it (anonymous ones,
    for a public feed). Such a file is served from the source feed instead, and only to its readers."""
    src = new_feed(visibility=source)
    wheel, data = publish_wheel(src, "confined", "1.0")
    dst = new_feed([{"type": "feed", "feed": src}], visibility=downstream)
    insider = user(src, Role.READER)
    roles.grant(get_storage(), key(dst), _user_of(insider), Role.COLLABORATOR)  # may save into dst
    for filename in (wheel, wheel + ".metadata", wheel):
        response = get_file(dst, "confined", filename, token=insider)
        assert response.status_code == 200, response.get_body()
        assert "private" in response.headers["Cache-Control"]
    assert response.get_body() == data
    assert rows(dst, "confined") == {}

    # Who reads the downstream feed and not the source: anonymous callers of a public feed, and
    # signed-in users without a role on a private source.
    outsiders: list[str | None] = [None] if downstream == "public" else []
    if source == "private":
        outsiders.append(user(dst, Role.READER))
    for token in outsiders:
        page = call(project_detail, "GET", "/", token=token, feed=dst, project="confined")
        assert page.status_code == 404 and wheel.encode() not in page.get_body()
        for filename in (wheel, wheel + ".metadata"):
            response = call(
                download, "GET", "/", token=token, feed=dst, project="confined", filename=filename
            )
            assert response.status_code == 404, (token, filename)


NARROWING = [
    ("public", "public"),
    ("public", "private"),
    ("organization", "organization"),
    ("organization", "private"),
]


@pytest.mark.parametrize(("source", "downstream"), NARROWING, ids=[f"{s}-into-{d}" for s, d in NARROWING])
def test_a_file_of_an_upstream_feed_is_copied_where_its_readers_could_read_it_anyway(source, downstream):
    src = new_feed(visibility=source)
    wheel, data = publish_wheel(src, "shared-widely", "1.0")
    dst = new_feed([{"type": "feed", "feed": src}], visibility=downstream)
    assert get_file(dst, "shared-widely", wheel, token=user(dst, Role.COLLABORATOR)).get_body() == data
    (row,) = rows(dst, "shared-widely").values()
    assert row["Origin"] == "upstream" and row["UpstreamLabel"] == f"feed '{src}'"


def test_metadata_that_is_not_the_wheels_own_refuses_the_save_and_the_pass_through(upstream):
    """Issue 10, item 11: the upstream's .metadata matches the hash on its page but says something
    else than the wheel's METADATA (here: no dependencies, so resolvers would skip one). Saving the
    wheel would store and serve that metadata for good; it is refused, and nothing is stored."""
    filename, data = make_wheel("two-faced", "1.0", requires=("evil-helper>=1",))
    lying = b"Metadata-Version: 2.1\nName: two-faced\nVersion: 1.0\n\n"
    entry = upstream.entry(filename, data, **{"core-metadata": upstream.metadata(filename, lying)})
    upstream.project("two-faced", [entry])
    feed = new_feed([index(upstream.url)], visibility="public")
    for token in (user(feed, Role.COLLABORATOR), None):  # one saves, the other is passed through
        response = call(download, "GET", "/", token=token, feed=feed, project="two-faced", filename=filename)
        assert response.status_code == 502, response.get_body()
        text = response.get_body().decode()
        assert "METADATA" in text and sha256(lying) in text, text
        assert rows(feed, "two-faced") == {}
        assert not blobs(feed, "two-faced", data, filename)
        assert not blobs(feed, "two-faced", data, filename, ".metadata")


# Pass-through downloads: held in memory once, read no further than needed (issue 10, item 7).


@pytest.fixture
def passed_through(upstream):
    """A public feed whose upstream lists a wheel with its size: (feed, filename, bytes)."""
    filename, data = make_wheel("passing", "1.0", extra=[("passing/blob.bin", secrets.token_bytes(300_000))])
    upstream.project("passing", [upstream.entry(filename, data, size=len(data))])
    upstream.fake.routes[upstream.file_path(filename)] = ranged(data)
    return new_feed([index(upstream.url)], visibility="public"), filename, data


@pytest.mark.parametrize(
    ("asked", "start", "end"), [("bytes=0-0", 0, 0), ("bytes=100-199", 100, 199), ("bytes=-22", None, None)]
)
def test_a_range_of_a_passed_through_file_is_asked_of_the_upstream_as_a_range(
    upstream, passed_through, asked, start, end
):
    feed, filename, data = passed_through
    if start is None:
        start, end = len(data) - 22, len(data) - 1
    response = call(
        download,
        "GET",
        "/",
        token=None,
        headers={"Range": asked},
        feed=feed,
        project="passing",
        filename=filename,
    )
    assert response.status_code == 206, response.get_body()
    assert response.get_body() == data[start : end + 1]
    assert response.headers["Content-Range"] == f"bytes {start}-{end}/{len(data)}"
    (request,) = upstream.fake.requests_to(upstream.file_path(filename))
    assert request.headers["range"] == f"bytes={start}-{end}"
    assert rows(feed, "passing") == {}


def test_a_range_is_read_no_further_than_its_end_from_an_upstream_that_ignores_ranges(upstream):
    filename, data = make_wheel("rangeless", "1.0")
    sent = []

    def endless():
        yield data
        for _ in range(64):
            sent.append(1)
            yield b"x" * (1024 * 1024)

    upstream.project("rangeless", [upstream.entry(filename, data, size=len(data))])
    upstream.fake.routes[upstream.file_path(filename)] = Reply(body=endless())
    feed = new_feed([index(upstream.url)], visibility="public")
    response = call(
        download,
        "GET",
        "/",
        token=None,
        headers={"Range": "bytes=10-19"},
        feed=feed,
        project="rangeless",
        filename=filename,
    )
    assert response.status_code == 206 and response.get_body() == data[10:20]
    assert len(sent) < 16  # what socket buffers took, not the rest


def test_head_and_revalidation_of_a_passed_through_file_do_not_fetch_it(upstream, passed_through):
    feed, filename, data = passed_through
    head = call(download, "HEAD", "/", token=None, feed=feed, project="passing", filename=filename)
    assert head.status_code == 200 and head.headers["Content-Length"] == str(len(data))
    etag = head.headers["ETag"]
    again = call(
        download,
        "GET",
        "/",
        token=None,
        headers={"If-None-Match": etag},
        feed=feed,
        project="passing",
        filename=filename,
    )
    assert again.status_code == 304
    assert upstream.file_requests(filename) == 0


def test_a_passed_through_file_is_held_in_memory_once(upstream):
    """The bytes are read into one buffer that becomes the response's body: no second copy (an
    earlier version built a bytearray and copied it into bytes, twice the file at the peak)."""
    import tracemalloc

    size = 8 * 1024 * 1024
    filename, data = make_wheel("weighty", "1.0", extra=[("weighty/blob.bin", secrets.token_bytes(size))])
    upstream.project("weighty", [upstream.entry(filename, data, size=len(data))])
    feed = new_feed([index(upstream.url)], visibility="public")
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        response = call(download, "GET", "/", token=None, feed=feed, project="weighty", filename=filename)
        _current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert response.status_code == 200 and response.get_body() == data
    assert peak < 1.3 * len(data), f"peak {peak / len(data):.2f} times the file"


def test_a_file_being_saved_is_read_no_further_than_its_listed_size(upstream):
    filename, data = make_wheel("liar-saved", "1.0")
    sent = []

    def endless():
        yield data
        for _ in range(64):
            sent.append(1)
            yield b"x" * (1024 * 1024)

    upstream.project("liar-saved", [upstream.entry(filename, data, size=len(data))])
    upstream.fake.routes[upstream.file_path(filename)] = Reply(body=endless())
    feed = new_feed([index(upstream.url)])
    response = get_file(feed, "liar-saved", filename)  # the admin saves
    assert response.status_code == 502
    assert f"larger than the {len(data)} bytes its upstream page lists" in response.get_body().decode()
    assert len(sent) < 16 and rows(feed, "liar-saved") == {}
