"""Development tools: a local Functions host, Azurite, ``make run``. The app must never import these."""
