from __future__ import annotations

import asyncio
import contextlib
import gc
import http.client
import io
import json
import logging
import socket
import time
import tracemalloc
from pathlib import Path

import azure.functions as func
import pytest
from werkzeug.test import Client

from tools.functions_host import LocalFunctionsHost, RequestRecord, RouteTemplate, serve

ROOT = Path(__file__).resolve().parents[2]  # the repo's host.json: routePrefix ""


def _echo(name: str, req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse(
        json.dumps(
            {
                "handler": name,
                "method": req.method,
                "url": req.url,
                "route_params": dict(req.route_params),
                "params": dict(req.params),
                "body": req.get_body().decode(),
                "x_test": req.headers.get("x-test"),
            }
        ),
        mimetype="application/json",
    )


def make_app() -> func.FunctionApp:
    app = func.FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS)

    @app.route(route="{feed}/simple/{project}", methods=["GET"])
    def simple_project(req: func.HttpRequest) -> func.HttpResponse:
        return _echo("simple_project", req)

    @app.route(route="mirror/simple/{project}", methods=["GET"])
    def mirror_project(req: func.HttpRequest) -> func.HttpResponse:
        return _echo("mirror_project", req)

    @app.route(route="api/feeds/{feed}", methods=["GET", "DELETE"])
    def feed(req: func.HttpRequest) -> func.HttpResponse:
        return _echo("feed", req)

    @app.route(route="api/feeds", methods=["POST"], trigger_arg_name="request")
    def create_feed(request: func.HttpRequest) -> func.HttpResponse:
        return _echo("create_feed", request)

    @app.route(route="{feed}/files/{project}/{filename}", methods=["GET", "HEAD"])
    def file(req: func.HttpRequest) -> func.HttpResponse:
        if req.method == "HEAD":
            return func.HttpResponse(
                b"", headers={"Content-Length": "1234"}, mimetype="application/octet-stream"
            )
        return func.HttpResponse(b"x" * 1234, mimetype="application/octet-stream")

    # Competing routes whose names order them unlike registration order and ASP.NET precedence
    # (a constrained parameter first) would: the Functions host tries them by name.
    @app.route(route="items/{id:int}", methods=["GET"])
    def item_by_id(req: func.HttpRequest) -> func.HttpResponse:
        return _echo("item_by_id", req)

    @app.route(route="items/{name}", methods=["GET"])
    def an_item_by_name(req: func.HttpRequest) -> func.HttpResponse:
        return _echo("an_item_by_name", req)

    # Compared as .NET's OrdinalIgnoreCase does, upper-cased: "_" sorts after letters.
    @app.route(route="order/{first}", methods=["GET"])
    def take_b(req: func.HttpRequest) -> func.HttpResponse:
        return _echo("take_b", req)

    @app.route(route="order/{second}", methods=["GET"])
    def takeb(req: func.HttpRequest) -> func.HttpResponse:
        return _echo("takeb", req)

    @app.route(route="cases/{first}", methods=["GET"])
    def Zed(req: func.HttpRequest) -> func.HttpResponse:  # a capital: names compare case-blind
        return _echo("Zed", req)

    @app.route(route="cases/{second}", methods=["GET"])
    def alpha(req: func.HttpRequest) -> func.HttpResponse:
        return _echo("alpha", req)

    @app.route(route="static/{*path}")  # methods=None: every method
    def static(req: func.HttpRequest) -> func.HttpResponse:
        return _echo("static", req)

    @app.route(route="opt/{name?}", methods=["GET"])
    def optional(req: func.HttpRequest) -> func.HttpResponse:
        return _echo("optional", req)

    @app.route(route="version/{v:regex(^\\d+\\.\\d+$)}", methods=["GET"])
    def version(req: func.HttpRequest) -> func.HttpResponse:
        return _echo("version", req)

    @app.route(route="loop", methods=["GET"])
    async def loop(req: func.HttpRequest) -> func.HttpResponse:
        await asyncio.sleep(0)
        return func.HttpResponse(str(id(asyncio.get_running_loop())))

    @app.route(route="headers", methods=["GET"])
    def headers(req: func.HttpRequest) -> func.HttpResponse:
        res = func.HttpResponse("ok", headers={"Content-Type": "text/x-custom"})
        res.headers.add("Set-Cookie", "a=1")
        res.headers.add("Set-Cookie", "b=2")
        res.headers.add("Link", "<a>")
        res.headers.add("Link", "<b>")
        return res

    @app.route(route="plain", methods=["GET"])
    def plain(req: func.HttpRequest) -> str:
        return "just text"

    @app.route(route="created", methods=["POST"])
    def created(req: func.HttpRequest) -> func.HttpResponse:
        return func.HttpResponse(req.get_body(), status_code=201, mimetype="application/octet-stream")

    @app.route(route="size", methods=["POST"])
    def size(req: func.HttpRequest) -> func.HttpResponse:
        return func.HttpResponse(str(len(req.get_body())))

    @app.route(route="boom", methods=["GET"])
    def boom(req: func.HttpRequest) -> func.HttpResponse:
        raise RuntimeError("secret detail")

    @app.route(route="liar", methods=["GET"])
    def liar(req: func.HttpRequest) -> func.HttpResponse:
        return func.HttpResponse("abc", headers={"Content-Length": "10"})

    return app


