"""Page documents as an instance keeps them: how long a reader trusts the kept one, and that a slow
read never puts back an older document over one this instance wrote meanwhile."""

from __future__ import annotations

import threading

from shared import page_documents
from shared.storage import Storage
from tests.support.publish import publish_wheel
from tests.support.storage_requests import requests_made
from tests.support.stored import key_of


def test_a_reader_trusts_the_kept_document_only_as_long_as_it_asks(storage, feed_name):
    publish_wheel(feed_name, "kept", "1.0")
    key = key_of(feed_name)
    page_documents.read(storage, key, "kept")  # confirmed now
    snapshot, cost = requests_made(lambda: page_documents.read(storage, key, "kept", trust_for=60.0))
    assert cost == 0 and [f.filename for f in snapshot.document.files] == ["kept-1.0-py3-none-any.whl"]
    _snapshot, cost = requests_made(lambda: page_documents.read(storage, key, "kept"))
    assert cost == 1  # trust_for 0: a conditional read


def test_a_slow_read_does_not_put_back_an_older_document_over_one_written_meanwhile(
    storage, feed_name, monkeypatch
):
    """An instance reads a document (the whole of it: its kept copy is stale) while it also writes a
    newer one; the read, answered before the write but returned after it, must not replace it, or
    downloads here would trust the older document for memo.STALE_SECONDS."""
    publish_wheel(feed_name, "racing", "1.0")
    key = key_of(feed_name)
    page_documents.forget(key, "racing")  # the next read transfers the whole document
    answered, written = threading.Event(), threading.Event()
    real = Storage.read_blob_state

    def slow(self, name, **kwargs):
        state = real(self, name, **kwargs)
        if threading.current_thread().name == "slow reader":
            answered.set()
            assert written.wait(10)
        return state

    monkeypatch.setattr(Storage, "read_blob_state", slow)
    reader = threading.Thread(target=lambda: page_documents.read(storage, key, "racing"), name="slow reader")
    reader.start()
    assert answered.wait(10)
    publish_wheel(feed_name, "racing", "2.0")  # this instance writes the document
    written.set()
    reader.join(10)
    kept = page_documents.read(storage, key, "racing", trust_for=60.0)
    assert [f.version for f in kept.document.files] == ["1.0", "2.0"]
