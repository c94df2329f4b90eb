"""The blob primitives the upstream cache and saving rely on, against a real Azurite."""

from __future__ import annotations

import secrets

import pytest

import shared.storage
from shared.storage import UNCHANGED, RecordChanged, RecordExists
from tests.support.storage_requests import requests_made


@pytest.fixture
def one_byte_blocks(monkeypatch):
    """Every write of a BlockUpload staged at once, as a block of its own."""
    monkeypatch.setattr(shared.storage, "BLOCK_BYTES", 1)


def _name(prefix: str = "t") -> str:
    return f"{prefix}-{secrets.token_hex(6)}/blob.json"


def test_write_blob_create_only_then_if_match(storage):
    name = _name()
    assert storage.read_blob_state(name) is None
    assert storage.blob_info(name) is None
    etag = storage.write_blob(name, b"one", content_type="application/json", metadata={"k": "v"})
    with pytest.raises(RecordExists):
        storage.write_blob(name, b"again", content_type="application/json")
    state = storage.read_blob_state(name)
    assert (state.data, state.metadata, state.etag) == (b"one", {"k": "v"}, etag)

    new_etag = storage.write_blob(name, b"two", content_type="application/json", if_match=etag)
    assert new_etag != etag
    with pytest.raises(RecordChanged):
        storage.write_blob(name, b"three", content_type="application/json", if_match=etag)
    assert storage.read_blob_state(name).data == b"two"


def test_a_conditional_read_of_an_unchanged_blob_is_one_request_that_transfers_nothing(storage):
    name = _name()
    etag = storage.write_blob(name, b"page", content_type="application/json")
    unchanged, requests = requests_made(lambda: storage.read_blob_state(name, unless_etag=etag))
    assert (unchanged, requests) == (UNCHANGED, 1)

    new_etag = storage.write_blob(name, b"page two", content_type="application/json", if_match=etag)
    state = storage.read_blob_state(name, unless_etag=etag)
    assert (state.data, state.etag) == (b"page two", new_etag)
    storage.delete_blob(name)
    assert storage.read_blob_state(name, unless_etag=new_etag) is None


def test_set_blob_metadata_is_etag_guarded(storage):
    name = _name()
    etag = storage.write_blob(name, b"x", content_type="application/json")
    claimed = storage.set_blob_metadata(name, {"claim": "1"}, if_match=etag)
    assert claimed != etag
    with pytest.raises(RecordChanged):
        storage.set_blob_metadata(name, {"claim": "2"}, if_match=etag)
    info = storage.blob_info(name)
    assert (info.size, info.metadata, info.etag) == (1, {"claim": "1"}, claimed)
    with pytest.raises(RecordChanged):
        storage.set_blob_metadata(_name(), {"claim": "3"}, if_match=etag)


def test_block_upload_is_invisible_until_committed(storage, one_byte_blocks):
    name = _name()
    upload = storage.start_block_upload(name)
    upload.write(b"hello ")
    upload.write(b"world")
    assert storage.blob_info(name) is None
    assert upload.commit(content_type="application/zip", metadata={"sha256": "x"})
    assert storage.read_blob(name) == b"hello world"
    assert storage.blob_info(name).metadata == {"sha256": "x"}


def test_block_upload_never_overwrites(storage, one_byte_blocks):
    name = _name()
    first, second = storage.start_block_upload(name), storage.start_block_upload(name)
    first.write(b"first")
    second.write(b"second")
    assert first.commit(content_type="application/zip")
    assert not second.commit(content_type="application/zip")
    assert storage.read_blob(name) == b"first"


def test_abandoned_block_upload_leaves_no_blob(storage, one_byte_blocks):
    name = _name()
    storage.start_block_upload(name).write(b"never committed")
    assert storage.blob_info(name) is None
    assert storage.read_blob_state(name) is None


def test_empty_block_upload_creates_an_empty_blob(storage):
    name = _name()
    assert storage.start_block_upload(name).commit(content_type="application/zip")
    assert storage.read_blob(name) == b""


def test_blob_etags_lists_names_and_etags_under_a_prefix_in_one_request(storage):
    prefix = f"list-{secrets.token_hex(6)}/"
    written = {
        f"{prefix}{name}": storage.write_blob(f"{prefix}{name}", b"{}", content_type="application/json")
        for name in ("a.json", "b/c.json", "d e+f.json")
    }
    storage.write_blob(f"{prefix[:-1]}-beside/x.json", b"{}", content_type="application/json")
    etags, cost = requests_made(lambda: storage.blob_etags(prefix, limit=3))
    assert (etags, cost) == (written, 1)  # ETags quoted, as write_blob and reads spell them
    changed = storage.write_blob(
        f"{prefix}a.json", b"[]", content_type="application/json", if_match=written[f"{prefix}a.json"]
    )
    assert storage.blob_etags(prefix, limit=3)[f"{prefix}a.json"] == changed
    assert storage.blob_etags(prefix, limit=2) is None  # more than the limit: not listed at all
    assert storage.blob_etags(f"{prefix}none/", limit=2) == {}
