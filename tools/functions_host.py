"""A local host for the app's HTTP triggers, because Azure Functions Core Tools can't be installed here.

It routes the way the Functions host does (ASP.NET route templates, host.json ``routePrefix``, routes
tried in the order of their functions' names) and converts requests and responses the way the host and
the Python worker do (a chunked request body reaches the function empty, one over
FUNCTIONS_REQUEST_BODY_SIZE_LIMIT not at all), so code that works here should work in Azure. It is for
development and tests only: nothing under ``functions/`` or ``shared/`` may import it. Auth levels and
function keys are not emulated; Feedhouse does its own auth.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import io
import json
import logging
import os
import re
import socket
import ssl
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, NamedTuple
from urllib.parse import parse_qsl, unquote, urlsplit

import azure.functions as func
from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server
from werkzeug.wrappers import Request, Response

log = logging.getLogger(__name__)

_LITERAL, _PARAMETER, _OPTIONAL, _CATCH_ALL = range(4)  # segment kinds

_INT32 = (-(2**31), 2**31 - 1)
_INT64 = (-(2**63), 2**63 - 1)
_INTEGER = re.compile(r"[+-]?\d+")
_NUMBER = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")
_GUID = re.compile(
    r"[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}"
    r"|\{[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\}"
    r"|\([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\)",
    re.IGNORECASE,
)


def _integer_in(low: int, high: int) -> Callable[[str], bool]:
    return lambda v: bool(_INTEGER.fullmatch(v)) and low <= int(v) <= high


def _constraint(text: str) -> Callable[[str], bool]:
    name, _, args = text.partition("(")
    name = name.strip().lower()
    args = args[:-1] if args.endswith(")") else args
    if name == "regex":
        # ASP.NET's regex constraint is unanchored and case-insensitive; templates anchor with ^...$.
        pattern = re.compile(args, re.IGNORECASE)
        return lambda v: pattern.search(v) is not None
    simple: dict[str, Callable[[str], bool]] = {
        "int": _integer_in(*_INT32),
        "long": _integer_in(*_INT64),
        "alpha": lambda v: re.fullmatch(r"[A-Za-z]+", v) is not None,
        "bool": lambda v: v.lower() in ("true", "false"),
        "guid": lambda v: _GUID.fullmatch(v) is not None,
        "decimal": lambda v: _NUMBER.fullmatch(v) is not None,
        "double": lambda v: _NUMBER.fullmatch(v) is not None,
        "float": lambda v: _NUMBER.fullmatch(v) is not None,
    }
    if name in simple and not args:
        return simple[name]
    numbers = [int(a) for a in args.split(",")] if args else []
    if name == "min" and len(numbers) == 1:
        return _integer_in(numbers[0], _INT64[1])
    if name == "max" and len(numbers) == 1:
        return _integer_in(_INT64[0], numbers[0])
    if name == "range" and len(numbers) == 2:
        return _integer_in(*numbers)
    if name == "minlength" and len(numbers) == 1:
        return lambda v: len(v) >= numbers[0]
    if name == "maxlength" and len(numbers) == 1:
        return lambda v: len(v) <= numbers[0]
    if name == "length" and len(numbers) in (1, 2):
        low, high = numbers[0], numbers[-1]
        return lambda v: low <= len(v) <= high
    raise ValueError(f"unsupported route constraint {text!r}")


def _split_top_level(text: str, separators: str) -> list[str]:
    """Split at separators outside parentheses, so ``regex(a:b)`` stays whole."""
    parts, depth, start = [], 0, 0
    for i, ch in enumerate(text):
        depth += (ch == "(") - (ch == ")")
        if depth == 0 and ch in separators:
            parts.append(text[start:i])
            start = i + 1
    parts.append(text[start:])
    return parts


@dataclass(frozen=True)
class _Segment:
    kind: int
    text: str = ""  # the literal, lower-cased; or the parameter name
    checks: tuple[Callable[[str], bool], ...] = ()
    default: str | None = None

    def accepts(self, value: str) -> bool:
        return all(check(value) for check in self.checks)


def _parse_segment(segment: str, template: str) -> _Segment:
    is_parameter = segment.startswith("{") and segment.endswith("}") and not segment.startswith("{{")
    inner = segment[1:-1] if is_parameter else segment
    # Braces are escaped by doubling them, as in ASP.NET (``regex(^\\d{{3}}$)``); any other brace
    # means a complex segment such as ``{name}.{ext}``.
    if re.search(r"[{}]", inner.replace("{{", "").replace("}}", "")):
        raise ValueError(f"route {template!r}: complex segment {segment!r} is not supported")
    inner = inner.replace("{{", "{").replace("}}", "}")
    if not is_parameter:
        if not inner:
            raise ValueError(f"route {template!r} has an empty segment")
        return _Segment(_LITERAL, inner.lower())
    if inner.startswith("*"):
        return _Segment(_CATCH_ALL, inner.lstrip("*"))
    optional = inner.endswith("?")
    inner = inner.removesuffix("?")
    default = None
    if len(with_default := _split_top_level(inner, "=")) > 1:
        inner, default = with_default[0], "=".join(with_default[1:])
    name, *constraints = _split_top_level(inner, ":")
    if not re.fullmatch(r"[A-Za-z_]\w*", name):
        raise ValueError(f"route {template!r}: bad parameter name {name!r}")
    checks = tuple(_constraint(c) for c in constraints)
    kind = _OPTIONAL if optional or default is not None else _PARAMETER
    return _Segment(kind, name, checks, default)


def _may_share_a_value(a: _Segment | None, b: _Segment | None) -> bool:
    if a is None or b is None:  # a catch-all takes anything
        return True
    if a.kind == _LITERAL and b.kind == _LITERAL:
        return a.text == b.text
    if a.kind == _LITERAL or b.kind == _LITERAL:
        literal, parameter = (a, b) if a.kind == _LITERAL else (b, a)
        return parameter.accepts(literal.text)
    return True


class RouteTemplate:
    """An ASP.NET route template as the Functions host matches it.

    Literals match case-insensitively, one trailing slash is ignored, parameter values are
    percent-decoded, and ``{*rest}`` takes the remainder of the path, slashes included. Complex
    segments (``{name}.{ext}``) are rejected rather than matched wrongly.
    """

    def __init__(self, template: str) -> None:
        self.template = template
        stripped = template.strip("/")
        self.segments = [_parse_segment(s, template) for s in stripped.split("/")] if stripped else []
        for i, seg in enumerate(self.segments):
            rest = self.segments[i + 1 :]
            if seg.kind == _CATCH_ALL and rest:
                raise ValueError(f"route {template!r}: a catch-all must be the last segment")
            if seg.kind == _OPTIONAL and any(s.kind not in (_OPTIONAL, _CATCH_ALL) for s in rest):
                raise ValueError(f"route {template!r}: only optional segments may follow {{{seg.text}?}}")

    def overlaps(self, other: RouteTemplate) -> bool:
        """Whether some path could match both templates: for checking that an app's routes don't
        compete, since which one the host picks depends only on function names.

        Conservative: two parameters are taken to overlap whatever their constraints.
        """
        longest = max(len(self.segments), len(other.segments))
        # A path one segment longer than both templates stands for all longer ones: only catch-alls
        # take those.
        return any(
            self._takes(count)
            and other._takes(count)
            and all(_may_share_a_value(self._segment_at(i), other._segment_at(i)) for i in range(count))
            for count in range(longest + 2)
        )

    def _takes(self, count: int) -> bool:
        """Whether paths of ``count`` segments can match, by their number alone."""
        required = sum(s.kind in (_LITERAL, _PARAMETER) for s in self.segments)
        catch_all = any(s.kind == _CATCH_ALL for s in self.segments)
        return required <= count and (catch_all or count <= len(self.segments))

    def _segment_at(self, index: int) -> _Segment | None:
        """The segment that takes the path's ``index``-th segment; None where a catch-all does."""
        if index < len(self.segments) and self.segments[index].kind != _CATCH_ALL:
            return self.segments[index]
        return None

    def match(self, raw_path: str) -> dict[str, str] | None:
        """Route values for a raw (still percent-encoded) request path, or None if it doesn't match."""
        path = raw_path.removeprefix("/")
        parts = path.removesuffix("/").split("/") if path.removesuffix("/") else []
        values: dict[str, str] = {}
        for i, seg in enumerate(self.segments):
            if seg.kind == _CATCH_ALL:
                # Taken from the untrimmed path so a trailing slash stays part of the value.
                rest = unquote("/".join(path.split("/")[i:]))
                if rest:
                    values[seg.text] = rest
                return values
            if i >= len(parts):
                if seg.kind != _OPTIONAL:
                    return None
                if seg.default is not None:
                    values[seg.text] = seg.default
                continue
            value = unquote(parts[i])
            if seg.kind == _LITERAL:
                if value.lower() != seg.text:
                    return None
            elif not value or not seg.accepts(value):
                return None
            else:
                values[seg.text] = value
        return values if len(parts) <= len(self.segments) else None