@pytest.fixture(scope="module")
def app() -> func.FunctionApp:
    return make_app()


@pytest.fixture(scope="module")
def client(app: func.FunctionApp) -> Client:
    return Client(LocalFunctionsHost(app, ROOT))


def test_request_carries_full_url_route_params_query_headers_and_body(client: Client) -> None:
    res = client.get("/team/simple/My-Pkg/?a=1&a=2&empty=&b=x", headers={"X-Test": "yes"})
    assert res.status_code == 200
    assert res.json == {
        "handler": "simple_project",
        "method": "GET",
        "url": "http://localhost/team/simple/My-Pkg/?a=1&a=2&empty=&b=x",
        "route_params": {"feed": "team", "project": "My-Pkg"},
        # As the worker gets them: repeated keys joined, empty values dropped.
        "params": {"a": "1,2", "b": "x"},
        "body": "",
        "x_test": "yes",
    }

    res = client.post("/api/feeds", data=b'{"name": "team"}', content_type="application/json")
    assert (res.status_code, res.json["handler"], res.json["body"]) == (
        200,
        "create_feed",
        '{"name": "team"}',
    )


def test_literals_match_case_insensitively(client: Client) -> None:
    assert client.get("/mirror/simple/x").json["handler"] == "mirror_project"
    assert client.get("/MIRROR/Simple/x").json["handler"] == "mirror_project"
    other = client.get("/other/SIMPLE/x").json
    assert (other["handler"], other["route_params"]) == ("simple_project", {"feed": "other", "project": "x"})


def test_routes_are_tried_in_function_name_order(client: Client) -> None:
    # Not ASP.NET precedence (the int-constrained route first), not registration order.
    assert client.get("/items/42").json["handler"] == "an_item_by_name"
    assert client.get("/order/1").json["handler"] == "takeb"
    assert client.get("/cases/1").json["handler"] == "alpha"
    # A route whose constraint or methods don't fit is passed over for the next one.
    assert client.get("/version/1.x").status_code == 404
    assert client.delete("/api/feeds/team").json["handler"] == "feed"


def test_int_constraint_is_int32() -> None:
    assert RouteTemplate("items/{id:int}").match("/items/-7") == {"id": "-7"}
    assert RouteTemplate("items/{id:int}").match("/items/99999999999") is None


@pytest.mark.parametrize(
    ("first", "second"),
    [
        (("a/{x}", ["GET"]), ("A/{X}/", ["GET", "POST"])),  # the host compares the text, case-blind
        (("a/{x}", None), ("a/{x}", ["DELETE"])),  # no methods means all of them
    ],
)
def test_a_route_that_another_function_already_has_is_refused(first, second) -> None:
    app = func.FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS)
    for name, (route, methods) in (("one", first), ("two", second)):
        app.function_name(name)(app.route(route=route, methods=methods)(lambda req: "x"))
    with pytest.raises(
        ValueError, match=r"'two': the route .* conflicts with the route defined by function 'one'"
    ):
        LocalFunctionsHost(app, ROOT)


def test_a_route_shared_for_other_methods_is_not_a_conflict() -> None:
    app = func.FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS)

    @app.route(route="a/{x}", methods=["GET"])
    def reader(req: func.HttpRequest) -> str:
        return "read"

    @app.route(route="a/{x}", methods=["PUT"])
    def writer(req: func.HttpRequest) -> str:
        return "written"

    client = Client(LocalFunctionsHost(app, ROOT))
    assert (client.get("/a/1").data, client.put("/a/1").data) == (b"read", b"written")


