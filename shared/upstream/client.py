"""Fetching from upstream indexes: project pages and files, over HTTP(S), within limits.

Every request: connects only to addresses checked by shared.upstream.url_safety (resolved once per hop and
pinned, so DNS cannot change between the check and the connection); has connect and read timeouts,
and project pages a deadline for the whole fetch; reads at most a configured number of bytes (after
decompression); follows at most a few redirects, each of them http(s), never from https down to
http, and each checked like the first URL. Credentials go only to the origin they are bound to, so a
redirect to another host (a CDN, blob storage) never carries them. Error messages name URLs without
credentials, query strings or fragments.

urllib3 does the HTTP: it is what requests (and so pip) is built on, already installed with the Azure
SDK, and it lets a connection go to a pinned address while TLS still verifies the host name.
"""

from __future__ import annotations

import contextlib
import logging
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import quote, urljoin, urlsplit, urlunsplit

import urllib3
from packaging.utils import canonicalize_name
from urllib3.exceptions import (
    ConnectTimeoutError,
    HTTPError,
    NewConnectionError,
    ReadTimeoutError,
)

from shared import settings, untrusted
from shared.errors import BadGateway
from shared.upstream.config import FEED, BasicCredential, Upstream
from shared.upstream.page_parser import ACCEPT, ProjectPage, absent_page, parse_project_page
from shared.upstream.url_safety import (
    ALLOW_PRIVATE_SETTING,
    DEFAULT_PORTS,
    Resolver,
    UnsafeUpstreamURL,
    UpstreamHostNotFound,
    display_url,
    port_of,
    resolve_checked,
    split_fetchable_url,
)

logger = logging.getLogger(__name__)

USER_AGENT = f"Feedhouse/1.0 (private Python package feed; upstream fetcher) urllib3/{urllib3.__version__}"
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
MAX_REDIRECTS = 5
_CHUNK = 256 * 1024
_CONTENT_RANGE_RE = re.compile(r"bytes (\d+)-(\d+)/(\d+)", re.IGNORECASE)


class UpstreamError(BadGateway):
    """An upstream could not be used for this request; the message says which and why."""

    code = "upstream_error"


class UpstreamUnavailable(UpstreamError):
    """No connection, a broken connection, or a 5xx/429 answer."""

    code = "upstream_unavailable"


class UpstreamTimeout(UpstreamError):
    status = 504
    code = "upstream_timeout"


class UpstreamRefused(UpstreamError):
    """The upstream said no (401, 403 or another 4xx that is not 'not found')."""

    code = "upstream_refused"


class UpstreamNotFound(UpstreamError):
    """A file (not a project page) is not there."""

    code = "upstream_not_found"


class ResponseTooLarge(UpstreamError):
    code = "upstream_response_too_large"


class TooManyRedirects(UpstreamError):
    code = "upstream_too_many_redirects"


class UnsafeRedirect(UpstreamError):
    code = "upstream_unsafe_redirect"


class UpstreamAddressRefused(UpstreamError):
    """At connection time the host resolved to an address Feedhouse does not fetch from."""

    code = "upstream_address_refused"


@dataclass(frozen=True)
class ClientConfig:
    connect_timeout: float = 5.0
    read_timeout: float = 20.0
    page_timeout: float = 45.0  # a whole page fetch, redirects included
    max_page_bytes: int = 32 * 1024 * 1024
    max_file_bytes: int = 1024 * 1024 * 1024
    max_redirects: int = MAX_REDIRECTS
    allow_private: bool = False

    @classmethod
    def from_settings(cls) -> ClientConfig:
        return cls(
            connect_timeout=settings.get_seconds("FEEDHOUSE_UPSTREAM_CONNECT_TIMEOUT"),
            read_timeout=settings.get_seconds("FEEDHOUSE_UPSTREAM_READ_TIMEOUT"),
            page_timeout=settings.get_seconds("FEEDHOUSE_UPSTREAM_PAGE_TIMEOUT"),
            max_page_bytes=settings.get_int("FEEDHOUSE_UPSTREAM_MAX_PAGE_BYTES"),
            max_file_bytes=settings.get_int("FEEDHOUSE_UPSTREAM_MAX_FILE_BYTES"),
            allow_private=settings.get_bool(ALLOW_PRIVATE_SETTING),
        )


