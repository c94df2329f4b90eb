"""Which URLs Feedhouse may fetch from on a feed owner's say-so.

A feed owner chooses upstream URLs, and the app fetches them from inside its own network position:
without these checks an owner could point an upstream at the instance metadata service
(169.254.169.254) and read the app's managed-identity token through the feed. So Feedhouse fetches
only over http(s) and only from addresses on the public internet. Every check resolves the host and
looks at every address it resolves to; the HTTP client connects to an address checked here, never
to a name resolved again later (DNS can change between the check and the connection).

FEEDHOUSE_UPSTREAM_ALLOW_PRIVATE=true admits loopback and private networks (tests, a mirror on a
private network). Link-local addresses, cloud metadata and platform addresses, and the app's own
managed-identity endpoint stay refused whatever the setting says.
"""

from __future__ import annotations

import ipaddress
import os
import socket
from collections.abc import Callable
from urllib.parse import SplitResult, urlsplit

from shared.errors import BadRequest

ALLOWED_SCHEMES = ("http", "https")
DEFAULT_PORTS = {"http": 80, "https": 443}
MAX_URL_LENGTH = 2048
ALLOW_PRIVATE_SETTING = "FEEDHOUSE_UPSTREAM_ALLOW_PRIVATE"

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
# (host, port) -> the addresses it resolves to, as strings.
Resolver = Callable[[str, int], list[str]]

# Never fetched from, whatever the setting: metadata services and platform endpoints.
_METADATA_NETWORKS = tuple(
    ipaddress.ip_network(n)
    for n in (
        "169.254.169.254/32",  # Azure (and AWS, GCP) instance metadata service: managed-identity tokens
        "168.63.129.16/32",  # Azure platform virtual IP (WireServer, DNS, health probes)
        "fd00:ec2::254/128",  # AWS instance metadata over IPv6
    )
)
_THIS_NETWORK = ipaddress.ip_network("0.0.0.0/8")
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
# Environment variables naming the app's managed-identity endpoint (App Service, Functions).
_IDENTITY_ENDPOINT_VARIABLES = ("IDENTITY_ENDPOINT", "MSI_ENDPOINT")


class UnsafeUpstreamURL(BadRequest):
    """The URL is not one Feedhouse fetches from: wrong scheme, or a host on a refused network."""

    code = "unsafe_upstream_url"


class UpstreamHostNotFound(BadRequest):
    code = "upstream_host_not_found"


def allow_private_from_settings() -> bool:
    from shared import settings

    return settings.get_bool(ALLOW_PRIVATE_SETTING)


def display_url(url: str, *, with_path: bool = True) -> str:
    """A URL safe to show or log: scheme, host, port and (unless ``with_path`` is false) path; never
    credentials, query or fragment."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = parts.port
    except ValueError:
        return "(an unparseable URL)"
    if ":" in host:
        host = f"[{host}]"
    netloc = f"{host}:{port}" if port else host
    return SplitResult(parts.scheme.lower(), netloc, parts.path if with_path else "", "", "").geturl()


def split_fetchable_url(url: str) -> SplitResult:
    """Check a URL's form: http(s), a host, no credentials in it. Returns its parts."""
    if not isinstance(url, str) or not url:
        raise UnsafeUpstreamURL("An upstream URL is required.")
    if len(url) > MAX_URL_LENGTH:
        raise UnsafeUpstreamURL(f"Upstream URLs are at most {MAX_URL_LENGTH} characters long.")
    if not url.isascii() or any(c.isspace() or ord(c) < 32 or ord(c) == 127 for c in url):
        raise UnsafeUpstreamURL(
            "Upstream URLs use printable ASCII without spaces; percent-encode anything else."
        )
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise UnsafeUpstreamURL(f"'{display_url(url)}' is not a valid URL ({exc}).") from None
    if parts.scheme.lower() not in ALLOWED_SCHEMES:
        raise UnsafeUpstreamURL(
            f"Upstream URLs must start with https:// (or http://), not '{parts.scheme or url[:20]}'."
        )
    if not parts.hostname:
        raise UnsafeUpstreamURL(f"'{display_url(url)}' has no host name.")
    if parts.username is not None or parts.password is not None:
        raise UnsafeUpstreamURL(
            "Do not put credentials in an upstream URL: store them in an app setting and give its "
            "name as the upstream's 'credential'."
        )
    if port == 0:
        raise UnsafeUpstreamURL(f"'{display_url(url)}' names port 0.")
    return parts


