"""Upstream sources of a feed: PyPI, other simple indexes and other feeds, seen through the feed's URL.

From configuration to serving, each module one concern:

- ``config``: what an owner may configure (the ordered upstreams, claimed name patterns,
  ``readers_save``, the cooldown), how it is checked and stored, credentials, cycles of feeds;
- ``url_safety``: which URLs and addresses may be fetched at all;
- ``page_parser``: an upstream's simple page (PEP 503 HTML, PEP 691 JSON) parsed into plain data;
- ``client``: fetching pages and files over HTTP(S) within limits;
- ``page_cache``: upstream pages cached in blob storage, refreshed by one request at a time;
- ``confusion``: the dependency-confusion rules (when upstream versions of a name may show);
- ``cooldown``: which external versions are too young to show yet, and the exceptions;
- ``saving``: storing a checked upstream file (the blob half; the record is the feed's);
- ``sources``: all of them joined to a feed's records: merged project pages, and upstream files
  saved, copied from another feed or passed through.
"""