@dataclass(frozen=True)
class _Route:
    template: RouteTemplate
    methods: frozenset[str] | None
    function_name: str
    arg_name: str
    user_function: Callable[..., Any]


# get_functions() may be called only once per FunctionApp (a second call raises ValueError), but
# tests build several hosts for one app; the app is kept in the value so its id can't be reused.
_FUNCTIONS: dict[int, tuple[func.FunctionApp, list[Any]]] = {}
_FUNCTIONS_LOCK = threading.Lock()


def _functions_of(app: func.FunctionApp) -> list[Any]:
    with _FUNCTIONS_LOCK:
        if id(app) not in _FUNCTIONS:
            _FUNCTIONS[id(app)] = (app, app.get_functions())
        return _FUNCTIONS[id(app)][1]


def _route_prefix(root: Path) -> str:
    config = json.loads((root / "host.json").read_text(encoding="utf-8"))
    prefix = config.get("extensions", {}).get("http", {}).get("routePrefix", "api")
    return str(prefix).strip("/")


# The worker runs every async function on one long-lived loop; asyncio.run per request would give
# each call a fresh loop and break loop-bound objects cached between calls (aio SDK clients).
_LOOP: asyncio.AbstractEventLoop | None = None
_LOOP_LOCK = threading.Lock()