def port_of(parts: SplitResult) -> int:
    return parts.port or DEFAULT_PORTS[parts.scheme.lower()]


def _embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address carries (mapped, 6to4, Teredo, NAT64), if any."""
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address.teredo is not None:
        return address.teredo[1]
    if address in _NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def _identity_endpoints() -> set[tuple[str, int]]:
    endpoints = set()
    for variable in _IDENTITY_ENDPOINT_VARIABLES:
        value = os.environ.get(variable)
        if not value:
            continue
        try:
            parts = urlsplit(value)
            if parts.hostname and parts.scheme in DEFAULT_PORTS:
                endpoints.add((parts.hostname.lower(), port_of(parts)))
        except ValueError:
            continue
    return endpoints


def address_refusal(address: IPAddress, *, allow_private: bool) -> str | None:
    """Why Feedhouse must not connect to ``address``, or None if it may."""
    if isinstance(address, ipaddress.IPv6Address):
        embedded = _embedded_ipv4(address)
        if embedded is not None:
            return address_refusal(embedded, allow_private=allow_private)
    if any(address in network for network in _METADATA_NETWORKS):
        return "a cloud metadata or platform address, which Feedhouse never fetches from"
    if address.is_link_local:
        return "a link-local address, which Feedhouse never fetches from"
    if address.is_unspecified or (isinstance(address, ipaddress.IPv4Address) and address in _THIS_NETWORK):
        return "an unspecified address"
    if address.is_multicast:
        return "a multicast address"
    if address.is_loopback:
        return None if allow_private else "a loopback address"
    if address.is_reserved:
        return "a reserved address"
    if address.is_global or allow_private:
        return None
    return "a private (non-public) address"


def default_resolver(host: str, port: int) -> list[str]:
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    addresses: list[str] = []
    for _family, _type, _proto, _canonname, sockaddr in infos:
        # An IPv6 link-local result may carry a zone ("fe80::1%eth0").
        address = str(sockaddr[0]).split("%", 1)[0]
        if address not in addresses:
            addresses.append(address)
    return addresses


def resolve_checked(
    host: str, port: int, *, allow_private: bool, resolver: Resolver | None = None
) -> list[str]:
    """Resolve ``host`` and return its addresses, refusing the host if ANY of them is refused.

    Refusing on any (rather than skipping the bad ones) keeps a name that resolves to both a public
    and an internal address from ever reaching the internal one.
    """
    try:
        literal: IPAddress | None = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        literal = None
    if literal is not None:
        raw = [str(literal)]
    else:
        try:
            raw = (resolver or default_resolver)(host, port)
        except (OSError, UnicodeError) as exc:
            raise UpstreamHostNotFound(
                f"The upstream host '{host}' could not be resolved ({type(exc).__name__}); check the URL."
            ) from None
        if not raw:
            raise UpstreamHostNotFound(f"The upstream host '{host}' resolves to no address; check the URL.")
    identity = _identity_endpoints()
    checked: list[str] = []
    for value in raw:
        try:
            address = ipaddress.ip_address(value)
        except ValueError:
            raise UpstreamHostNotFound(f"The upstream host '{host}' gave an invalid address.") from None
        reason = address_refusal(address, allow_private=allow_private)
        if reason is None and ((str(address), port) in identity or (host.lower(), port) in identity):
            reason = "the app's own managed-identity endpoint, which Feedhouse never fetches from"
        if reason is not None:
            subject = f"'{host}'" if literal is not None else f"'{host}' (which resolves to {address})"
            hint = (
                ""
                if "never" in reason or allow_private
                else " Use a host on the public internet, or ask the deployment's administrator to set "
                f"{ALLOW_PRIVATE_SETTING}=true for a mirror on a private network."
            )
            raise UnsafeUpstreamURL(f"Refused upstream host {subject}: it is {reason}.{hint}")
        checked.append(str(address))
    return checked


def check_fetchable_url(url: str, *, allow_private: bool, resolver: Resolver | None = None) -> list[str]:
    """Check a URL completely (form, then every address its host resolves to); its addresses."""
    parts = split_fetchable_url(url)
    return resolve_checked(
        parts.hostname or "", port_of(parts), allow_private=allow_private, resolver=resolver
    )
