"""``make run``: the app on http://127.0.0.1:7071 with Azurite, ready for pip, uv and twine.

Feeds, packages and the admin token are kept in ``.feedhouse/`` of the directory it runs in (the
checkout, under make), so a restart keeps them; ``--fresh`` (``make run FRESH=1``) deletes them first.
Set FEEDHOUSE_STORAGE_CONNECTION_STRING to use other storage, FEEDHOUSE_ADMIN_TOKEN to pick the
admin token and PORT to move the port. Ctrl-C (SIGINT) or SIGTERM stops everything; if Azurite dies,
it says so and exits 1.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import logging
import os
import secrets
import shlex
import shutil
import signal
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import NoReturn
from urllib.parse import quote

ROOT = Path(__file__).resolve().parent.parent
# Relative on purpose: make runs us in the checkout, and tests run us in a directory of their own.
DATA = Path(".feedhouse")
TOKEN_FILE = DATA / "admin-token"
AZURITE_DATA = DATA / "azurite"
# The names of the example packages (examples/, built by `make examples`) that the commands install.
EXAMPLE_APP = "feedhouse-example-app"


class RunError(Exception):
    """Why ``make run`` cannot go on, said to the user without a traceback."""


def new_admin_token() -> str:
    return "fh_" + secrets.token_urlsafe(32)


def instructions(base_url: str, token: str) -> str:
    """Copy-paste commands for a newcomer, with the token written out so they work as pasted.

    The README's first-hour block runs the same commands (a test holds them together)."""
    netloc = base_url.split("://", 1)[1]
    index = shlex.quote(f"http://__token__:{quote(token, safe='')}@{netloc}/team/simple/")
    upload = f"{base_url}/team/upload/"
    password = shlex.quote(token)
    feed = '{"name":"team","visibility":"private"}'
    return "\n".join(
        [
            "Create a feed:",
            f"  curl -u {shlex.quote('admin:' + token)} -H 'Content-Type: application/json'"
            f" -d {shlex.quote(feed)} {base_url}/api/feeds",
            "Build the two example packages into examples/dist/ (or bring your own dist/):",
            "  make examples",
            "Upload them with twine or uv (uploading an identical file again is fine):",
            f"  .venv/bin/twine upload --repository-url {upload} -u __token__ -p {password} examples/dist/*",
            f"  .venv/bin/uv publish --publish-url {upload} --username __token__ --password {password}"
            " examples/dist/*",
            "Install from the feed into a fresh venv (not Feedhouse's own .venv), with pip or uv:",
            "  .venv/bin/python -m venv --clear /tmp/try-pip",
            f"  /tmp/try-pip/bin/pip install --index-url {index} {EXAMPLE_APP}",
            "  .venv/bin/uv venv --clear /tmp/try-uv",
            f"  .venv/bin/uv pip install --python /tmp/try-uv --index-url {index} {EXAMPLE_APP}",
        ]
    )


@contextlib.contextmanager
def _sole_user(directory: Path) -> Iterator[None]:
    """Hold a lock on ``directory`` while we run: two Azurites on one data folder corrupt it."""
    with (directory / "lock").open("w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise RunError(
                f"another `make run` is using {directory}/ (its feeds and token): stop it first"
            ) from None
        yield  # the lock goes with the file's closing


def _admin_token() -> tuple[str, str]:
    """The admin token and where it came from: FEEDHOUSE_ADMIN_TOKEN, else the one kept from an
    earlier run, else a new one, kept (readable by the user only) for the next run."""
    token = os.environ.get("FEEDHOUSE_ADMIN_TOKEN", "").strip()
    if token:
        return token, "from FEEDHOUSE_ADMIN_TOKEN"
    with contextlib.suppress(FileNotFoundError):
        token = TOKEN_FILE.read_text().strip()
    if token:
        return token, f"kept in {TOKEN_FILE}"
    token = new_admin_token()
    with os.fdopen(os.open(TOKEN_FILE, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as file:
        file.write(token + "\n")
    return token, f"new, kept in {TOKEN_FILE}"


def _serve(port: int, fresh: bool) -> NoReturn:
    from tools.azurite import AzuriteError, start_azurite
    from tools.functions_host import serve

    with contextlib.ExitStack() as stack:
        DATA.mkdir(mode=0o700, exist_ok=True)
        stack.enter_context(_sole_user(DATA))
        if fresh:
            shutil.rmtree(AZURITE_DATA, ignore_errors=True)
            TOKEN_FILE.unlink(missing_ok=True)
        emulator = None
        if os.environ.get("FEEDHOUSE_STORAGE_CONNECTION_STRING", "").strip():
            storage = "Storage: FEEDHOUSE_STORAGE_CONNECTION_STRING"
        else:
            try:
                emulator = stack.enter_context(start_azurite(location=AZURITE_DATA))
            except AzuriteError as error:
                raise RunError(str(error)) from None
            os.environ["FEEDHOUSE_STORAGE_CONNECTION_STRING"] = emulator.connection_string
            storage = f"Data: kept in {AZURITE_DATA}/ across restarts (`make run FRESH=1` starts empty)"
        token, origin = _admin_token()
        os.environ["FEEDHOUSE_ADMIN_TOKEN"] = token
        # Imported only now so the settings above are in place, as app settings are in Azure.
        if str(ROOT) not in sys.path:
            sys.path.append(str(ROOT))
        from function_app import app

        # A port in use: werkzeug says so and exits 1 (SystemExit), and the stack stops Azurite.
        host = stack.enter_context(serve(app, root=ROOT, host="127.0.0.1", port=port, access_log=True))
        print(
            f"Feedhouse is running at {host.url}\nAdmin token: {token} ({origin})\n{storage}\n\n"
            f"In a browser: open {host.url}/ and sign in with the admin token.\n\n"
            f"{instructions(host.url, token)}\n\n"
            f"Or with the feedhouse client (see {host.url}/-/client/):\n"
            f"  uv tool install --index {host.url}/-/client/simple/ feedhouse\n"
            f"  feedhouse login {host.url} --token-stdin < {TOKEN_FILE}\n\n"
            "Ctrl-C stops the server and Azurite.",
            flush=True,
        )
        if emulator is None:
            threading.Event().wait()  # until a signal
        # Without storage every request fails; better to stop than to serve errors.
        status = emulator.process.wait()
        output = emulator.output().strip() or "(none)"
        raise RunError(
            f"\n\n*** Azurite, the storage emulator, exited (status {status}) while Feedhouse was"
            f" running, so Feedhouse stops too. ***\nAzurite's output:\n{output}\n"
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.run", description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--fresh", action="store_true", help=f"delete {DATA}/ (local feeds, packages, admin token) first"
    )
    args = parser.parse_args(argv)

    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)
    # The storage SDKs log every request and response header at INFO; the access log is enough.
    logging.getLogger("azure").setLevel(logging.WARNING)
    # Ctrl-C and SIGTERM both stop us cleanly. Set explicitly: a shell starts background jobs (`&`,
    # nohup, CI runners) with SIGINT ignored, and Python then leaves it ignored.
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, signal.default_int_handler)
    port = int(os.environ.get("PORT") or 7071)
    try:
        _serve(port, args.fresh)
    except KeyboardInterrupt:
        print("Stopping.", file=sys.stderr)
        return 0
    except RunError as error:
        print(f"make run: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
