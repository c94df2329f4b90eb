"""HTTP Range requests on files (RFC 9110 §14): which bytes a ``Range`` header asks for.

Only single byte ranges are served: ``bytes=a-b``, ``bytes=a-`` and suffix ranges ``bytes=-n`` (what
uv, poetry and pip's resume send). A header this module cannot honour (another unit, several ranges, a
malformed value, a position of more digits than any file size has) is ignored and the whole file is
sent, as the RFC allows; a well-formed range that lies wholly past the end raises UnsatisfiableRange,
which is answered with 416.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from shared.untrusted import whole_number

# ASCII digits only: RFC 9110's DIGIT, not every character Python's \d matches.
_SPEC = re.compile(r"^([0-9]*)-([0-9]*)$")


@dataclass(frozen=True)
class ByteRange:
    start: int
    end: int  # inclusive

    @property
    def length(self) -> int:
        return self.end - self.start + 1

    def content_range(self, size: int) -> str:
        return f"bytes {self.start}-{self.end}/{size}"


class UnsatisfiableRange(Exception):
    def __init__(self, size: int) -> None:
        super().__init__(f"bytes */{size}")
        self.size = size

    @property
    def content_range(self) -> str:
        return f"bytes */{self.size}"


def parse_range(header: str | None, size: int) -> ByteRange | None:
    """The byte range to send for ``header`` on a ``size``-byte file; None means the whole file."""
    if not header:
        return None
    unit, sep, specs = header.partition("=")
    if not sep or unit.strip().lower() != "bytes":
        return None
    parts = [p.strip() for p in specs.split(",")]
    if len(parts) != 1:
        return None
    match = _SPEC.match(parts[0])
    if match is None:
        return None
    first_text, last_text = match.groups()
    if not first_text and not last_text:
        return None
    first, last = whole_number(first_text), whole_number(last_text)
    if (first_text and first is None) or (last_text and last is None):
        return None  # a position of more digits than any file size has
    if first is None:  # suffix range: the last n bytes
        if last == 0 or size == 0:
            raise UnsatisfiableRange(size)
        return ByteRange(max(0, size - last), size - 1)
    if last is not None and last < first:
        return None  # invalid, so ignored (RFC 9110 §14.1.1)
    if first >= size:
        raise UnsatisfiableRange(size)
    end = min(last, size - 1) if last is not None else size - 1
    return ByteRange(first, end)
