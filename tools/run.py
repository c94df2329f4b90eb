"""``make run``: the app on http://127.0.0.1:7071 with in-memory Azurite, ready for pip, uv and twine.

Set FEEDHOUSE_STORAGE_CONNECTION_STRING to use other storage, FEEDHOUSE_ADMIN_TOKEN to pick the
admin token and PORT to move the port. Ctrl-C stops everything.
"""

from __future__ import annotations

import logging
import os
import secrets
import shlex
import signal
import sys
import threading
from pathlib import Path
from urllib.parse import quote

ROOT = Path(__file__).resolve().parent.parent


def new_admin_token() -> str:
    return "fh_" + secrets.token_urlsafe(32)


def instructions(base_url: str, token: str) -> str:
    """Copy-paste commands for a newcomer, with the token written out so they work as pasted."""
    netloc = base_url.split("://", 1)[1]
    index = f"http://__token__:{quote(token, safe='')}@{netloc}/team/simple/"
    feed = '{"name":"team","visibility":"private"}'
    return "\n".join(
        [
            f"Feedhouse is running at {base_url}",
            f"Admin token: {token}",
            "",
            "Create a feed:",
            f"  curl -u {shlex.quote('admin:' + token)} -H 'Content-Type: application/json'"
            f" -d {shlex.quote(feed)} {base_url}/api/feeds",
            "Upload to it:",
            f"  .venv/bin/twine upload --repository-url {base_url}/team/upload/"
            f" -u __token__ -p {shlex.quote(token)} dist/*",
            "Install from it:",
            f"  .venv/bin/pip install --index-url {shlex.quote(index)} <package>",
            "",
            "Ctrl-C stops the server and Azurite.",
        ]
    )


def main() -> int:
    from tools.azurite import start_azurite
    from tools.functions_host import serve

    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)
    # The storage SDKs log every request and response header at INFO; the access log is enough.
    logging.getLogger("azure").setLevel(logging.WARNING)
    # SIGTERM (e.g. from a process manager) stops us the same clean way as Ctrl-C.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    port = int(os.environ.get("PORT") or 7071)
    emulator = None
    host = None
    try:
        if not os.environ.get("FEEDHOUSE_STORAGE_CONNECTION_STRING", "").strip():
            emulator = start_azurite(in_memory=True)
            os.environ["FEEDHOUSE_STORAGE_CONNECTION_STRING"] = emulator.connection_string
        token = os.environ.get("FEEDHOUSE_ADMIN_TOKEN", "").strip()
        if not token:
            token = os.environ["FEEDHOUSE_ADMIN_TOKEN"] = new_admin_token()
        # Imported only now so the settings above are in place, as app settings are in Azure.
        if str(ROOT) not in sys.path:
            sys.path.append(str(ROOT))
        from function_app import app

        host = serve(app, root=ROOT, host="127.0.0.1", port=port, access_log=True)
        print(instructions(host.url, token), flush=True)
        threading.Event().wait()
    except KeyboardInterrupt:
        print("Stopping.", file=sys.stderr)
    finally:
        if host is not None:
            host.shutdown()
        if emulator is not None:
            emulator.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
