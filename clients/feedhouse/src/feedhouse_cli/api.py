"""The deployment's JSON API over HTTP.

requests, because it takes proxies (HTTPS_PROXY, NO_PROXY) and CA bundles (REQUESTS_CA_BUNDLE) from the
environment as pip and twine do, streams large downloads (import) and is already beside twine and poetry.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib.metadata import version
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

import requests

from feedhouse_cli.errors import UNREACHABLE, CliError, exit_code_for_status

TIMEOUT = (10, 120)  # seconds to connect, and to wait for each read


def user_agent() -> str:
    return f"feedhouse/{version('feedhouse')} {requests.utils.default_user_agent()}"


def normalize_url(url: str) -> str:
    """A deployment URL as the client keeps it: scheme and host in lower case, no trailing slash.

    Refuses what cannot be a deployment's base URL: another scheme, credentials (a token belongs in the
    credential store, never in a URL that ends up in shell history), a query or fragment."""
    parts = urlsplit(url.strip())
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise CliError(f"{url!r} is not a deployment URL: give one like https://feeds.contoso.com", 2)
    if parts.username or parts.password:
        raise CliError("Leave credentials out of the URL: feedhouse login asks for the token.", 2)
    if parts.query or parts.fragment:
        raise CliError(f"{url!r} has a query or fragment: give the deployment's base URL.", 2)
    netloc = parts.hostname.lower() + (f":{parts.port}" if parts.port else "")
    return urlunsplit((parts.scheme.lower(), netloc, parts.path.rstrip("/"), "", ""))


def segment(value: str) -> str:
    """One path segment, escaped (user names may hold '@' and '+', versions '+')."""
    return quote(value, safe="")


@dataclass
class ServerError:
    status: int
    code: str | None
    message: str


def server_error(response: requests.Response) -> ServerError:
    """The server's own words: the JSON API's ``message``, or the text an upload endpoint sends."""
    code = None
    message = ""
    if "json" in response.headers.get("Content-Type", ""):
        try:
            body = response.json()
        except ValueError:
            body = None
        if isinstance(body, dict):
            code, message = body.get("error"), str(body.get("message") or "")
    if not message:
        message = response.text.strip()[:2000] or response.reason or ""
    return ServerError(response.status_code, code, message)


class Api:
    """Calls to one deployment, with one token (or none)."""

    def __init__(self, url: str, token: str | None) -> None:
        self.url = url
        self.token = token
        self.session = requests.Session()
        self.session.headers["User-Agent"] = user_agent()
        if token:
            self.session.headers["Authorization"] = f"Bearer {token}"

    def get(self, url: str, **kwargs: Any) -> requests.Response:
        """A GET of any URL on the deployment (a page, a file), errors raised as CliError."""
        return self.send("GET", url, **kwargs)

    def send(self, method: str, url: str, **kwargs: Any) -> requests.Response:
        try:
            response = self.session.request(method, url, timeout=TIMEOUT, **kwargs)
        except requests.exceptions.SSLError as error:
            raise CliError(f"cannot reach {self.url}: TLS failed ({error})", UNREACHABLE) from None
        except (requests.exceptions.ConnectionError, requests.exceptions.Timeout) as error:
            raise CliError(f"cannot reach {self.url}: {error}", UNREACHABLE) from None
        return response

    def call(
        self,
        method: str,
        path: str,
        body: Any = None,
        params: dict[str, Any] | None = None,
        *,
        data: bytes | None = None,
    ) -> Any:
        """A JSON API call (with a JSON ``body``, or raw ``data`` such as a lockfile): the decoded
        answer, or CliError with the server's message and an exit code for its status."""
        sent = {"json": body} if data is None else {"data": data}
        response = self.send(method, self.url + path, params=params, **sent)
        if response.status_code >= 400:
            error = server_error(response)
            hint = ""
            if error.status == 401:
                hint = (
                    " (the token was refused: run `feedhouse login` with a live one)"
                    if self.token
                    else " (not logged in: run `feedhouse login <deployment URL>`)"
                )
            raise CliError(
                f"{error.message}{hint} [HTTP {error.status} from {method} {path}]",
                exit_code_for_status(error.status),
            )
        if response.status_code == 204 or not response.content:
            return None
        if "json" not in response.headers.get("Content-Type", ""):
            raise CliError(
                f"{self.url} answered {method} {path} with"
                f" {response.headers.get('Content-Type', 'no content type')}, not JSON:"
                " is it a Feedhouse deployment?",
            )
        return response.json()
