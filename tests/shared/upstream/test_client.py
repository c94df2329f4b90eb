"""The upstream HTTP client against local servers: pypiserver, a scripted fake index, a silent socket."""

from __future__ import annotations

import dataclasses
import gzip
import hashlib
import secrets
import time

import pytest

from shared.upstream.client import (
    USER_AGENT,
    ResponseTooLarge,
    TooManyRedirects,
    UnsafeRedirect,
    UpstreamAddressRefused,
    UpstreamClient,
    UpstreamError,
    UpstreamNotFound,
    UpstreamRefused,
    UpstreamTimeout,
    UpstreamUnavailable,
    project_page_url,
)
from shared.upstream.config import BasicCredential
from shared.upstream.page_parser import MalformedPage
from tests.support.dists import make_sdist, make_wheel
from tests.support.upstream_server import (
    FAST_CLIENT as FAST,
)
from tests.support.upstream_server import (
    Reply,
    SilentServer,
    html_reply,
    json_reply,
    redirect,
    resolve_test_hosts,
)

SHA = "ab" * 32


def page_json(name, files):
    return {"meta": {"api-version": "1.1"}, "name": name, "files": files, "versions": []}


def unique(prefix="up"):
    return f"{prefix}-{secrets.token_hex(4)}"


# pypiserver: a real index --------------------------------------------------------------------------


def test_reads_pypiservers_real_pages_and_files(pypiserver, client):
    name = unique("pps")
    wheel_name, wheel = make_wheel(name, "1.0", requires_python=">=3.8")
    sdist_name, sdist = make_sdist(name, "1.1")
    pypiserver.add(wheel_name, wheel)
    pypiserver.add(sdist_name, sdist)

    page = client.fetch_project_page(pypiserver.index_url, name.upper().replace("-", "_"))
    assert page.exists
    assert page.project == name
    assert page.versions == ("1.0", "1.1")
    by_name = {f.filename: f for f in page.files}
    assert set(by_name) == {wheel_name, sdist_name}
    assert by_name[wheel_name].hashes == {"sha256": hashlib.sha256(wheel).hexdigest()}
    assert by_name[wheel_name].url == f"{pypiserver.url}/packages/{wheel_name}"
    assert by_name[sdist_name].version == "1.1"

    with client.open_file(by_name[wheel_name].url) as download:
        assert download.length == len(wheel)
        assert b"".join(download.chunks()) == wheel


def test_a_project_pypiserver_does_not_have_is_an_absent_page(pypiserver, client):
    page = client.fetch_project_page(pypiserver.index_url, unique("nothing"))
    assert not page.exists
    assert page.files == ()


# Negotiation, headers, both formats ---------------------------------------------------------------


def test_asks_for_json_first_and_names_itself(fake_index, client):
    fake_index.routes["/simple/demo/"] = json_reply(
        page_json(
            "demo", [{"filename": "demo-1.0.tar.gz", "url": "/f/demo-1.0.tar.gz", "hashes": {"sha256": SHA}}]
        ),
        gzip=True,
    )
    page = client.fetch_project_page(f"{fake_index.url}/simple", "Demo")
    assert [f.url for f in page.files] == [f"{fake_index.url}/f/demo-1.0.tar.gz"]
    (request,) = fake_index.requests
    assert request.headers["accept"].startswith("application/vnd.pypi.simple.v1+json,")
    assert request.headers["user-agent"] == USER_AGENT
    assert "Feedhouse" in USER_AGENT
    assert "gzip" in request.headers["accept-encoding"]
    assert request.headers["host"] == f"127.0.0.1:{fake_index.port}"
    assert "authorization" not in request.headers


def test_falls_back_to_html(fake_index, client):
    fake_index.routes["/simple/demo/"] = html_reply(
        f'<a href="demo-1.0.tar.gz#sha256={SHA}">demo-1.0.tar.gz</a>'
    )
    page = client.fetch_project_page(f"{fake_index.url}/simple/", "demo")
    assert page.files[0].url == f"{fake_index.url}/simple/demo/demo-1.0.tar.gz"


def test_malformed_pages_and_wrong_content_types_are_named_errors(fake_index, client):
    fake_index.routes["/simple/a/"] = json_reply("not a page")
    fake_index.routes["/simple/b/"] = Reply(body=b"{}", headers={"Content-Type": "application/json"})
    fake_index.routes["/simple/c/"] = Reply(body=b"<a href=x>")
    for project, message in (("a", "not an object"), ("b", "Content-Type"), ("c", "Content-Type 'none'")):
        with pytest.raises(MalformedPage, match=message):
            client.fetch_project_page(f"{fake_index.url}/simple/", project)


