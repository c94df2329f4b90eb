"""The templates: one Jinja2 environment, autoescaping everything, made on first use.

Jinja2 is imported then, not when the app starts (the cold start of a pip request does not pay for
it). Templates are in shared/web/templates/, static files in shared/web/static/; a static file's URL
carries a hash of its bytes, so it can be cached for good and still change with a deployment.
"""

from __future__ import annotations

import functools
import hashlib
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from shared.packages import parse_time
from shared.version import VERSION

HERE = Path(__file__).resolve().parent
TEMPLATES = HERE / "templates"
STATIC = HERE / "static"
STATIC_TYPES = {
    ".css": "text/css; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".svg": "image/svg+xml",
}


@functools.cache
def static_file(name: str) -> tuple[bytes, str, str] | None:
    """A static file's bytes, content type and a short hash of its bytes; None for any other name."""
    path = STATIC / name
    content_type = STATIC_TYPES.get(path.suffix)
    if content_type is None or "/" in name or name.startswith(".") or not path.is_file():
        return None
    data = path.read_bytes()
    return data, content_type, hashlib.sha256(data).hexdigest()[:16]


def static_url(name: str) -> str:
    found = static_file(name)
    if found is None:
        raise ValueError(f"no static file {name!r}")
    return f"/-/static/{name}?v={found[2]}"


def filesize(size: int | None) -> str:
    if size is None:
        return ""
    value = float(size)
    for unit in ("bytes", "KB", "MB", "GB"):
        if value < 1000 or unit == "GB":
            return f"{size} bytes" if unit == "bytes" else f"{value:.1f} {unit}"
        value /= 1000
    return f"{size} bytes"


def moment(value: str | None) -> str:
    """A stored time as people read it: 2025-05-01 12:34 UTC."""
    if not value:
        return ""
    try:
        return parse_time(value).astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
    except ValueError:
        return value


def since(value: str | None, now: datetime | None = None) -> str:
    """How long ago a stored time was: "3 days ago"."""
    if not value:
        return "never"
    try:
        then = parse_time(value)
    except ValueError:
        return value
    seconds = ((now or datetime.now(UTC)) - then).total_seconds()
    if seconds < 0:
        return moment(value)
    for unit, length in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= length:
            count = int(seconds // length)
            return f"{count} {unit}{'s' if count != 1 else ''} ago"
    return "just now"


@functools.cache
def environment() -> Any:
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        # Every template is HTML: everything a template shows is escaped unless it is Markup.
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(filesize=filesize, moment=moment, since=since)
    env.globals.update(static_url=static_url, version=VERSION)
    return env


def render(template: str, context: dict[str, Any]) -> str:
    return environment().get_template(template).render(context)
