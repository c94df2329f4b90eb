"""A page rendered once and sent many times: its bytes as sent, identity and gzip, each with its ETag.

A page's ETag is made from its bytes (shared/http_cache.py), and its gzip form is compressed with a
fixed mtime, so both are the same on every instance that renders the same content. Rendering,
hashing and compressing a 2,000-file page takes longer than sending it: pages kept between
requests (shared/feed_index.py) keep a ``Rendered``, and a request only picks one of its forms.
"""

from __future__ import annotations

import gzip
from dataclasses import dataclass

from shared.http_cache import body_etag
from shared.negotiation import GZIP

# Below this, gzip's header costs more than it saves.
_GZIP_MIN_BYTES = 200


@dataclass(frozen=True)
class Representation:
    body: bytes
    etag: str
    encoding: str | None  # GZIP, or None for the page's own bytes


@dataclass(frozen=True)
class Rendered:
    identity: Representation
    gzipped: Representation | None  # None for a page too small to be worth compressing

    @classmethod
    def of(cls, text: str) -> Rendered:
        raw = text.encode("utf-8")
        gzipped = None
        if len(raw) >= _GZIP_MIN_BYTES:
            # mtime=0 keeps the bytes, and so the representation, the same on every instance.
            compressed = gzip.compress(raw, compresslevel=6, mtime=0)
            gzipped = Representation(compressed, body_etag(raw, encoding=GZIP), GZIP)
        return cls(Representation(raw, body_etag(raw), None), gzipped)

    def choose(self, *, gzip_accepted: bool) -> Representation:
        return self.gzipped if gzip_accepted and self.gzipped is not None else self.identity

    @property
    def size(self) -> int:
        """The bytes it keeps in memory."""
        return len(self.identity.body) + (len(self.gzipped.body) if self.gzipped is not None else 0)
