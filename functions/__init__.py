"""HTTP handlers: one Blueprint per surface. Each parses the request, calls ``shared`` and shapes the
response; the rules themselves live in ``shared``. A feed's projects and files are read only through
its ``shared.feed_index.FeedIndex`` (``FeedAccess.index``)."""
