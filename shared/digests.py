"""Bytes hashed as they pass, and checked against what their source promised: size and digests.

Every path that stores or passes on bytes Feedhouse did not make reads them through one
``RunningHashes``: saving an upstream file, copying one from an upstream feed, passing one through,
their core metadata files, and uploads (which promise nothing; their digests are compared with the
form's by shared.upload). devpi's ``RunningHashes`` and ``Digests`` (devpi_server/filestore.py) are
the model. A promise broken is one error, HashMismatch, whose message says which promise: a file
longer than its promised size is refused as soon as it is, not after it has all arrived.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field

from shared.errors import BadGateway

# The digest Feedhouse records besides sha256 (as PyPI does): BLAKE2b with a 256-bit digest, which
# hashlib.new cannot name.
BLAKE2B_256 = "blake2b_256"


class HashMismatch(BadGateway):
    """The bytes are not what their source promised (its page, its record): refused, nothing stored."""

    code = "upstream_hash_mismatch"


@dataclass(frozen=True)
class Promise:
    """What a source said about bytes before sending them, and how an error names them.

    A broken promise reads "<subject> does not match the sha256 <promised_by> (expected ..., got
    ...); <outcome>." ``digests`` are hex digests by hashlib name.
    """

    subject: str
    promised_by: str
    outcome: str
    size: int | None = None
    digests: Mapping[str, str] = field(default_factory=dict)


def _hasher(name: str) -> hashlib._Hash:
    if name == BLAKE2B_256:
        return hashlib.blake2b(digest_size=32)
    if name == "md5":
        return hashlib.md5(usedforsecurity=False)
    return hashlib.new(name)


class RunningHashes:
    """The digests ``names`` (and those ``promise`` lists) of bytes as they are read, and their size."""

    def __init__(self, *names: str, promise: Promise | None = None) -> None:
        self.promise = promise
        wanted = [*names, *(promise.digests if promise is not None else ())]
        self._hashers = {name: _hasher(name) for name in dict.fromkeys(wanted)}
        self.size = 0

    def update(self, chunk: bytes) -> None:
        """Hash ``chunk``; HashMismatch as soon as the bytes outgrow the promised size."""
        self.size += len(chunk)
        promise = self.promise
        if promise is not None and promise.size is not None and self.size > promise.size:
            raise HashMismatch(
                f"{promise.subject} is larger than the {promise.size} bytes {promise.promised_by}; "
                f"{promise.outcome}."
            )
        for hasher in self._hashers.values():
            hasher.update(chunk)

    def passing(self, chunks: Iterable[bytes]) -> Iterator[bytes]:
        """``chunks``, each hashed (and checked against the promised size) before it is handed on."""
        for chunk in chunks:
            self.update(chunk)
            yield chunk

    def hexdigest(self, name: str) -> str:
        return self._hashers[name].hexdigest()

    def check(self) -> None:
        """Once every byte is read: HashMismatch unless the size and every digest are as promised."""
        promise = self.promise
        if promise is None:
            return
        if promise.size is not None and self.size != promise.size:
            raise HashMismatch(
                f"{promise.subject} is {self.size} bytes, not the {promise.size} {promise.promised_by}; "
                f"{promise.outcome}."
            )
        for name, expected in promise.digests.items():
            actual = self.hexdigest(name)
            if not hmac.compare_digest(actual, expected.lower()):
                raise HashMismatch(
                    f"{promise.subject} does not match the {name} {promise.promised_by} (expected "
                    f"{expected}, got {actual}); {promise.outcome}."
                )


def checked(data: bytes, promise: Promise, *names: str) -> RunningHashes:
    """Bytes already held whole, checked against ``promise``; their hashes (also ``names``)."""
    hashes = RunningHashes(*names, promise=promise)
    hashes.update(data)
    hashes.check()
    return hashes
