import hashlib

import pytest

from shared.digests import BLAKE2B_256, HashMismatch, Promise, RunningHashes, checked

DATA = b"twelve bytes"


def promise(**fields) -> Promise:
    return Promise("'f.whl'", "its page lists", "it was refused", **fields)


def test_digests_and_size_of_what_passed():
    hashes = RunningHashes("md5", "sha256", BLAKE2B_256)
    assert b"".join(hashes.passing([DATA[:5], DATA[5:]])) == DATA
    assert hashes.size == len(DATA)
    assert hashes.hexdigest("sha256") == hashlib.sha256(DATA).hexdigest()
    assert hashes.hexdigest(BLAKE2B_256) == hashlib.blake2b(DATA, digest_size=32).hexdigest()
    assert hashes.hexdigest("md5") == hashlib.md5(DATA, usedforsecurity=False).hexdigest()
    hashes.check()  # nothing was promised


def test_a_promise_kept():
    sha256 = hashlib.sha256(DATA).hexdigest()
    assert checked(DATA, promise(size=len(DATA), digests={"sha256": sha256.upper()})).size == len(DATA)


def test_bytes_past_the_promised_size_are_refused_before_they_are_read_on():
    hashes = RunningHashes(promise=promise(size=5))
    chunks = hashes.passing([DATA[:5], DATA[5:], b"never read"])
    assert next(chunks) == DATA[:5]
    with pytest.raises(HashMismatch) as refused:
        next(chunks)
    assert refused.value.message == "'f.whl' is larger than the 5 bytes its page lists; it was refused."


def test_a_broken_promise_says_which():
    with pytest.raises(HashMismatch, match="is 12 bytes, not the 13 its page lists"):
        checked(DATA, promise(size=13))
    wrong = "00" * 32
    with pytest.raises(
        HashMismatch, match=f"does not match the sha256 its page lists \\(expected {wrong}, got"
    ):
        checked(DATA, promise(digests={"sha256": wrong}))
