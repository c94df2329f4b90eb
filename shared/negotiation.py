"""Content negotiation: which representation of a simple page a client gets, and whether it is gzipped.

PEP 691 serves JSON and HTML on the same URLs, chosen by ``Accept`` (or by a ``?format=`` parameter,
which takes precedence and is read like an ``Accept`` value). Offers are tried in Warehouse's order, so
``*/*`` and a missing ``Accept`` get ``text/html``; a request that accepts none of them gets ``None``,
which the HTTP layer answers with 406 as the spec recommends. Both functions are pure.
"""

from __future__ import annotations

from dataclasses import dataclass

SIMPLE_JSON = "application/vnd.pypi.simple.v1+json"
SIMPLE_HTML = "application/vnd.pypi.simple.v1+html"
TEXT_HTML = "text/html"
# Server preference, for ties: HTML first, as PyPI answers */* (browsers, curl, old tools).
SIMPLE_OFFERS: tuple[str, ...] = (TEXT_HTML, SIMPLE_HTML, SIMPLE_JSON)
# "latest" MUST be answered with the concrete current version (PEP 691).
_ALIASES = {
    "application/vnd.pypi.simple.latest+json": SIMPLE_JSON,
    "application/vnd.pypi.simple.latest+html": SIMPLE_HTML,
}

# A provenance object (PEP 740), in Warehouse's order of preference.
INTEGRITY_JSON = "application/vnd.pypi.integrity.v1+json"
INTEGRITY_OFFERS: tuple[str, ...] = (INTEGRITY_JSON, "application/json")

GZIP = "gzip"


@dataclass(frozen=True)
class MediaRange:
    type: str
    subtype: str
    q: float

    def matches(self, media_type: str) -> bool:
        offered_type, _, offered_subtype = media_type.partition("/")
        return (self.type in ("*", offered_type)) and (self.subtype in ("*", offered_subtype))

    @property
    def specificity(self) -> int:
        return (self.type != "*") + (self.subtype != "*")


def _quality(params: list[str]) -> float | None:
    """The q parameter (default 1); None when it is not a valid qvalue."""
    for param in params:
        key, _, value = param.partition("=")
        if key.strip().lower() == "q":
            try:
                q = float(value.strip())
            except ValueError:
                return None
            return q if 0.0 <= q <= 1.0 else None
    return 1.0


def parse_accept(header: str | None) -> list[MediaRange]:
    """The media ranges of an ``Accept`` value; malformed entries are skipped."""
    ranges = []
    for entry in (header or "").split(","):
        media_type, *params = entry.split(";")
        media_type = media_type.strip().lower()
        media_type = _ALIASES.get(media_type, media_type)
        main, slash, sub = media_type.partition("/")
        q = _quality(params)
        if not slash or not main or not sub or q is None or (main == "*" and sub != "*"):
            continue
        ranges.append(MediaRange(main, sub, q))
    return ranges


def _offer_quality(ranges: list[MediaRange], offer: str) -> float:
    # The most specific range that matches decides (RFC 9110 §12.5.1): "text/html;q=0, */*" refuses HTML.
    matching = [r for r in ranges if r.matches(offer)]
    if not matching:
        return 0.0
    best = max(r.specificity for r in matching)
    return max(r.q for r in matching if r.specificity == best)


def _choose(ranges: list[MediaRange], offers: tuple[str, ...]) -> str | None:
    best, best_q = None, 0.0
    for offer in offers:
        q = _offer_quality(ranges, offer)
        if q > best_q:
            best, best_q = offer, q
    return best


def choose_media_type(accept: str | None, offers: tuple[str, ...] = SIMPLE_OFFERS) -> str | None:
    """The offer the client prefers (ties go to the earlier offer), or None if it accepts none.

    A missing, empty or wholly unreadable ``Accept`` counts as ``*/*``.
    """
    return _choose(parse_accept(accept) or [MediaRange("*", "*", 1.0)], offers)


def choose_simple_format(accept: str | None, format_param: str | None) -> str | None:
    """The simple-page representation for a request: ``?format=`` wins over ``Accept`` (PEP 691)."""
    if format_param is not None and format_param.strip():
        # An explicit format that names nothing readable is not a wildcard.
        return _choose(parse_accept(format_param), SIMPLE_OFFERS)
    return choose_media_type(accept)


def accepts_gzip(accept_encoding: str | None) -> bool:
    """Whether ``Accept-Encoding`` allows gzip (explicitly or through ``*``) with a non-zero q."""
    explicit: float | None = None
    wildcard: float | None = None
    for entry in (accept_encoding or "").split(","):
        coding, *params = entry.split(";")
        coding = coding.strip().lower()
        q = _quality(params)
        if q is None:
            continue
        if coding in (GZIP, "x-gzip"):
            explicit = q if explicit is None else max(explicit, q)
        elif coding == "*":
            wildcard = q
    q = explicit if explicit is not None else wildcard
    return q is not None and q > 0


def opened_in_browser(
    sec_fetch_mode: str | None, sec_fetch_dest: str | None, format_param: str | None
) -> bool:
    """Whether a person opened a simple page in a browser tab, to be shown the UI's page instead.

    Browsers (Chrome, Edge, Firefox, Safari 16.4+) send ``Sec-Fetch-Mode: navigate`` and
    ``Sec-Fetch-Dest: document`` on a top-level navigation; no installer or publisher sends Sec-Fetch
    headers at all, so pip, uv, poetry, pdm and hatch always get the page itself. The page is not
    changed instead (a link to the UI in it): uv takes every ``<a>`` of a simple page for a file and
    fails the whole page on one it cannot read (astral-sh/uv#8172), hatch takes every anchor's text
    for a file name. ``?format=`` asks for the page itself, from a browser too.
    """
    return (
        format_param is None
        and (sec_fetch_mode or "").strip().lower() == "navigate"
        and (sec_fetch_dest or "").strip().lower() == "document"
    )