def test_project_page_url():
    assert project_page_url("https://m.example/simple", "Foo_Bar") == "https://m.example/simple/foo-bar/"


# Failures ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "error"),
    [
        (500, UpstreamUnavailable),
        (503, UpstreamUnavailable),
        (429, UpstreamUnavailable),
        (401, UpstreamRefused),
        (403, UpstreamRefused),
        (400, UpstreamRefused),
    ],
)
def test_error_statuses(fake_index, client, status, error):
    fake_index.routes["/simple/demo/"] = Reply(status, b"oops", {"Content-Type": "text/plain"})
    with pytest.raises(error, match=str(status)) as caught:
        client.fetch_project_page(f"{fake_index.url}/simple/", "demo")
    assert caught.value.status == 502


def test_gone_is_absent(fake_index, client):
    fake_index.routes["/simple/demo/"] = Reply(410)
    assert not client.fetch_project_page(f"{fake_index.url}/simple/", "demo").exists


def test_an_upstream_that_never_answers_times_out():
    with SilentServer() as silent:
        client = UpstreamClient(dataclasses.replace(FAST, read_timeout=0.5))
        started = time.monotonic()
        with pytest.raises(UpstreamTimeout, match="did not answer in time") as caught:
            client.fetch_project_page(f"{silent.url}/simple/", "demo")
        assert time.monotonic() - started < 3
        assert caught.value.status == 504


def test_a_refused_connection_is_unavailable():
    with SilentServer() as closed:
        url = f"{closed.url}/simple/"
    with pytest.raises(UpstreamUnavailable, match="Could not connect"):
        UpstreamClient(FAST).fetch_project_page(url, "demo")


def test_a_page_that_trickles_hits_the_page_deadline(fake_index):
    fake_index.routes["/simple/demo/"] = Reply(
        body=(b" " for _ in range(100)), headers={"Content-Type": "text/html"}, chunk_delay=0.1
    )
    client = UpstreamClient(dataclasses.replace(FAST, page_timeout=1))
    started = time.monotonic()
    with pytest.raises(UpstreamTimeout, match="took too long"):
        client.fetch_project_page(f"{fake_index.url}/simple/", "demo")
    assert time.monotonic() - started < 3


