"""``/-/client/``: the `feedhouse` client, served by every deployment to anyone, so a new user installs
it from the deployment's own URL without a checkout or credentials:

- ``/-/client/feedhouse-<version>-py3-none-any.whl``: the wheel, built from clients/feedhouse and shipped
  in the app package (tools/package.py puts it in ``wheelhouse/``); immutable, as its name carries the
  version. ``pipx install <that URL>`` works.
- ``/-/client/simple/`` and ``/-/client/simple/feedhouse/``: a PEP 503 index of that one wheel, the
  stable URL (``uv tool install --index <deployment>/-/client/simple/ feedhouse``); cached briefly, as
  it changes with each deployment.
- ``/-/client/``: a page that shows both lines.
- ``/-/client/config``: what the client needs to sign in through the deployment's identity provider
  (`feedhouse login --device-code`): ``{"version", "signin": {"issuer", "client_id", "scopes"}}``, or
  ``"signin": null`` where tokens are the only way in. Public: it names no secret, and the client asks
  before it has any credential.

One catch-all route: ``-`` is a reserved feed name (shared/names.py), so no feed route reaches here.
"""

from __future__ import annotations

import hashlib
import html
from email.utils import formatdate
from functools import cache
from pathlib import Path

import azure.functions as func

from functions.http import base_url, json_response, text_errors
from functions.responses import file_response
from shared import settings
from shared.errors import NotFound
from shared.http_cache import file_etag
from shared.version import VERSION

WHEELHOUSE = Path(__file__).resolve().parents[1] / "wheelhouse"
WHEEL = f"feedhouse-{VERSION}-py3-none-any.whl"
PAGE_CACHE_CONTROL = "max-age=300, public"

bp = func.Blueprint()


@cache
def _wheel(path: Path, mtime_ns: int) -> tuple[bytes, str]:
    data = path.read_bytes()
    return data, hashlib.sha256(data).hexdigest()


def wheel() -> tuple[bytes, str, float]:
    """The wheel's bytes, sha256 and modification time (read once per build of the file)."""
    path = WHEELHOUSE / WHEEL
    try:
        stat = path.stat()
    except FileNotFoundError:
        raise NotFound(
            f"This deployment was packaged without the feedhouse client ({WHEEL}): "
            "build the app package with tools/package.py, which puts it in."
        ) from None
    data, sha256 = _wheel(path, stat.st_mtime_ns)
    return data, sha256, stat.st_mtime


def _page(body: str, content_type: str = "text/html; charset=utf-8") -> func.HttpResponse:
    return func.HttpResponse(
        body, status_code=200, headers={"Content-Type": content_type, "Cache-Control": PAGE_CACHE_CONTROL}
    )


def install_lines(base: str) -> list[str]:
    return [
        f"uv tool install --index {base}/-/client/simple/ feedhouse",
        f"pipx install {base}/-/client/{WHEEL}",
    ]


def _landing(req: func.HttpRequest) -> func.HttpResponse:
    base = base_url(req)
    wheel()  # a deployment without the wheel says so here too
    commands = "\n".join(f"<pre>{html.escape(line)}</pre>" for line in install_lines(base))
    body = (
        '<!DOCTYPE html>\n<html><head><meta charset="utf-8">'
        f"<title>Feedhouse {VERSION}: the client</title></head><body>\n"
        f"<h1>Feedhouse {VERSION}</h1>\n<p>Install the <code>feedhouse</code> client, with uv or pipx:</p>\n"
        f"{commands}\n<p>Then:</p>\n"
        f"<pre>feedhouse login {html.escape(base)}\nfeedhouse connect &lt;feed&gt;</pre>\n"
        "</body></html>\n"
    )
    return _page(body)


def _config() -> func.HttpResponse:
    config = settings.load()
    signin = None
    if config.oidc_issuer and config.oidc_client_id and config.oidc_scopes:
        signin = {
            "issuer": config.oidc_issuer,
            "client_id": config.oidc_client_id,
            "scopes": list(config.oidc_scopes),
        }
    return json_response(
        {"version": VERSION, "signin": signin}, headers={"Cache-Control": PAGE_CACHE_CONTROL}
    )


@bp.route(route="-/client/{*path}", methods=["GET", "HEAD"])
@text_errors
def client(req: func.HttpRequest) -> func.HttpResponse:
    path = req.route_params.get("path") or ""
    parts = [p for p in path.split("/") if p]
    if not parts:
        return _landing(req)
    if parts == ["simple"]:
        return _page('<!DOCTYPE html>\n<html><body>\n<a href="feedhouse/">feedhouse</a>\n</body></html>\n')
    if parts == ["simple", "feedhouse"]:
        _, sha256, _ = wheel()
        link = f'<a href="../../{WHEEL}#sha256={sha256}" data-requires-python="&gt;=3.9">{WHEEL}</a>'
        return _page(f"<!DOCTYPE html>\n<html><body>\n{link}\n</body></html>\n")
    if parts == ["config"]:
        return _config()
    if parts == [WHEEL]:
        data, sha256, mtime = wheel()
        return file_response(
            req,
            size=len(data),
            etag=file_etag(sha256),
            last_modified=formatdate(mtime, usegmt=True),
            content_type="application/octet-stream",
            public=True,
            read=lambda offset, length: data if offset is None else data[offset : offset + length],
        )
    raise NotFound(f"Nothing here: the client is at /-/client/{WHEEL}, its index at /-/client/simple/.")
