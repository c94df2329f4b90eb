"""Saving upstream files into a feed's storage: checked against the upstream page, or not stored."""

from __future__ import annotations

import hashlib
import secrets

import pytest

from shared.digests import HashMismatch
from shared.upstream.client import ResponseTooLarge, UpstreamNotFound
from shared.upstream.config import BasicCredential
from shared.upstream.page_parser import UpstreamFile
from shared.upstream.saving import (
    InvalidUpstreamFile,
    MetadataMismatch,
    UnverifiableUpstreamFile,
    save_upstream_file,
)
from tests.support.dists import make_wheel
from tests.support.upstream_server import Reply


def feed() -> str:
    return "save-" + secrets.token_hex(5)


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def nothing_stored(storage, feed_key: str, project: str, *digests: str, filename: str) -> bool:
    return all(storage.blob_info(f"{feed_key}/{project}/{d}/{filename}") is None for d in digests)


def test_saves_a_real_wheel_from_pypiserver(storage, pypiserver, client):
    name = "saved-" + secrets.token_hex(4)
    filename, wheel = make_wheel(name, "1.0", requires_python=">=3.9")
    pypiserver.add(filename, wheel)
    page = client.fetch_project_page(pypiserver.index_url, name)
    (entry,) = page.files
    key = feed()

    saved = save_upstream_file(storage, client, feed_key=key, entry=entry)
    assert saved.blob == f"{key}/{name}/{sha256(wheel)}/{filename}"
    assert storage.read_blob(saved.blob) == wheel
    assert (saved.project, saved.version, saved.filetype, saved.size) == (
        name,
        "1.0",
        "bdist_wheel",
        len(wheel),
    )
    assert saved.sha256 == sha256(wheel)
    assert saved.blake2_256 == hashlib.blake2b(wheel, digest_size=32).hexdigest()
    assert saved.created
    assert saved.metadata_blob is None  # pypiserver offers no .metadata
    assert saved.source_url == entry.url
    assert storage.blob_info(saved.blob).metadata["origin"] == "upstream"

    again = save_upstream_file(storage, client, feed_key=key, entry=entry)
    assert not again.created
    assert again.blob == saved.blob


def entry_for(fake_index, filename: str, data: bytes, **fields) -> UpstreamFile:
    fake_index.routes[f"/f/{filename}"] = Reply(body=data)
    fields.setdefault("hashes", {"sha256": sha256(data)})
    return UpstreamFile(filename=filename, url=f"{fake_index.url}/f/{filename}", version="1.0", **fields)


def test_saves_the_core_metadata_beside_the_file(storage, fake_index, client):
    filename, wheel = make_wheel("demo", "1.0")
    metadata = b"Metadata-Version: 2.1\nName: demo\nVersion: 1.0\n\n"
    fake_index.routes[f"/f/{filename}.metadata"] = Reply(body=metadata)
    entry = entry_for(
        fake_index, filename, wheel, core_metadata={"sha256": sha256(metadata)}, size=len(wheel)
    )
    saved = save_upstream_file(storage, client, feed_key=feed(), entry=entry)
    assert saved.metadata_blob == f"{saved.blob}.metadata"
    assert storage.read_blob(saved.metadata_blob) == metadata
    assert saved.metadata_sha256 == sha256(metadata)


def test_metadata_offered_without_a_hash_is_saved_and_a_missing_one_skipped(storage, fake_index, client):
    metadata = "Metadata-Version: 2.1\nName: demo\nVersion: 1.0\nSummary: hashless\n\n"
    filename, wheel = make_wheel("demo", "1.0", metadata=metadata)
    fake_index.routes[f"/f/{filename}.metadata"] = Reply(body=metadata.encode())
    entry = entry_for(fake_index, filename, wheel, core_metadata=True)
    saved = save_upstream_file(storage, client, feed_key=feed(), entry=entry)
    assert storage.read_blob(saved.metadata_blob) == metadata.encode()

    other, wheel2 = make_wheel("demo", "2.0")
    entry2 = entry_for(fake_index, other, wheel2, core_metadata=True)  # .metadata answers 404
    assert save_upstream_file(storage, client, feed_key=feed(), entry=entry2).metadata_blob is None


def test_a_hash_mismatch_is_refused_and_nothing_is_stored(storage, fake_index, client):
    filename, wheel = make_wheel("demo", "1.0")
    tampered = wheel + b"\0"
    key = feed()
    entry = entry_for(fake_index, filename, wheel)
    fake_index.routes[f"/f/{filename}"] = Reply(body=tampered)
    with pytest.raises(HashMismatch, match="does not match the sha256") as caught:
        save_upstream_file(storage, client, feed_key=key, entry=entry)
    assert caught.value.status == 502
    assert sha256(tampered) in caught.value.message
    assert nothing_stored(storage, key, "demo", sha256(wheel), sha256(tampered), filename=filename)


def test_every_listed_hash_must_match(storage, fake_index, client):
    filename, wheel = make_wheel("demo", "1.0")
    key = feed()
    entry = entry_for(fake_index, filename, wheel, hashes={"sha256": sha256(wheel), "sha512": "0" * 128})
    with pytest.raises(HashMismatch, match="sha512"):
        save_upstream_file(storage, client, feed_key=key, entry=entry)
    assert nothing_stored(storage, key, "demo", sha256(wheel), filename=filename)