def project_page_url(index_url: str, project: str) -> str:
    """``<index>/<normalized project>/``, as pip and uv request it."""
    base = index_url if index_url.endswith("/") else index_url + "/"
    return f"{base}{quote(canonicalize_name(project))}/"


class Download:
    """An upstream file being read: iterate ``chunks()`` for its bytes (raw, not decoded)."""

    def __init__(self, response: urllib3.BaseHTTPResponse, url: str, max_bytes: int, deadline: float | None):
        self._response = response
        self.url = url  # the final URL, after redirects
        self.max_bytes = max_bytes
        self._deadline = deadline
        self.length = untrusted.whole_number(response.headers.get("Content-Length"))
        if self.length is not None and self.length > max_bytes:
            raise ResponseTooLarge(
                f"{display_url(url)} is {self.length} bytes; Feedhouse takes at most {max_bytes}."
            )

    def chunks(self) -> Iterator[bytes]:
        yield from _read_chunks(self._response, self.url, self.max_bytes, self._deadline, decode=False)


def _read_chunks(
    response: urllib3.BaseHTTPResponse, url: str, limit: int, deadline: float | None, *, decode: bool
) -> Iterator[bytes]:
    total = 0
    while True:
        if deadline is not None and time.monotonic() > deadline:
            raise UpstreamTimeout(f"{display_url(url)} took too long to send its response.")
        try:
            chunk = response.read1(_CHUNK, decode_content=decode)
        except ReadTimeoutError:
            raise UpstreamTimeout(f"{display_url(url)} stopped sending (read timeout).") from None
        except (HTTPError, OSError) as exc:
            raise UpstreamUnavailable(
                f"Reading from {display_url(url)} failed ({type(exc).__name__})."
            ) from None
        if not chunk:
            return
        total += len(chunk)
        if total > limit:
            raise ResponseTooLarge(
                f"{display_url(url)} sent more than {limit} bytes, the most Feedhouse takes."
            )
        yield chunk