def _await(awaitable: Any) -> Any:
    global _LOOP
    with _LOOP_LOCK:
        if _LOOP is None:
            _LOOP = asyncio.new_event_loop()
            threading.Thread(target=_LOOP.run_forever, name="functions-host-loop", daemon=True).start()

    async def wait() -> Any:
        return await awaitable

    return asyncio.run_coroutine_threadsafe(wait(), _LOOP).result()


def _query_params(query: str) -> dict[str, str]:
    # As the host hands them to the worker: repeated keys joined with "," and empty values dropped
    # (azure-functions-python-worker#894).
    params: dict[str, list[str]] = {}
    for key, value in parse_qsl(query, keep_blank_values=False):
        params.setdefault(key, []).append(value)
    return {key: ",".join(values) for key, values in params.items()}


def _raw_target(environ: dict[str, Any]) -> tuple[str, str]:
    """The path and query as the client sent them; PATH_INFO is already decoded, %2F included."""
    uri = environ.get("REQUEST_URI") or environ.get("RAW_URI") or ""
    # WSGI carries the bytes as latin-1 text ("the encoding dance"); undo it.
    uri = uri.encode("latin-1").decode("utf-8", "replace")
    if uri and not uri.startswith("/"):  # absolute-form request target
        parts = urlsplit(uri)
        uri = parts.path + (f"?{parts.query}" if parts.query else "")
    path = uri.partition("?")[0]
    if not path:
        path = environ.get("PATH_INFO", "/").encode("latin-1").decode("utf-8", "replace")
    query = environ.get("QUERY_STRING", "").encode("latin-1").decode("utf-8", "replace")
    return path, query


