"""`feedhouse import`: from pypiserver, from another Feedhouse feed and from a directory; every file
checked against its source's hash, upload times and yanks kept, what is there skipped, and an
interrupted import finished by running it again."""

from __future__ import annotations

import hashlib
import json

import pytest
from feedhouse_cli import errors, importer

from tests.clients.test_cli_admin import upload
from tests.conftest import ADMIN_TOKEN
from tests.e2e.api import call, create_feed, unique
from tests.support.dists import make_sdist, make_wheel
from tests.support.upstream_server import FakeIndex, Reply, json_reply


@pytest.fixture
def logged_in(server, cli):
    cli.ok("login", server.url, "--token-stdin", stdin=ADMIN_TOKEN + "\n")
    return cli


def held(server, feed: str, project: str) -> dict[str, dict]:
    """The feed's files of ``project``: file name -> the package API's entry, with its version's yank."""
    status, body = call(server, "GET", f"/api/feeds/{feed}/packages/{project}")
    if status == 404:
        return {}
    return {
        f["filename"]: {**f, "yanked_reason": v["yanked_reason"]}
        for v in body["versions"]
        for f in v["files"]
    }


def test_from_pypiserver_interrupted_and_resumed(server, logged_in, pypiserver, monkeypatch):
    cli = logged_in
    feed = create_feed(server)
    projects = [unique("fh-imp"), unique("fh-imp")]
    sources = {}
    for name in projects:
        for filename, data in (make_wheel(name, "1.0"), make_sdist(name, "1.0"), make_wheel(name, "2.0")):
            pypiserver.add(filename, data)
            sources[filename] = data
    args = ("import", pypiserver.index_url, "--feed", feed, *(f"--project={p}" for p in projects), "--json")

    # Ctrl-C after the second upload.
    original = importer.Target.upload
    uploaded = []

    def interrupted(self, fields, path):
        if len(uploaded) == 2:
            raise KeyboardInterrupt
        uploaded.append(path.name)
        return original(self, fields, path)

    monkeypatch.setattr(importer.Target, "upload", interrupted)
    assert cli(*args).code == 130
    monkeypatch.setattr(importer.Target, "upload", original)

    resumed = json.loads(cli.ok(*args).out)
    assert sorted(resumed["skipped"]) == sorted(uploaded)
    assert sorted(resumed["copied"] + resumed["skipped"]) == sorted(sources)
    assert resumed["refused"] == []
    for name in projects:
        for filename, entry in held(server, feed, name).items():
            assert entry["hashes"]["sha256"] == hashlib.sha256(sources[filename]).hexdigest()
    again = json.loads(cli.ok(*args).out)
    assert again["copied"] == [] and len(again["skipped"]) == len(sources)
    assert "copied 0, skipped 6" in cli.ok(*args[:-1]).out


def test_from_another_feed_keeps_upload_times_and_yanks(server, logged_in):
    cli = logged_in
    source, target = create_feed(server), create_feed(server)
    name = unique("fh-move")
    for version in ("1.0", "2.0"):
        upload(server, source, *make_wheel(name, version), name, version)
    call(server, "POST", f"/api/feeds/{source}/packages/{name}/versions/2.0/yank", {"reason": "broken build"})

    # The source is private: the keyring backend answers for this deployment, as login stored it.
    result = cli.ok("import", f"{server.url}/{source}/simple/", "--feed", target)
    assert "copied 2, skipped 0 (already in" in result.out and "yanked 1" in result.out
    before, after = held(server, source, name), held(server, target, name)
    assert sorted(after) == sorted(before)
    for filename, entry in after.items():
        assert entry["upload_time"] == before[filename]["upload_time"]
        assert entry["hashes"] == before[filename]["hashes"]
    assert {f: e["yanked_reason"] for f, e in after.items()} == {
        f: e["yanked_reason"] for f, e in before.items()
    }


def test_from_a_directory(server, logged_in, tmp_path):
    cli = logged_in
    feed = create_feed(server)
    name = unique("fh-dir")
    (tmp_path / "dist" / "old").mkdir(parents=True)
    for filename, data in (make_wheel(name, "1.0"), make_sdist(name, "1.0")):
        (tmp_path / "dist" / "old" / filename).write_bytes(data)
    (tmp_path / "dist" / "notes.txt").write_text("not a distribution")
    (tmp_path / "dist" / "Bad Name-1.0.tar.gz").write_bytes(b"x")
    result = cli("import", str(tmp_path / "dist"), "--feed", feed, "--json")
    assert result.code == errors.FAILED
    outcome = json.loads(result.out)
    assert len(outcome["copied"]) == 2
    assert [r["file"] for r in outcome["refused"]] == ["Bad Name-1.0.tar.gz"]
    assert len(held(server, feed, name)) == 2


def test_a_file_whose_bytes_are_not_what_the_source_lists_is_refused(server, logged_in):
    cli = logged_in
    feed = create_feed(server)
    name = unique("fh-bad")
    wheel, data = make_wheel(name, "1.0")
    sdist, sdist_data = make_sdist(name, "1.0")
    with FakeIndex() as index:
        index.routes[f"/simple/{name}/"] = json_reply(
            {
                "meta": {"api-version": "1.1"},
                "name": name,
                "files": [
                    {"filename": wheel, "url": f"/files/{wheel}", "hashes": {"sha256": "0" * 64}},
                    {"filename": sdist, "url": f"/files/{sdist}", "hashes": {}},
                ],
            }
        )
        index.routes[f"/files/{wheel}"] = Reply(body=data)
        index.routes[f"/files/{sdist}"] = Reply(body=sdist_data)
        result = cli("import", f"{index.url}/simple/", "--feed", feed, "--project", name)
    assert result.code == errors.FAILED
    said = " ".join(result.out.split())
    assert f"{wheel} its hash does not match the source's" in said
    assert f"{sdist} the source lists no hash to check it against" in said
    assert held(server, feed, name) == {}


def test_bad_sources_and_targets(server, logged_in, tmp_path):
    cli = logged_in
    feed = create_feed(server)
    assert cli("import", str(tmp_path), "--feed", "no-such-" + feed).code == errors.NOT_FOUND
    assert cli("import", "ftp://example.com/simple/", "--feed", feed).code == errors.USAGE
    assert cli("import", "https://u:secret@example.com/simple/", "--feed", feed).code == errors.USAGE
    with FakeIndex() as index:
        index.routes["/simple/"] = Reply(401, b"who are you?", {"Content-Type": "text/plain"})
        denied = cli("import", f"{index.url}/simple/", "--feed", feed)
    assert denied.code == errors.AUTH and "needs credentials" in denied.err
