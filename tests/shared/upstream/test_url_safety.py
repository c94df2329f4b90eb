import ipaddress

import pytest

from shared.upstream.url_safety import (
    UnsafeUpstreamURL,
    UpstreamHostNotFound,
    address_refusal,
    check_fetchable_url,
    display_url,
    resolve_checked,
    split_fetchable_url,
)


def resolver_for(*addresses: str):
    calls = []

    def resolve(host: str, port: int) -> list[str]:
        calls.append((host, port))
        return list(addresses)

    resolve.calls = calls
    return resolve


@pytest.mark.parametrize(
    "url",
    [
        "ftp://example.com/simple/",
        "file:///etc/passwd",
        "gopher://example.com/",
        "javascript:alert(1)",
        "//example.com/simple/",
        "https:///simple/",
        "https://user:secret@example.com/simple/",
        "https://token@example.com/simple/",
        "https://example.com:0/simple/",
        "https://example.com:99999/simple/",
        "https://exa mple.com/",
        "https://example.com/\x00/",
        "https://exämple.com/",
        "",
        "https://example.com/" + "a" * 2100,
    ],
)
def test_url_form_refusals(url):
    with pytest.raises(UnsafeUpstreamURL):
        split_fetchable_url(url)


def test_credentials_in_url_point_to_the_credential_setting():
    with pytest.raises(UnsafeUpstreamURL, match="app setting"):
        split_fetchable_url("https://user:secret@example.com/simple/")


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "127.1.2.3",
        "::1",
        "10.0.0.1",
        "172.16.0.1",
        "172.31.255.255",
        "192.168.1.1",
        "fc00::1",
        "fd12:3456::1",
        "100.64.0.1",
    ],
)
def test_loopback_and_private_are_refused_unless_allowed(address):
    ip = ipaddress.ip_address(address)
    assert address_refusal(ip, allow_private=False) is not None
    assert address_refusal(ip, allow_private=True) is None


@pytest.mark.parametrize(
    "address",
    [
        "169.254.169.254",  # instance metadata (managed identity tokens)
        "169.254.0.1",
        "fe80::1",
        "168.63.129.16",
        "fd00:ec2::254",
        "0.0.0.0",  # noqa: S104
        "0.1.2.3",
        "::",
        "224.0.0.1",
        "ff02::1",
        "240.0.0.1",
        "255.255.255.255",
        "::ffff:169.254.169.254",  # IPv4-mapped
        "64:ff9b::a9fe:a9fe",  # NAT64 of 169.254.169.254
        "2002:a9fe:a9fe::1",  # 6to4 of 169.254.169.254
    ],
)
def test_metadata_link_local_and_special_addresses_are_refused_even_when_private_is_allowed(address):
    ip = ipaddress.ip_address(address)
    assert address_refusal(ip, allow_private=False) is not None
    assert address_refusal(ip, allow_private=True) is not None


@pytest.mark.parametrize("address", ["::ffff:127.0.0.1", "64:ff9b::7f00:1", "2002:0a00:0001::1"])
def test_embedded_private_ipv4_is_refused(address):
    assert address_refusal(ipaddress.ip_address(address), allow_private=False) is not None


@pytest.mark.parametrize("address", ["93.184.216.34", "151.101.0.223", "2a04:4e42::223"])
def test_public_addresses_pass(address):
    assert address_refusal(ipaddress.ip_address(address), allow_private=False) is None


def test_metadata_ip_url_is_refused_with_a_clear_message():
    with pytest.raises(UnsafeUpstreamURL, match=r"169\.254\.169\.254.*metadata"):
        check_fetchable_url("http://169.254.169.254/metadata/identity/oauth2/token", allow_private=True)


def test_hostname_resolving_to_loopback_is_refused_with_the_real_resolver():
    # localhost resolves through /etc/hosts: no network involved.
    with pytest.raises(UnsafeUpstreamURL, match=r"'localhost' \(which resolves to .*loopback.*ALLOW_PRIVATE"):
        check_fetchable_url("http://localhost:8080/simple/", allow_private=False)
    assert check_fetchable_url("http://localhost:8080/simple/", allow_private=True)


def test_a_name_with_one_internal_address_among_public_ones_is_refused():
    resolve = resolver_for("93.184.216.34", "10.1.2.3")
    with pytest.raises(UnsafeUpstreamURL, match=r"10\.1\.2\.3"):
        check_fetchable_url("https://mirror.example/simple/", allow_private=False, resolver=resolve)
    assert resolve.calls == [("mirror.example", 443)]


def test_public_resolution_passes_and_returns_the_addresses():
    resolve = resolver_for("93.184.216.34")
    assert check_fetchable_url(
        "http://mirror.example:8080/simple/", allow_private=False, resolver=resolve
    ) == ["93.184.216.34"]
    assert resolve.calls == [("mirror.example", 8080)]


def test_literal_addresses_are_not_resolved():
    resolve = resolver_for("93.184.216.34")
    with pytest.raises(UnsafeUpstreamURL):
        check_fetchable_url("http://[::1]:8080/simple/", allow_private=False, resolver=resolve)
    assert resolve.calls == []


def test_unresolvable_hosts_are_named():
    def fail(host, port):
        raise OSError("no such host")

    with pytest.raises(UpstreamHostNotFound, match=r"'nowhere\.invalid'"):
        resolve_checked("nowhere.invalid", 443, allow_private=False, resolver=fail)
    with pytest.raises(UpstreamHostNotFound):
        resolve_checked("nowhere.invalid", 443, allow_private=False, resolver=resolver_for())


def test_the_managed_identity_endpoint_is_refused_even_when_private_is_allowed(monkeypatch):
    monkeypatch.setenv("IDENTITY_ENDPOINT", "http://127.0.0.1:41741/MSI/token/")
    with pytest.raises(UnsafeUpstreamURL, match="managed-identity"):
        check_fetchable_url("http://127.0.0.1:41741/simple/", allow_private=True)
    assert check_fetchable_url("http://127.0.0.1:41742/simple/", allow_private=True) == ["127.0.0.1"]


def test_display_url_drops_credentials_query_and_fragment():
    assert (
        display_url("https://u:p@files.example:8443/a/b.whl?sig=secret#sha256=ab")
        == "https://files.example:8443/a/b.whl"
    )
    assert display_url("http://[::1]:80/x") == "http://[::1]:80/x"