def test_catch_all_keeps_slashes_and_accepts_every_method_when_methods_is_none(client: Client) -> None:
    res = client.get("/static/a/b%20c/pkg-1.0.tar.gz")
    assert res.json["route_params"] == {"path": "a/b c/pkg-1.0.tar.gz"}
    for method in ("DELETE", "PATCH", "PUT", "OPTIONS", "POST"):
        assert client.open("/static/x", method=method).json["method"] == method
    assert client.get("/static").json["route_params"] == {}


def test_route_values_are_percent_decoded_including_slashes(client: Client) -> None:
    res = client.get("/team/simple/a%2Fb%C3%A9")
    assert res.json["route_params"] == {"feed": "team", "project": "a/bé"}
    assert res.json["url"] == "http://localhost/team/simple/a%2Fb%C3%A9"


def test_one_trailing_slash_is_optional(client: Client) -> None:
    assert client.get("/team/simple/x/").status_code == 200
    assert client.get("/team/simple/x").status_code == 200
    assert client.get("/team/simple/x//").status_code == 404


def test_method_mismatch_and_unknown_path_are_plain_404(client: Client) -> None:
    for res in (client.post("/team/simple/x"), client.get("/nope/at/all/here"), client.get("/")):
        assert res.status_code == 404
        assert res.headers["Content-Type"] == "text/plain; charset=utf-8"
        assert res.data == b"Not Found"
    # HEAD is not implied by GET.
    assert client.head("/team/simple/x").status_code == 404


def test_optional_and_regex_parameters(client: Client) -> None:
    assert client.get("/opt").json["route_params"] == {}
    assert client.get("/opt/bob").json["route_params"] == {"name": "bob"}
    assert client.get("/version/1.20").json["route_params"] == {"v": "1.20"}
    assert client.get("/version/1.x").status_code == 404


def test_head_sends_the_handlers_content_length_once(client: Client) -> None:
    res = client.head("/team/files/pkg/pkg-1.0.tar.gz")
    assert res.status_code == 200
    assert res.headers.getlist("Content-Length") == ["1234"]
    assert res.data == b""
    res = client.get("/team/files/pkg/pkg-1.0.tar.gz")
    assert res.headers.getlist("Content-Length") == ["1234"]
    assert res.headers["Content-Type"] == "application/octet-stream"  # no charset for non-text


def test_repeated_headers_and_handler_content_type_are_kept(client: Client) -> None:
    res = client.get("/headers")
    assert res.headers.getlist("Set-Cookie") == ["a=1", "b=2"]
    assert res.headers.getlist("Link") == ["<a>", "<b>"]
    assert res.headers.getlist("Content-Type") == ["text/x-custom"]


def test_str_result_and_default_content_type(client: Client) -> None:
    res = client.get("/plain")
    assert (res.status_code, res.data) == (200, b"just text")
    assert res.headers["Content-Type"] == "text/plain; charset=utf-8"
    res = client.post("/created", data=b"\x00\x01")
    assert (res.status_code, res.data) == (201, b"\x00\x01")


def test_async_handlers_share_one_event_loop(client: Client) -> None:
    first, second = client.get("/loop"), client.get("/loop")
    assert first.status_code == 200
    assert first.data == second.data


def test_exception_gives_500_without_details_and_logs_traceback(
    client: Client, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.ERROR, logger="tools.functions_host"):
        res = client.get("/boom")
    assert res.status_code == 500
    assert res.data == b"Internal Server Error"
    assert "secret detail" in caplog.text
    assert "RuntimeError" in caplog.text


def test_content_length_that_does_not_match_the_body_is_an_error(client: Client) -> None:
    assert client.get("/liar").status_code == 500


def test_default_route_prefix_is_api_and_hosts_can_share_an_app(
    app: func.FunctionApp, tmp_path: Path
) -> None:
    (tmp_path / "host.json").write_text('{"version": "2.0"}')
    prefixed = Client(LocalFunctionsHost(app, tmp_path))  # a second host on the same app object
    assert prefixed.get("/api/mirror/simple/x").json["handler"] == "mirror_project"
    assert prefixed.get("/API/api/feeds/team").json["handler"] == "feed"
    assert prefixed.get("/mirror/simple/x").status_code == 404