def _body(environ: dict[str, Any], length: int | None) -> bytes:
    """The request body as the one bytes object the function gets, the copy the platform makes.

    Read in one call, not through werkzeug's ``get_data``, which gathers a body into a growing
    bytearray and then copies that: three copies of an upload at once, two kept. The server below
    hands over a ``BytesIO`` of the bytes it read off the socket, and a whole read of an untouched
    ``BytesIO`` returns the very object it was made from (CPython shares the buffer), so the body is
    in memory once.
    """
    return environ["wsgi.input"].read(length) if length else b""


def _same_route(a: _Route, b: _Route) -> bool:
    """What ScriptHost.HttpRoutesConflict calls a conflict: the same template text and a shared method."""
    if a.template.template.strip("/").lower() != b.template.template.strip("/").lower():
        return False
    return a.methods is None or b.methods is None or bool(a.methods & b.methods)


# Set in the WSGI environ when a function answers the request, so the server leaves the access line
# to the app and logs only what the host answered itself.
_FUNCTION_KEY = "functions_host.function"


def _plain(status: int, text: str) -> Response:
    return Response(text, status=status, content_type="text/plain; charset=utf-8")


class LocalFunctionsHost:
    """A WSGI app that serves a ``func.FunctionApp``'s HTTP triggers like the Functions host."""

    def __init__(self, app: func.FunctionApp, root: Path) -> None:
        prefix = _route_prefix(Path(root))
        routes = []
        for function in _functions_of(app):
            if not function.is_http_function():
                continue
            trigger = function.get_trigger()
            route = (trigger.route or function.get_function_name()).strip("/")
            methods = frozenset(str(m).upper() for m in trigger.methods) if trigger.methods else None
            routes.append(
                _Route(
                    RouteTemplate("/".join(p for p in (prefix, route) if p)),
                    methods,
                    function.get_function_name(),
                    trigger.name,
                    function.get_user_function(),
                )
            )
        # The Functions host tries routes in the order of their functions' names, compared ordinal and
        # case-insensitively, and takes the first whose template and methods match: no ASP.NET
        # precedence, no registration order. FunctionMetadataManager.LoadFunctionMetadata sorts by
        # name (StringComparer.OrdinalIgnoreCase), WebScriptHostHttpRoutesManager maps routes in that
        # order, and WebJobsRouteBuilder.Build adds them unsorted to a RouteCollection, which tries
        # them in turn; methods are a route constraint, so a method mismatch falls through
        # (azure-functions-host 4.x, azure-webjobs-sdk-extensions; host#9876 and #6062 show it, and
        # azure-webjobs-sdk-extensions PR #842, which would sort by precedence, was never merged).
        # Ordinal upper-casing puts "_" after letters, as .NET does.
        self.routes: list[_Route] = sorted(routes, key=lambda r: r.function_name.upper())
        for i, route in enumerate(self.routes):
            for earlier in self.routes[:i]:
                if _same_route(earlier, route):
                    # ScriptHost.ValidateFunction refuses to load such a function: fail as loudly here.
                    raise ValueError(
                        f"function {route.function_name!r}: the route {route.template.template!r} "
                        f"conflicts with the route defined by function {earlier.function_name!r}"
                    )

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        return self._respond(environ)(environ, start_response)

    def _respond(self, environ: dict[str, Any]) -> Response:
        # Shallow: a full Request puts itself in the environ, a reference cycle that would keep the
        # body in memory until the garbage collector's next full pass (the body is read by _body).
        request = Request(environ, shallow=True)
        path, query = _raw_target(environ)
        for route in self.routes:
            # A route whose methods don't fit is skipped like a path mismatch: the host answers 404.
            if route.methods is not None and request.method not in route.methods:
                continue
            values = route.template.match(path)
            if values is None:
                continue
            environ[_FUNCTION_KEY] = route.function_name
            http_request = func.HttpRequest(
                request.method,
                f"{request.scheme}://{request.host}{path}" + (f"?{query}" if query else ""),
                # All headers, Transfer-Encoding included, as the host copies them.
                headers=dict(request.headers.items()),
                params=_query_params(query),
                route_params=values,
                # The host passes a body on only when the request declares a Content-Length above 0
                # (GrpcMessageConversionExtensions.ToRpcHttp: `request.ContentLength > 0`), so a
                # chunked body reaches the function empty (host#4926, python-worker#574).
                body=_body(environ, request.content_length),
            )
            try:
                result = route.user_function(**{route.arg_name: http_request})
                if inspect.isawaitable(result):
                    result = _await(result)
                return self._convert(result, request.method)
            except Exception:
                # The real host logs the error and does not leak it to the client.
                log.exception("Function %s failed on %s %s", route.function_name, request.method, path)
                return _plain(500, "Internal Server Error")
        return _plain(404, "Not Found")

    @staticmethod
    def _convert(result: Any, method: str) -> Response:
        if isinstance(result, str):
            result = func.HttpResponse(result)
        if not isinstance(result, func.HttpResponse):
            raise TypeError(f"an HTTP function must return func.HttpResponse or str, not {type(result)}")
        body = result.get_body() or b""
        headers = list(result.headers.items())
        if "content-type" not in result.headers:
            mimetype = result.mimetype
            charset = f"; charset={result.charset}" if mimetype.startswith("text/") else ""
            headers.append(("Content-Type", mimetype + charset))
        declared = result.headers.get("content-length")
        if method != "HEAD" and declared is not None and declared.strip() != str(len(body)):
            # Kestrel aborts such a response; better to fail loudly here than to desync a connection.
            raise ValueError(f"Content-Length {declared} but the body has {len(body)} bytes")
        # Passing the body as a list (not bytes) keeps werkzeug from setting Content-Length itself,
        # so a HEAD handler's own Content-Length is the one sent; werkzeug adds one only if missing.
        return Response([body], status=int(result.status_code), headers=headers)


