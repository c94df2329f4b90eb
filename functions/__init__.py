"""HTTP handlers: one Blueprint per surface. Each parses the request, calls ``shared`` and shapes the
response; the rules themselves live in ``shared``."""