def test_function_name_is_the_default_route(tmp_path: Path) -> None:
    app = func.FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS)

    @app.route()
    def hello(req: func.HttpRequest) -> str:
        return "hi"

    assert Client(LocalFunctionsHost(app, ROOT)).get("/Hello").data == b"hi"


@pytest.mark.parametrize(
    ("template", "message"),
    [
        ("{name}.{ext}", "complex segment"),
        ("files/{*path}/x", "catch-all must be the last"),
        ("a/{b?}/c", "only optional segments"),
        ("a/{b:datetime}", "unsupported route constraint"),
        ("a//b", "empty segment"),
    ],
)
def test_unsupported_templates_fail_loudly(template: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        RouteTemplate(template)


def test_template_details() -> None:
    assert RouteTemplate("x/{n:int:range(1,5)}").match("/x/3") == {"n": "3"}
    assert RouteTemplate("x/{n:int:range(1,5)}").match("/x/9") is None
    assert RouteTemplate("x/{n=7}").match("/x") == {"n": "7"}
    assert RouteTemplate("x/{d:regex(^\\d{{3}}$)}").match("/x/123") == {"d": "123"}
    assert RouteTemplate("x/{d:regex(^\\d{{3}}$)}").match("/x/1234") is None
    assert RouteTemplate("x/{g:guid}").match("/x/0f8fad5b-d9cb-469f-a165-70867728950e") is not None
    assert RouteTemplate("x/{p}").match("/x/") is None  # parameters never match an empty segment


# Through a real socket: what pip, uv and twine see.


@pytest.fixture
def running(app: func.FunctionApp):
    with serve(app, root=ROOT) as host:
        yield host


def test_server_speaks_http_11_with_keep_alive(running) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", running.port, timeout=10)
    try:
        conn.request("GET", "/team/simple/one/")
        first = conn.getresponse()
        assert (first.version, first.status) == (11, 200)
        assert first.getheader("Connection") is None
        first.read()
        sock = conn.sock
        # A body, a HEAD with a Content-Length and no body, and a chunked body (which the host reads
        # and drops) must all leave the connection in step for the next request.
        conn.request("POST", "/created", body=b"payload")
        assert conn.getresponse().read() == b"payload"
        conn.request("HEAD", "/team/files/pkg/pkg-1.0.tar.gz")
        head = conn.getresponse()
        assert head.getheader("Content-Length") == "1234"
        assert head.read() == b""
        conn.request("POST", "/created", body=iter([b"chu", b"nked"]), encode_chunked=True)
        assert conn.getresponse().read() == b""
        conn.request("POST", "/nowhere", body=b"unread body")
        assert conn.getresponse().read() == b"Not Found"
        conn.request("GET", "/team/simple/two/")
        second = conn.getresponse()
        assert json.loads(second.read())["route_params"]["project"] == "two"
        assert conn.sock is sock, "the server closed the connection"
    finally:
        conn.close()


def test_server_sockets_send_without_nagle_delay(running) -> None:
    # Headers and body are separate writes; with Nagle on, each response waits ~40 ms for the
    # client's delayed ACK (make bench's single requests showed 52 ms pages that take 8 ms without it).
    conn = http.client.HTTPConnection("127.0.0.1", running.port, timeout=10)
    try:
        conn.request("GET", "/team/simple/one/")
        conn.getresponse().read()
        server_sockets = list(running._state.connections)
        assert server_sockets
        assert all(s.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) for s in server_sockets)
    finally:
        conn.close()


def test_requests_are_recorded_as_clients_sent_them(running) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", running.port, timeout=10)
    try:
        for method, path in (("GET", "/team/simple/p/?x=1"), ("GET", "/nope"), ("GET", "/boom")):
            conn.request(method, path)
            conn.getresponse().read()
    finally:
        conn.close()
    assert running.requests == [
        RequestRecord("GET", "/team/simple/p/?x=1", 200),
        ("GET", "/nope", 404),
        ("GET", "/boom", 500),
    ]
    assert running.url == f"http://127.0.0.1:{running.port}"
    running.clear_requests()
    assert running.requests == []