def test_a_size_mismatch_is_refused(storage, fake_index, client):
    filename, wheel = make_wheel("demo", "1.0")
    key = feed()
    entry = entry_for(fake_index, filename, wheel, size=len(wheel) + 1)
    with pytest.raises(HashMismatch, match="bytes, not the"):
        save_upstream_file(storage, client, feed_key=key, entry=entry)
    assert nothing_stored(storage, key, "demo", sha256(wheel), filename=filename)


def test_a_metadata_hash_mismatch_refuses_the_whole_file(storage, fake_index, client):
    filename, wheel = make_wheel("demo", "1.0")
    fake_index.routes[f"/f/{filename}.metadata"] = Reply(body=b"Name: evil\n")
    key = feed()
    entry = entry_for(fake_index, filename, wheel, core_metadata={"sha256": "ab" * 32})
    with pytest.raises(HashMismatch, match="core metadata"):
        save_upstream_file(storage, client, feed_key=key, entry=entry)
    assert nothing_stored(storage, key, "demo", sha256(wheel), filename=filename)
    assert storage.blob_info(f"{key}/demo/{sha256(wheel)}/{filename}.metadata") is None


def test_metadata_that_is_not_the_files_own_refuses_the_whole_file(storage, fake_index, client):
    filename, wheel = make_wheel("demo", "1.0", requires=("helper>=1",))
    other = b"Metadata-Version: 2.1\nName: demo\nVersion: 1.0\n\n"  # as listed, but not the wheel's
    fake_index.routes[f"/f/{filename}.metadata"] = Reply(body=other)
    key = feed()
    entry = entry_for(fake_index, filename, wheel, core_metadata={"sha256": sha256(other)})
    with pytest.raises(MetadataMismatch, match="is not the METADATA inside the file") as caught:
        save_upstream_file(storage, client, feed_key=key, entry=entry)
    assert caught.value.status == 502 and sha256(other) in caught.value.message
    assert nothing_stored(storage, key, "demo", sha256(wheel), filename=filename)
    assert storage.blob_info(f"{key}/demo/{sha256(wheel)}/{filename}.metadata") is None

    # A file whose metadata cannot be read out of it cannot be checked: refused likewise.
    broken = b"not a zip at all"
    fake_index.routes[f"/f/{filename}"] = Reply(body=broken)
    entry = entry_for(fake_index, filename, broken, core_metadata={"sha256": sha256(other)})
    with pytest.raises(InvalidUpstreamFile, match="cannot be checked against the core metadata"):
        save_upstream_file(storage, client, feed_key=key, entry=entry)
    assert nothing_stored(storage, key, "demo", sha256(broken), filename=filename)


def test_files_without_a_sha256_are_not_saved(storage, fake_index, client):
    filename, wheel = make_wheel("demo", "1.0")
    entry = entry_for(fake_index, filename, wheel, hashes={"md5": hashlib.md5(wheel).hexdigest()})  # noqa: S324
    with pytest.raises(UnverifiableUpstreamFile, match="no sha256"):
        save_upstream_file(storage, client, feed_key=feed(), entry=entry)
    assert fake_index.requests == []


def test_oversized_files_are_refused_before_and_while_downloading(storage, fake_index, client):
    filename, wheel = make_wheel("demo", "1.0")
    key = feed()
    declared = entry_for(fake_index, filename, wheel, size=len(wheel))
    with pytest.raises(UnverifiableUpstreamFile, match="at most 10"):
        save_upstream_file(storage, client, feed_key=key, entry=declared, max_bytes=10)
    assert fake_index.requests == []
    undeclared = entry_for(fake_index, filename, wheel)
    with pytest.raises(ResponseTooLarge):
        save_upstream_file(storage, client, feed_key=key, entry=undeclared, max_bytes=10)
    assert nothing_stored(storage, key, "demo", sha256(wheel), filename=filename)


def test_large_files_stream_in_blocks(storage, fake_index, client, monkeypatch):
    import shared.storage

    monkeypatch.setattr(shared.storage, "BLOCK_BYTES", 64 * 1024)
    data = secrets.token_bytes(300 * 1024)
    entry = entry_for(fake_index, "demo-1.0.tar.gz", data)
    saved = save_upstream_file(storage, client, feed_key=feed(), entry=entry)
    assert storage.read_blob(saved.blob) == data
    assert saved.filetype == "sdist"


def test_a_file_gone_upstream_is_a_named_error(storage, fake_index, client):
    entry = UpstreamFile(
        "demo-1.0.tar.gz", f"{fake_index.url}/f/demo-1.0.tar.gz", "1.0", {"sha256": "ab" * 32}
    )
    with pytest.raises(UpstreamNotFound):
        save_upstream_file(storage, client, feed_key=feed(), entry=entry)


def test_entries_that_are_not_distributions_are_refused(storage, client):
    entry = UpstreamFile("demo-1.0.exe", "http://mirror.test/demo-1.0.exe", "1.0", {"sha256": "ab" * 32})
    with pytest.raises(InvalidUpstreamFile):
        save_upstream_file(storage, client, feed_key=feed(), entry=entry)


def test_credentials_reach_the_upstream_host_only(storage, fake_index, client):
    filename, wheel = make_wheel("demo", "1.0")
    entry = entry_for(fake_index, filename, wheel)
    credential = BasicCredential(("http", "127.0.0.1", fake_index.port), "user", "pw")
    save_upstream_file(storage, client, feed_key=feed(), entry=entry, credential=credential)
    assert fake_index.requests[-1].headers["authorization"] == credential.authorization()