class RequestRecord(NamedTuple):
    method: str
    path: str  # as the client sent it, query included
    status: int


# The Functions host's limit on request bodies, unless FUNCTIONS_REQUEST_BODY_SIZE_LIMIT sets another.
_DEFAULT_BODY_LIMIT = 100 * 1024 * 1024


class _BodyTooLarge(Exception):
    def __init__(self, length: int) -> None:
        super().__init__(length)
        self.length = length


class _ServerState:
    def __init__(self, access_log: bool, body_limit: int) -> None:
        self.access_log = access_log
        self.body_limit = body_limit
        self.lock = threading.Lock()
        self.records: list[RequestRecord] = []
        self.connections: set[socket.socket] = set()


class _KeepAliveHandler(WSGIRequestHandler):
    """werkzeug's handler, but with working HTTP/1.1 keep-alive.

    werkzeug 3.1 says HTTP/1.1 but its ``run_wsgi`` sends ``Connection: close`` on every response
    and then drains the socket for 10 ms, which would swallow the next request on a kept-alive
    connection. pip, uv and twine reuse connections against the real host, so this handler buffers
    each request body and response, always sends a Content-Length and keeps the connection open.
    """

    protocol_version = "HTTP/1.1"
    # Headers and body go out in separate writes; with Nagle's algorithm on, the body then waits for
    # the client's delayed ACK (~40 ms a response). Kestrel, too, sets TCP_NODELAY.
    disable_nagle_algorithm = True
    timeout = 120  # seconds an idle kept-alive connection holds its thread (Kestrel: 130 s)
    state: _ServerState  # set on the subclass serve() makes for each server

    def setup(self) -> None:
        super().setup()
        with self.state.lock:
            self.state.connections.add(self.connection)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            with self.state.lock:
                self.state.connections.discard(self.connection)

    def handle_one_request(self) -> None:
        self.environ: dict[str, Any] = {}  # this request's, once run_wsgi has made it
        super().handle_one_request()

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        # A function writes its own access line (functions/http.py), so Azure's logs have it too; the
        # host logs only what it answered itself (no route, a malformed request). Method and path
        # only: a query string could carry a secret. Not werkzeug's line either: it colours every
        # status but 200, 3xx and 4xx like an error, even in files.
        if self.state.access_log and _FUNCTION_KEY not in self.environ:
            path = _raw_target(self.environ)[0] if self.environ else "-"
            method = self.command or "-"
            log.info(
                "%s %s %s (answered by the host)", method, path.translate(self._control_char_table), code
            )

    def log_error(self, format: str, *args: Any) -> None:
        # Not an idle keep-alive connection expiring; and not send_error's "code 400, message
        # Bad request syntax ('<request line>')", which would log a query string: log_request has
        # the status.
        if not format.startswith(("Request timed out", "code ")):
            super().log_error(format, *args)

    def _read_body(self, environ: dict[str, Any]) -> bytes:
        if environ.get("wsgi.input_terminated"):
            # Chunked, and werkzeug wrapped the stream to de-chunk it. The host passes no chunked
            # body on (see LocalFunctionsHost), so it is only read off the socket, to keep the
            # connection in step, and dropped.
            while environ["wsgi.input"].read(64 * 1024):
                pass
            return b""
        length = int(environ.get("CONTENT_LENGTH") or 0)
        if length > self.state.body_limit:
            raise _BodyTooLarge(length)
        body = self.rfile.read(length) if length > 0 else b""
        if len(body) < length:
            raise ConnectionError("the client closed the connection before sending its whole body")
        return body

    def run_wsgi(self) -> None:
        if self.headers.get("Expect", "").lower().strip(" \t") == "100-continue":
            self.wfile.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        try:
            self.environ = environ = self.make_environ()
        except ValueError:  # urlsplit of an absolute-form target such as "http://[x/"
            self.send_error(400, "Bad request target")
            return
        codings = [c.strip().lower() for c in environ.get("HTTP_TRANSFER_ENCODING", "").split(",")]
        if "HTTP_TRANSFER_ENCODING" in environ and codings[-1] != "chunked":
            # RFC 9112 6.3: the body's length is then unknown; Kestrel answers 400 and closes too.
            self.send_error(400, "Transfer-Encoding must end in chunked")
            return
        try:
            body = self._read_body(environ)
        except _BodyTooLarge as too_large:
            # As Azure: Kestrel refuses to read the body, the host answers 500 (not 413: host#10519)
            # and logs this; the body is left unread and the connection closed.
            log.error(
                "Request body too large. The max request body size is %d bytes (%d sent; "
                "FUNCTIONS_REQUEST_BODY_SIZE_LIMIT).",
                self.state.body_limit,
                too_large.length,
            )
            self.send_error(500, "Internal Server Error")
            return
        except ValueError:
            self.send_error(400, "Bad Content-Length")
            return
        except (ConnectionError, TimeoutError):
            raise  # the client went away or stalled: nobody to answer
        except OSError:  # werkzeug's DechunkedInput on a bad chunk size or terminator, as Kestrel
            self.send_error(400, "Malformed chunked body")
            return
        # With the whole body read, nothing of this request is left on the socket, whatever the app
        # reads, so the next request on the connection starts clean.
        environ["wsgi.input"] = io.BytesIO(body)
        status, headers, content = _call_buffered(self.server.app, environ)
        code_text, _, reason = status.partition(" ")
        code = int(code_text)
        with self.state.lock:
            target = self.path.encode("latin-1").decode("utf-8", "replace")
            self.state.records.append(RequestRecord(self.command, target, code))
        self.send_response(code, reason)
        names = set()
        for name, value in headers:
            self.send_header(name, value)
            names.add(name.lower())
        bodiless = 100 <= code < 200 or code in (204, 304)
        if "content-length" not in names and not bodiless:
            self.send_header("Content-Length", str(len(content)))
        if self.close_connection:
            self.send_header("Connection", "close")
        elif self.request_version == "HTTP/1.0":
            self.send_header("Connection", "keep-alive")
        self.end_headers()
        if self.command != "HEAD" and not bodiless:
            self.wfile.write(content)
        self.wfile.flush()