def test_oversized_pages_are_refused(fake_index, client):
    limit = FAST.max_page_bytes
    fake_index.routes["/simple/declared/"] = html_reply(" " * (limit + 1))
    fake_index.routes["/simple/chunked/"] = Reply(
        body=(b" " * 65536 for _ in range(limit // 65536 + 2)), headers={"Content-Type": "text/html"}
    )
    fake_index.routes["/simple/bomb/"] = Reply(
        body=gzip.compress(b" " * (limit * 20)),
        headers={"Content-Type": "text/html", "Content-Encoding": "gzip"},
    )
    for project in ("declared", "chunked", "bomb"):
        with pytest.raises(ResponseTooLarge):
            client.fetch_project_page(f"{fake_index.url}/simple/", project)


def test_oversized_files_are_refused(fake_index, client):
    fake_index.routes["/f/big.whl"] = Reply(body=b"x" * 100)
    with pytest.raises(ResponseTooLarge), client.open_file(f"{fake_index.url}/f/big.whl", max_bytes=99):
        pass
    fake_index.routes["/f/stream.whl"] = Reply(body=(b"x" * 50 for _ in range(3)))
    with client.open_file(f"{fake_index.url}/f/stream.whl", max_bytes=120) as download:
        assert download.length is None
        with pytest.raises(ResponseTooLarge):
            b"".join(download.chunks())


def test_ranges_are_asked_for_and_checked(fake_index, client):
    data = secrets.token_bytes(1000)
    url = f"{fake_index.url}/f/ranged.whl"

    def honoured(content_range: str, body: bytes):
        return Reply(status=206, body=body, headers={"Content-Range": content_range})

    fake_index.routes["/f/ranged.whl"] = honoured("bytes 10-19/1000", data[10:20])
    assert client.fetch_range(url, 10, 10, size=1000) == data[10:20]
    assert fake_index.requests[-1].headers["range"] == "bytes=10-19"
    for wrong in ("bytes 0-9/1000", "bytes 10-19/1001", "bytes */1000", ""):
        fake_index.routes["/f/ranged.whl"] = honoured(wrong, data[10:20])
        with pytest.raises(UpstreamError, match="answered the range bytes 10-19/1000"):
            client.fetch_range(url, 10, 10, size=1000)
    fake_index.routes["/f/ranged.whl"] = honoured("bytes 10-19/1000", data[10:15])
    with pytest.raises(UpstreamError, match="ended before the end of the range"):
        client.fetch_range(url, 10, 10, size=1000)
    # A server that ignores ranges sends the whole file: it is cut to the range, and must be long enough.
    fake_index.routes["/f/ranged.whl"] = Reply(body=data)
    assert client.fetch_range(url, 990, 10, size=1000) == data[990:]
    fake_index.routes["/f/ranged.whl"] = Reply(body=data[:995])
    with pytest.raises(UpstreamError, match="ended before the end of the range"):
        client.fetch_range(url, 990, 10, size=1000)
    fake_index.routes["/f/ranged.whl"] = Reply(status=404)
    with pytest.raises(UpstreamNotFound):
        client.fetch_range(url, 0, 1, size=1000)


def test_missing_files_are_named(fake_index, client):
    with pytest.raises(UpstreamNotFound):
        client.fetch_small_file(f"{fake_index.url}/f/demo-1.0.whl.metadata")


# Redirects ---------------------------------------------------------------------------------------------


def test_redirects_are_followed_within_the_limit(fake_index, client):
    fake_index.routes["/simple/demo/"] = redirect("/r1")
    fake_index.routes["/r1"] = redirect("r2", 301)
    fake_index.routes["/r2"] = redirect(f"http://cdn.test:{fake_index.port}/final/demo/", 307)
    fake_index.routes["/final/demo/"] = html_reply('<a href="demo-1.0.tar.gz">x</a>')
    page = client.fetch_project_page(f"{fake_index.url}/simple/", "demo")
    # Relative file URLs resolve against the final URL.
    assert page.files[0].url == f"http://cdn.test:{fake_index.port}/final/demo/demo-1.0.tar.gz"


def test_too_many_redirects(fake_index, client):
    for i in range(5):
        fake_index.routes[f"/r{i}"] = redirect(f"/r{i + 1}")
    fake_index.routes["/simple/demo/"] = redirect("/r0")
    with pytest.raises(TooManyRedirects, match="more than 3 times"):
        client.fetch_project_page(f"{fake_index.url}/simple/", "demo")
    assert len(fake_index.requests) == 4


def test_redirect_loops_end(fake_index, client):
    fake_index.routes["/simple/demo/"] = redirect("/simple/demo/")
    with pytest.raises(TooManyRedirects):
        client.fetch_project_page(f"{fake_index.url}/simple/", "demo")


@pytest.mark.parametrize(
    ("location", "error"),
    [
        ("ftp://mirror.test/demo/", UnsafeRedirect),
        ("file:///etc/passwd", UnsafeRedirect),
        ("http://user:pw@cdn.test/demo/", UnsafeRedirect),
        ("http://169.254.169.254/metadata/identity/oauth2/token", UpstreamAddressRefused),
        ("http://[::ffff:169.254.169.254]/latest/", UpstreamAddressRefused),
    ],
)
def test_unsafe_redirects_are_refused(fake_index, client, location, error):
    fake_index.routes["/simple/demo/"] = redirect(location)
    with pytest.raises(error):
        client.fetch_project_page(f"{fake_index.url}/simple/", "demo")
    assert len(fake_index.requests) == 1


def test_https_to_http_downgrade_is_refused(client):
    with pytest.raises(UnsafeRedirect, match="https to plain http"):
        client._redirect_target("https://mirror.example/simple/demo/", "http://mirror.example/simple/demo/")
    assert client._redirect_target("http://a.example/x/", "https://b.example/y#frag") == "https://b.example/y"


# Credentials --------------------------------------------------------------------------------------------


def test_credentials_go_only_to_their_origin(fake_index, client):
    other_host = f"http://cdn.test:{fake_index.port}"
    fake_index.routes["/simple/demo/"] = redirect(f"{other_host}/moved/demo/")
    fake_index.routes["/moved/demo/"] = redirect(f"http://mirror.test:{fake_index.port}/back/demo/")
    fake_index.routes["/back/demo/"] = html_reply(f'<a href="{other_host}/f/demo-1.0.tar.gz">x</a>')
    fake_index.routes["/f/demo-1.0.tar.gz"] = Reply(body=b"sdist")
    credential = BasicCredential(("http", "mirror.test", fake_index.port), "user", "s3cret")

    page = client.fetch_project_page(
        f"http://mirror.test:{fake_index.port}/simple/", "demo", credential=credential
    )
    first, moved, back = fake_index.requests
    assert first.headers["authorization"] == credential.authorization()
    assert first.headers["host"] == f"mirror.test:{fake_index.port}"
    assert "authorization" not in moved.headers  # another host: never forwarded
    assert moved.headers["host"] == f"cdn.test:{fake_index.port}"
    assert back.headers["authorization"] == credential.authorization()  # its own host again

    with client.open_file(page.files[0].url, credential=credential) as download:
        assert b"".join(download.chunks()) == b"sdist"
    assert "authorization" not in fake_index.requests[-1].headers


def test_credentials_are_not_sent_to_another_port_of_the_same_host(fake_index, client):
    fake_index.routes["/simple/demo/"] = html_reply("")
    credential = BasicCredential(("http", "127.0.0.1", fake_index.port + 1), "user", "s3cret")
    client.fetch_project_page(f"{fake_index.url}/simple/", "demo", credential=credential)
    assert "authorization" not in fake_index.requests[0].headers


def test_errors_never_show_credentials_or_query_strings(fake_index, client):
    fake_index.routes["/simple/demo/"] = redirect("/signed?sig=topsecret")
    fake_index.routes["/signed"] = Reply(500)
    with pytest.raises(UpstreamUnavailable) as caught:
        client.fetch_project_page(f"{fake_index.url}/simple/", "demo")
    assert "topsecret" not in caught.value.message
    assert f"{fake_index.url}/signed" in caught.value.message


# Address checks at connection time ---------------------------------------------------------------------


def test_loopback_is_refused_at_connection_when_private_is_not_allowed(fake_index):
    client = UpstreamClient(dataclasses.replace(FAST, allow_private=False))
    with pytest.raises(UpstreamAddressRefused, match="loopback"):
        client.fetch_project_page(f"{fake_index.url}/simple/", "demo")
    with pytest.raises(UpstreamAddressRefused, match="'localhost' \\(which resolves to"):
        client.fetch_project_page(f"http://localhost:{fake_index.port}/simple/", "demo")
    assert fake_index.requests == []


def test_a_name_that_resolves_elsewhere_at_connection_is_refused(fake_index):
    answers = iter([["93.184.216.34"], ["127.0.0.1"]])

    def rebinding(host, port):
        return next(answers)

    from shared.upstream.url_safety import check_fetchable_url

    url = f"http://rebind.test:{fake_index.port}/simple/"
    assert check_fetchable_url(url, allow_private=False, resolver=rebinding) == ["93.184.216.34"]
    client = UpstreamClient(dataclasses.replace(FAST, allow_private=False), resolver=rebinding)
    with pytest.raises(UpstreamAddressRefused, match=r"127\.0\.0\.1"):
        client.fetch_project_page(url, "demo")
    assert fake_index.requests == []


def test_the_metadata_address_is_refused_even_with_private_allowed(client):
    with pytest.raises(UpstreamAddressRefused, match="metadata"):
        client.fetch_project_page("http://169.254.169.254/metadata/", "identity")


def test_unresolvable_hosts_are_unavailable(client):
    with pytest.raises(UpstreamUnavailable, match="could not be resolved"):
        client.fetch_project_page("http://nowhere.invalid/simple/", "demo")
    assert resolve_test_hosts("mirror.test", 80) == ["127.0.0.1"]


def test_fetches_a_configured_upstream_with_its_credential(fake_index, client, monkeypatch):
    from shared.upstream.config import CredentialUnavailable, Upstream

    fake_index.routes["/simple/demo/"] = html_reply("")
    name = "FEEDHOUSE_UPSTREAM_CREDENTIAL_TEST"
    upstream = Upstream("index", url=f"{fake_index.url}/simple/", credential=name)
    monkeypatch.setenv(name, f"http://u:p@127.0.0.1:{fake_index.port}/")
    assert client.fetch_upstream_page(upstream, "demo").exists
    assert fake_index.requests[0].headers["authorization"] == "Basic dTpw"
    monkeypatch.delenv(name)
    with pytest.raises(CredentialUnavailable, match="is not set"):
        client.fetch_upstream_page(upstream, "demo")

    assert client.fetch_upstream_page(Upstream("pypi"), "demo", pypi_url=f"{fake_index.url}/simple/").exists
    monkeypatch.setenv("FEEDHOUSE_PYPI_URL", f"{fake_index.url}/simple")
    assert client.fetch_upstream_page(Upstream("pypi"), "demo").exists
    with pytest.raises(ValueError, match="storage"):
        client.fetch_upstream_page(Upstream("feed", feed="other"), "demo")