class UpstreamClient:
    """Fetches from upstreams. Safe to share between threads; it keeps no connections open."""

    def __init__(self, config: ClientConfig | None = None, *, resolver: Resolver | None = None) -> None:
        self.config = config or ClientConfig.from_settings()
        self._resolver = resolver

    # Public ----------------------------------------------------------------------------------------

    def fetch_project_page(
        self, index_url: str, project: str, *, credential: BasicCredential | None = None
    ) -> ProjectPage:
        """The upstream's page for ``project``, or an absent page (exists=False) on 404/410.

        Raises an UpstreamError (or MalformedPage) subclass for anything else; never another exception
        for what the upstream sends.
        """
        url = project_page_url(index_url, project)
        deadline = time.monotonic() + self.config.page_timeout
        headers = {"Accept": ACCEPT, "Accept-Encoding": "gzip, deflate"}
        with self._open(url, headers, credential, deadline) as (response, final_url):
            if response.status in (404, 410):
                return absent_page(canonicalize_name(project))
            self._check_status(response, final_url)
            body = self._read_all(response, final_url, self.config.max_page_bytes, deadline)
            content_type = response.headers.get("Content-Type")
        return parse_project_page(body, content_type, final_url, project)

    def fetch_upstream_page(
        self, upstream: Upstream, project: str, *, pypi_url: str | None = None
    ) -> ProjectPage:
        """``fetch_project_page`` for a configured index or PyPI upstream, with its credential.

        The credential setting is read now, so a missing one is a CredentialUnavailable (502) like
        any upstream failure. Feed upstreams are read from storage, not over HTTP.
        """
        if upstream.kind == FEED:
            raise ValueError("feed upstreams are read from storage, not fetched")
        index_url = upstream.index_url(pypi_url) or ""
        return self.fetch_project_page(index_url, project, credential=upstream.resolve_credential())

    def fetch_small_file(
        self, url: str, *, credential: BasicCredential | None = None, max_bytes: int | None = None
    ) -> bytes:
        """A small file (a .metadata file) read whole; UpstreamNotFound on 404/410."""
        limit = self.config.max_page_bytes if max_bytes is None else max_bytes
        deadline = time.monotonic() + self.config.page_timeout
        headers = {"Accept": "*/*", "Accept-Encoding": "identity"}
        with self._open(url, headers, credential, deadline) as (response, final_url):
            self._check_file_status(response, final_url)
            return self._read_all(response, final_url, limit, deadline, decode=False)

    def fetch_range(
        self, url: str, start: int, length: int, *, size: int, credential: BasicCredential | None = None
    ) -> bytes:
        """Bytes ``start`` to ``start + length`` of a file of ``size`` bytes, asked for as an HTTP range.

        An upstream that sends the whole file instead (200: servers need not honour ranges) is read
        up to the range's end and no further. A 206 must answer the range asked for, of a file of
        ``size`` bytes; a file that ends early is an UpstreamError.
        """
        end = start + length - 1
        headers = {"Accept": "*/*", "Accept-Encoding": "identity", "Range": f"bytes={start}-{end}"}
        with self._open(url, headers, credential, None) as (response, final_url):
            shown = display_url(final_url)
            if response.status == 206:
                answered = _CONTENT_RANGE_RE.fullmatch((response.headers.get("Content-Range") or "").strip())
                if answered is None or answered.groups() != (str(start), str(end), str(size)):
                    raise UpstreamError(
                        f"{shown} answered the range bytes {start}-{end}/{size} with Content-Range "
                        f"{(response.headers.get('Content-Range') or '')[:100]!r}."
                    )
                data = b"".join(_read_chunks(response, final_url, length, None, decode=False))
            else:
                self._check_file_status(response, final_url)
                kept = bytearray()
                position = 0
                limit = self.config.max_file_bytes
                for chunk in _read_chunks(response, final_url, limit, None, decode=False):
                    kept += chunk[max(0, start - position) : max(0, start + length - position)]
                    position += len(chunk)
                    if position >= start + length:
                        break
                data = bytes(kept)
        if len(data) != length:
            raise UpstreamError(f"{shown} ended before the end of the range bytes {start}-{end}/{size}.")
        return data

    @contextlib.contextmanager
    def open_file(
        self,
        url: str,
        *,
        credential: BasicCredential | None = None,
        max_bytes: int | None = None,
        deadline: float | None = None,
    ) -> Iterator[Download]:
        """Open a distribution file for streaming; bytes as stored upstream (no content decoding)."""
        limit = self.config.max_file_bytes if max_bytes is None else max_bytes
        headers = {"Accept": "*/*", "Accept-Encoding": "identity"}
        with self._open(url, headers, credential, deadline) as (response, final_url):
            self._check_file_status(response, final_url)
            yield Download(response, final_url, limit, deadline)

    # Requests ------------------------------------------------------------------------------------------

    @contextlib.contextmanager
    def _open(
        self,
        url: str,
        headers: dict[str, str],
        credential: BasicCredential | None,
        deadline: float | None,
    ) -> Iterator[tuple[urllib3.BaseHTTPResponse, str]]:
        """GET ``url`` following redirects; yields the final response and URL, then closes them."""
        current = url
        for _hop in range(self.config.max_redirects + 1):
            pool, response = self._request_once(current, headers, credential, deadline)
            try:
                if response.status not in REDIRECT_STATUSES:
                    yield response, current
                    return
                current = self._redirect_target(current, response.headers.get("Location"))
            finally:
                response.release_conn()
                pool.close()
        raise TooManyRedirects(
            f"{display_url(url)} redirected more than {self.config.max_redirects} times; giving up."
        )

    def _redirect_target(self, current: str, location: str | None) -> str:
        if not location:
            raise UpstreamError(f"{display_url(current)} redirected without a Location.")
        try:
            target = urljoin(current, location.strip())
            parts = split_fetchable_url(target)
        except UnsafeUpstreamURL:
            raise UnsafeRedirect(
                f"{display_url(current)} redirected to a URL Feedhouse does not follow "
                "(only http(s), without credentials)."
            ) from None
        if urlsplit(current).scheme.lower() == "https" and parts.scheme.lower() != "https":
            raise UnsafeRedirect(f"{display_url(current)} redirected from https to plain http; refused.")
        return urlunsplit((parts.scheme.lower(), parts.netloc, parts.path, parts.query, ""))

    def _request_once(
        self,
        url: str,
        headers: dict[str, str],
        credential: BasicCredential | None,
        deadline: float | None,
    ) -> tuple[urllib3.HTTPConnectionPool, urllib3.BaseHTTPResponse]:
        try:
            parts = split_fetchable_url(url)
        except UnsafeUpstreamURL as exc:
            raise UpstreamAddressRefused(exc.message) from None
        host = parts.hostname or ""
        scheme = parts.scheme.lower()
        port = port_of(parts)
        try:
            addresses = resolve_checked(
                host, port, allow_private=self.config.allow_private, resolver=self._resolver
            )
        except UnsafeUpstreamURL as exc:
            raise UpstreamAddressRefused(exc.message) from None
        except UpstreamHostNotFound as exc:
            raise UpstreamUnavailable(exc.message) from None

        request_headers = {
            **headers,
            "User-Agent": USER_AGENT,
            "Host": _host_header(host, port, scheme),
        }
        if credential is not None and credential.applies_to(url):
            request_headers["Authorization"] = credential.authorization()
        target = urlunsplit(("", "", parts.path or "/", parts.query, ""))

        failure: Exception | None = None
        for address in addresses:
            timeout = self._timeout(deadline, url)
            pool = self._pool(scheme, address, port, host)
            try:
                response = pool.urlopen(
                    "GET",
                    target,
                    headers=request_headers,
                    redirect=False,
                    retries=False,
                    preload_content=False,
                    decode_content=False,
                    timeout=timeout,
                    assert_same_host=False,
                    release_conn=False,
                )
            except (ConnectTimeoutError, NewConnectionError) as exc:
                pool.close()
                failure = exc  # try the host's next address
                continue
            except ReadTimeoutError:
                pool.close()
                raise UpstreamTimeout(f"{display_url(url)} did not answer in time (read timeout).") from None
            except (HTTPError, OSError) as exc:
                pool.close()
                raise UpstreamUnavailable(
                    f"Requesting {display_url(url)} failed ({type(exc).__name__})."
                ) from None
            return pool, response
        # urllib3 raises NewConnectionError for a refused or reset connection, its base for a timeout.
        if isinstance(failure, NewConnectionError):
            raise UpstreamUnavailable(
                f"Could not connect to {display_url(url)} (connection refused or reset)."
            )
        raise UpstreamTimeout(f"Could not connect to {display_url(url)} in time (connect timeout).")

    def _timeout(self, deadline: float | None, url: str) -> urllib3.Timeout:
        connect, read = self.config.connect_timeout, self.config.read_timeout
        if deadline is not None:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise UpstreamTimeout(f"{display_url(url)} took too long (redirects included).")
            connect, read = min(connect, remaining), min(read, remaining)
        return urllib3.Timeout(connect=connect, read=read)

    def _pool(self, scheme: str, address: str, port: int, host: str) -> urllib3.HTTPConnectionPool:
        """A pool that connects to the checked ``address`` while speaking to (and verifying) ``host``."""
        if scheme == "https":
            return urllib3.HTTPSConnectionPool(
                address,
                port,
                maxsize=1,
                retries=False,
                cert_reqs="CERT_REQUIRED",
                server_hostname=host,
                assert_hostname=host,
            )
        return urllib3.HTTPConnectionPool(address, port, maxsize=1, retries=False)

    # Responses -----------------------------------------------------------------------------------------

    def _check_status(self, response: urllib3.BaseHTTPResponse, url: str) -> None:
        status = response.status
        if status == 200:
            return
        shown = display_url(url)
        if status in (401, 403):
            raise UpstreamRefused(
                f"{shown} answered {status}: it refused access. Check the upstream's credential setting."
            )
        if status == 429 or status >= 500:
            raise UpstreamUnavailable(f"{shown} answered {status}; try again later.")
        raise UpstreamRefused(f"{shown} answered {status}, not a project page.")

    def _check_file_status(self, response: urllib3.BaseHTTPResponse, url: str) -> None:
        if response.status in (404, 410):
            raise UpstreamNotFound(f"{display_url(url)} is not there ({response.status}).")
        self._check_status(response, url)

    def _read_all(
        self,
        response: urllib3.BaseHTTPResponse,
        url: str,
        limit: int,
        deadline: float | None,
        *,
        decode: bool = True,
    ) -> bytes:
        length = untrusted.whole_number(response.headers.get("Content-Length"))
        encoded = (response.headers.get("Content-Encoding") or "identity").lower() != "identity"
        if length is not None and not encoded and length > limit:
            raise ResponseTooLarge(
                f"{display_url(url)} is {length} bytes; Feedhouse takes at most {limit} from upstreams."
            )
        return b"".join(_read_chunks(response, url, limit, deadline, decode=decode))


def _host_header(host: str, port: int, scheme: str) -> str:
    shown = f"[{host}]" if ":" in host else host
    return shown if DEFAULT_PORTS.get(scheme) == port else f"{shown}:{port}"