def _call_buffered(app: Callable[..., Any], environ: dict[str, Any]) -> tuple[str, list[Any], bytes]:
    started: list[Any] = []
    chunks: list[bytes] = []

    def start_response(status: str, headers: list[Any], exc_info: Any = None) -> Callable[[bytes], None]:
        started[:] = [status, headers]
        return chunks.append

    try:
        iterable = app(environ, start_response)
        try:
            chunks.extend(iterable)
        finally:
            if hasattr(iterable, "close"):
                iterable.close()
        return started[0], started[1], b"".join(chunks)
    except Exception:
        log.exception("Unhandled error serving %s", environ.get("REQUEST_URI"))
        headers = [("Content-Type", "text/plain; charset=utf-8")]
        return "500 Internal Server Error", headers, b"Internal Server Error"


class RunningHost:
    """A host serving in a background thread; ``requests`` records what clients really fetched."""

    def __init__(self, server: BaseWSGIServer, thread: threading.Thread, state: _ServerState) -> None:
        self._server = server
        self._thread = thread
        self._state = state
        self._stopped = False
        self.port: int = server.server_address[1]
        host = server.server_address[0]
        scheme = "https" if server.ssl_context is not None else "http"
        self.url = f"{scheme}://[{host}]:{self.port}" if ":" in host else f"{scheme}://{host}:{self.port}"

    @property
    def requests(self) -> list[RequestRecord]:
        with self._state.lock:
            return list(self._state.records)

    def clear_requests(self) -> None:
        with self._state.lock:
            self._state.records.clear()

    def shutdown(self) -> None:
        if self._stopped:
            return
        self._stopped = True
        self._server.shutdown()
        self._server.server_close()
        # Kept-alive connections would otherwise go on being served after shutdown.
        with self._state.lock:
            connections = list(self._state.connections)
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)
        self._thread.join(timeout=5)

    def __enter__(self) -> RunningHost:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.shutdown()


def serve(
    app: func.FunctionApp,
    *,
    root: Path,
    host: str = "127.0.0.1",
    port: int = 0,
    access_log: bool = False,
    ssl_context: ssl.SSLContext | None = None,
) -> RunningHost:
    """Serve ``app`` over HTTP/1.1 with keep-alive from a daemon thread; port 0 picks a free port.

    Request bodies are limited as the Functions host limits them, by FUNCTIONS_REQUEST_BODY_SIZE_LIMIT
    (read now, as the host reads its app settings when it starts).
    """
    state = _ServerState(
        access_log, int(os.environ.get("FUNCTIONS_REQUEST_BODY_SIZE_LIMIT") or _DEFAULT_BODY_LIMIT)
    )
    handler = type("_Handler", (_KeepAliveHandler,), {"state": state})
    # TLS for clients that insist on https, such as uv's trusted publishing (tests give a local CA).
    server = make_server(
        host,
        port,
        LocalFunctionsHost(app, root),
        threaded=True,
        request_handler=handler,
        ssl_context=ssl_context,
    )
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.1}, name="functions-host", daemon=True
    )
    thread.start()
    return RunningHost(server, thread, state)
