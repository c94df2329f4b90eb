"""The Feedhouse Functions app: one FunctionApp, one Blueprint per HTTP surface (the web UI's too), and one
for timers."""

import azure.functions as func

from functions import (
    client,
    feeds_api,
    files,
    health,
    maintenance,
    packages_api,
    pypi_json,
    retention_api,
    simple,
    tokens_api,
    trusted_publishing,
    upload,
    web,
)

# Feedhouse authenticates callers itself (tokens as HTTP Basic passwords), so no function keys.
app = func.FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS)

for blueprint in (
    health.bp,
    feeds_api.bp,
    tokens_api.bp,
    trusted_publishing.bp,
    packages_api.bp,
    retention_api.bp,
    simple.bp,
    upload.bp,
    files.bp,
    pypi_json.bp,
    client.bp,
    web.bp,
    maintenance.bp,
):
    app.register_functions(blueprint)