def test_shutdown_closes_the_port_and_kept_alive_connections(app: func.FunctionApp) -> None:
    host = serve(app, root=ROOT)
    conn = http.client.HTTPConnection("127.0.0.1", host.port, timeout=10)
    conn.request("GET", "/plain")
    conn.getresponse().read()
    host.shutdown()
    host.shutdown()  # idempotent
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", host.port), timeout=5).close()
    with pytest.raises((ConnectionError, http.client.HTTPException, OSError)):
        conn.request("GET", "/plain")
        conn.getresponse().read()
    conn.close()


# Request bodies: the Functions host passes one on only when it has a Content-Length.


def _exchange(port: int, raw: bytes) -> bytes:
    """Send raw bytes, return everything the server answers until it closes or goes quiet."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(raw)
        sock.settimeout(2)
        answer = b""
        with contextlib.suppress(TimeoutError):
            while chunk := sock.recv(65536):
                answer += chunk
        return answer


def test_a_chunked_body_reaches_the_function_empty_with_its_headers(running) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", running.port, timeout=10)
    try:
        conn.request(
            "POST",
            "/static/echo",
            body=iter([b'{"a":', b" 1}"]),
            headers={"X-Test": "kept"},
            encode_chunked=True,
        )
        echoed = json.loads(conn.getresponse().read())
    finally:
        conn.close()
    assert (echoed["handler"], echoed["body"], echoed["x_test"]) == ("static", "", "kept")


def test_a_chunked_body_reaches_the_function_empty_in_the_wsgi_app_too(client: Client) -> None:
    res = client.post(
        "/static/echo",
        input_stream=io.BytesIO(b"data"),
        headers={"Transfer-Encoding": "chunked"},
        environ_overrides={"wsgi.input_terminated": True},  # what a server sets for a chunked body
    )
    assert res.json["body"] == ""


@pytest.mark.parametrize(
    "body",
    [
        b"zz\r\nabc\r\n0\r\n\r\n",  # a chunk size that is not hex
        b"3\r\nabcdef\r\n0\r\n\r\n",  # a chunk longer than its size
        b"-3\r\nabc\r\n0\r\n\r\n",  # a negative size
    ],
)
def test_a_malformed_chunked_body_is_a_400_then_close(running, body: bytes) -> None:
    answer = _exchange(
        running.port, b"POST /created HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n" + body
    )
    assert answer.startswith(b"HTTP/1.1 400 Malformed chunked body\r\n")
    assert b"\r\nConnection: close\r\n" in answer


def test_a_transfer_coding_that_does_not_end_in_chunked_is_a_400(running) -> None:
    answer = _exchange(
        running.port, b"POST /created HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\nabc"
    )
    assert answer.startswith(b"HTTP/1.1 400 Transfer-Encoding must end in chunked\r\n")


def test_an_unparsable_request_target_is_a_400(running) -> None:
    answer = _exchange(running.port, b"GET http://[x/ HTTP/1.1\r\nHost: x\r\n\r\n")
    assert answer.startswith(b"HTTP/1.1 400 Bad request target\r\n")


def test_the_host_logs_only_what_no_function_answered_and_never_a_query(
    app: func.FunctionApp, caplog: pytest.LogCaptureFixture
) -> None:
    with (
        serve(app, root=ROOT, access_log=True) as host,
        caplog.at_level(logging.INFO, "tools.functions_host"),
    ):
        conn = http.client.HTTPConnection("127.0.0.1", host.port, timeout=10)
        try:
            for path in ("/plain?token=fhpat_x_plain", "/nope?token=fhpat_x_nope"):
                conn.request("GET", path)
                conn.getresponse().read()
        finally:
            conn.close()
        _exchange(host.port, b"GET http://u:fhpat_x_userinfo@x/gone HTTP/1.1\r\nHost: x\r\n\r\n")
        _exchange(host.port, b"GET /x?token=fhpat_x_bad HTTP/1.1 trailing\r\n\r\n")
    lines = [r.getMessage() for r in caplog.records if r.name == "tools.functions_host"]
    # A function's request is left to the app's own access line (functions/http.py).
    assert lines == [
        "GET /nope 404 (answered by the host)",
        "GET /gone 404 (answered by the host)",
        "- - 400 (answered by the host)",
    ]
    assert "fhpat_" not in caplog.text


# Overlapping routes: which one the host picks depends only on function names.


@pytest.mark.parametrize(
    ("a", "b", "overlap"),
    [
        ("{feed}/simple", "api/feeds", False),
        ("{feed}/simple", "api/simple", True),
        ("api/Feeds/{feed}", "api/feeds/{name}", True),  # literals are case-blind
        ("{feed}/files/{p}/{f}", "api/feeds/{feed}/packages", False),
        ("items/{id:int}", "items/new", False),  # the constraint refuses the literal
        ("items/{id:int}", "items/42", True),
        ("items/{id:int}", "items/{name:alpha}", True),  # constraints are not compared
        ("opt/{x?}", "opt", True),
        ("opt/{x?}", "opt/a/b", False),
        ("static/{*rest}", "static", True),
        ("static/{*rest}", "static/a/b/c/d", True),
        ("static/{*rest}", "other/a", False),
        ("{*all}", "anything/at/all", True),
        ("a/b", "a/b/c", False),
    ],
)
def test_route_templates_overlap_when_some_path_matches_both(a: str, b: str, overlap: bool) -> None:
    assert RouteTemplate(a).overlaps(RouteTemplate(b)) is overlap
    assert RouteTemplate(b).overlaps(RouteTemplate(a)) is overlap


def test_no_two_routes_of_the_app_can_match_the_same_request() -> None:
    from function_app import app

    routes = LocalFunctionsHost(app, ROOT).routes
    assert len(routes) > 20
    competing = [
        (a.function_name, b.function_name)
        for i, a in enumerate(routes)
        for b in routes[i + 1 :]
        if (a.methods is None or b.methods is None or a.methods & b.methods)
        and a.template.overlaps(b.template)
    ]
    assert competing == []


# Bodies: handed to the function once, and limited as the Functions host limits them.


def test_the_body_is_in_memory_once(running) -> None:
    body = bytes(16 * 1024 * 1024)  # made before tracing starts: what is traced is the server's
    tracemalloc.start()
    try:
        conn = http.client.HTTPConnection("127.0.0.1", running.port, timeout=30)
        conn.request("POST", "/size", body=body)
        assert conn.getresponse().read() == str(len(body)).encode()
        conn.close()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    # The bytes read off the socket are what the function gets, as Azure's worker holds one copy
    # (werkzeug's get_data made two more, three at once).
    assert peak < 1.5 * len(body)


def test_nothing_of_a_body_is_kept_after_its_request(running) -> None:
    body = bytes(16 * 1024 * 1024)
    gc.collect()
    gc.disable()  # what is kept must be freed by reference counting, not by a collection that may not run
    tracemalloc.start()
    conn = http.client.HTTPConnection("127.0.0.1", running.port, timeout=30)
    try:
        conn.request("POST", "/size", body=body)
        assert conn.getresponse().read() == str(len(body)).encode()
        # The connection stays open, as pip's and twine's do between requests. The server thread
        # finishes the request just after the answer: give it a moment.
        deadline = time.monotonic() + 5
        while tracemalloc.get_traced_memory()[0] > len(body) / 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        kept = tracemalloc.get_traced_memory()[0]
    finally:
        conn.close()
        tracemalloc.stop()
        gc.enable()
    assert kept < len(body) / 2


@pytest.fixture
def small_body_limit(app: func.FunctionApp, monkeypatch):
    monkeypatch.setenv("FUNCTIONS_REQUEST_BODY_SIZE_LIMIT", "1000")
    with serve(app, root=ROOT) as host:
        yield host


def test_a_body_within_the_limit_reaches_the_function(small_body_limit) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", small_body_limit.port, timeout=10)
    try:
        conn.request("POST", "/size", body=b"x" * 1000)
        assert conn.getresponse().read() == b"1000"
    finally:
        conn.close()


def test_a_body_over_the_limit_is_refused_as_azure_does(small_body_limit, caplog) -> None:
    caplog.set_level(logging.ERROR, logger="tools.functions_host")
    answer = _exchange(
        small_body_limit.port,
        b"POST /size HTTP/1.1\r\nHost: x\r\nContent-Length: 1001\r\n\r\n" + b"x" * 1001,
    )
    # Azure's host answers 500, not 413 (azure-functions-host#10519), and the function never runs.
    assert answer.startswith(b"HTTP/1.1 500 Internal Server Error\r\n")
    assert b"\r\nConnection: close\r\n" in answer
    assert b"1001" not in answer.partition(b"\r\n\r\n")[2]
    assert "The max request body size is 1000 bytes" in caplog.text
