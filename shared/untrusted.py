"""Numbers and versions read from text Feedhouse does not control: URLs, headers, upload forms, the
files inside archives, upstream pages.

Python's int() refuses text of more than 4,300 digits with a plain ValueError (a guard against
quadratic-time conversion), and ``packaging.version.Version`` lets that ValueError through instead of
raising InvalidVersion. Parsing untrusted text through here turns such input into "not a number" or
"not a version", so it is answered like any other bad value rather than with a 500.
"""

from __future__ import annotations

from packaging.version import InvalidVersion, Version

# A signed 64-bit integer (Table Storage's Int64) has 19 digits; 18 always fit. No size, position or
# count Feedhouse reads comes near that.
MAX_DIGITS = 18


def version(text: str) -> Version:
    """``Version(text)``; InvalidVersion for every text that is not a version, however long."""
    try:
        return Version(text)
    except InvalidVersion:
        raise
    except ValueError:
        # The int-conversion limit: a release segment of more than 4,300 digits.
        raise InvalidVersion(f"Invalid version: a number in {text[:40]!r}... is too long") from None


def version_order(text: str) -> tuple[int, Version | str]:
    """A sort key for version strings: versions in PEP 440 order, then what is not a version, by text."""
    try:
        return (0, version(text))
    except InvalidVersion:
        return (1, text)


def whole_number(text: str | None, *, max_digits: int = MAX_DIGITS) -> int | None:
    """The number ``text`` spells in 1 to ``max_digits`` ASCII digits, else None.

    ``str.isdigit`` alone is not enough: it accepts digits that int() refuses (``²``) and any length.
    """
    if text is None or not 0 < len(text) <= max_digits or not (text.isascii() and text.isdigit()):
        return None
    return int(text)
