"""Attestations (PEP 740, issue 15), at handler level: a GitHub Actions trusted publisher uploads a file
with attestations made in the test; they are checked, kept as the file's provenance and served where
PyPI serves them; every attestation that is wrong in one way is refused with 400, storing nothing."""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
from datetime import UTC, datetime

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from functions.files import provenance
from functions.packages_api import version_item
from functions.simple import project_detail
from functions.trusted_publishing import oidc_mint_token, trusted_publishers
from functions.upload import upload
from shared import feeds, lifecycle, packages, settings
from shared.http_cache import file_cache_control
from tests.conftest import ADMIN_TOKEN
from tests.functions.test_storage_budgets import Budget
from tests.support.attestations import attestation, statement
from tests.support.coldstart import loaded_at_cold_start
from tests.support.dists import make_sdist, make_wheel
from tests.support.http import basic, json_of, request
from tests.support.multipart import encode, upload_fields
from tests.support.oidc import LocalIssuer, app_settings
from tests.support.publish import call, json_page
from tests.support.upstreams import new_feed

SIMPLE_JSON = {"Accept": "application/vnd.pypi.simple.v1+json"}


@pytest.fixture(scope="module")
def github():
    with LocalIssuer() as running:
        yield running


@pytest.fixture
def publisher(app_env, github, feed_name, monkeypatch):
    """A GitHub Actions publisher of the feed, and a publish token minted for it."""
    with app_settings(monkeypatch, FEEDHOUSE_GITHUB_OIDC_ISSUER=github.url):
        repository = f"contoso-{secrets.token_hex(3)}/widgets"
        registered = trusted_publishers(
            request(
                "POST",
                f"/api/feeds/{feed_name}/trusted-publishers",
                route_params={"feed": feed_name},
                headers=basic(ADMIN_TOKEN),
                json_body={"kind": "github", "repository": repository, "workflow": "release.yml"},
            )
        )
        assert registered.status_code == 201, registered.get_body()
        claims = {
            "sub": f"repo:{repository}:ref:refs/heads/main",
            "repository": repository,
            "job_workflow_ref": f"{repository}/.github/workflows/release.yml@refs/heads/main",
            "ref": "refs/heads/main",
            "event_name": "push",
            "run_id": "1",
        }
        minted = oidc_mint_token(
            request(
                "POST", "/_/oidc/mint-token", json_body={"token": github.issue(claims, audience="feedhouse")}
            )
        )
        assert minted.status_code == 200, minted.get_body()
        yield feed_name, repository, json_of(minted)["token"]


def send(feed: str, token: str, filename: str, data: bytes, name: str, attestations: str | None):
    fields = upload_fields(name, "1.0", filename, data, attestations=attestations)
    body, content_type = encode(fields)
    headers = {"Content-Type": content_type, **basic(token)}
    path = f"/{feed}/upload/"
    return upload(request("POST", path, route_params={"feed": feed}, body=body, headers=headers))


def get_provenance(feed: str, project: str, version: str, filename: str, **headers: str):
    return call(
        provenance,
        "GET",
        f"/{feed}/integrity/{project}/{version}/{filename}/provenance",
        headers=headers,
        feed=feed,
        project=project,
        version=version,
        filename=filename,
    )


def test_attestations_are_kept_and_served_as_provenance(publisher):
    feed, repository, token = publisher
    name = "att-" + secrets.token_hex(3)
    filename, data = make_wheel(name, "1.0")
    sent = attestation(filename, data, repository=repository)
    response = send(feed, token, filename, data, name, json.dumps([sent]))
    assert response.status_code == 200, response.get_body()
    plain_name, plain = make_sdist(name, "1.0")
    assert send(feed, token, plain_name, plain, name, None).status_code == 200

    # PEP 740 in both page formats: a relative URL, only on the file that has attestations.
    url = f"../../integrity/{name}/1.0/{filename}/provenance"
    page = json_page(feed, name)
    assert isinstance(page, dict)
    entries = {f["filename"]: f for f in page["files"]}
    assert entries[filename]["provenance"] == url
    assert "provenance" not in entries[plain_name]
    html = call(project_detail, "GET", f"/{feed}/simple/{name}/", feed=feed, project=name).get_body().decode()
    assert f'data-provenance="{url}"' in html
    assert html.count("data-provenance") == 1

    # Warehouse's provenance object: the publisher is the trusted publisher that uploaded.
    served = get_provenance(feed, name, "1.0", filename)
    assert served.status_code == 200, served.get_body()
    assert served.headers["Content-Type"] == "application/vnd.pypi.integrity.v1+json"
    assert served.headers["Vary"] == "Accept"
    assert served.headers["Cache-Control"] == file_cache_control(public=False)  # as the file itself
    body = json_of(served)
    assert body["version"] == 1
    [bundle] = body["attestation_bundles"]
    assert bundle["publisher"] == {
        "kind": "GitHub",
        "repository": repository,
        "workflow": "release.yml",
        "environment": None,
    }
    assert bundle["attestations"] == [sent]
    again = get_provenance(feed, name, "1.0", filename, **{"If-None-Match": served.headers["ETag"]})
    assert again.status_code == 304
    plain_json = get_provenance(feed, name, "1.0", filename, Accept="application/json")
    assert plain_json.headers["Content-Type"] == "application/json"
    assert json_of(plain_json) == body
    assert get_provenance(feed, name, "1.0", filename, Accept="text/html").status_code == 406
    # Another spelling of the version names the same release, as PyPI's URLs do.
    assert get_provenance(feed, name, "1.0.0", filename).status_code == 200
    assert get_provenance(feed, name, "2.0", filename).status_code == 404
    missing = get_provenance(feed, name, "1.0", plain_name)
    assert missing.status_code == 404
    assert b"No provenance available" in missing.get_body()

    # The package API says which file has attestations.
    path = f"/api/feeds/{feed}/packages/{name}/versions/1.0"
    api = json_of(call(version_item, "GET", path, feed=feed, project=name, version="1.0"))
    files = {f["filename"]: f for f in api["files"]}
    assert files[filename]["provenance"] == f"/{feed}/integrity/{name}/1.0/{filename}/provenance"
    assert files[plain_name]["provenance"] is None


def _wrong_payload(filename: str, data: bytes, **changes: str) -> bytes:
    document = json.loads(statement(filename, data))
    document.update(changes)
    return json.dumps(document).encode()


def refusals(filename: str, data: bytes, repository: str) -> dict[str, tuple[str, str]]:
    """Attestation fields that are wrong in one way each, and a phrase of the message each gets."""

    def one(**wrong) -> str:
        return json.dumps([attestation(filename, data, repository=repository, **wrong)])

    good = attestation(filename, data, repository=repository)
    material, junk = good["verification_material"], base64.b64encode(b"junk").decode()
    nested: list = [1]
    for _ in range(20):
        nested = [nested]
    not_theirs = "identity is not the trusted publisher's"
    other_file = make_wheel("other", "1.0")
    return {
        "not JSON": ("[{", "not JSON"),
        "not an array": (json.dumps(good), "JSON array"),
        "empty": ("[]", "JSON array"),
        "too many": (json.dumps([good] * 9), "at most 8"),
        "too deep": ("[" * 5000 + "]" * 5000, "nests deeper"),
        "deep inside": (json.dumps([{"version": 1, "x": nested}]), "nests deeper"),
        "too big": (json.dumps([good, {"padding": "x" * 300_000}]), "larger than"),
        "not an attestation": (json.dumps([{"version": 1}]), "not a PEP 740 attestation object"),
        "another file's digest": (
            one(payload=statement(filename, data, sha256=hashlib.sha256(b"other").hexdigest())),
            "covers a file with another digest",
        ),
        "another file's name": (one(payload=statement(other_file[0], data)), "is not the uploaded file"),
        "unknown predicate": (
            one(payload=statement(filename, data, predicate_type="https://example.com/mine")),
            "unknown predicate type",
        ),
        "not in-toto": (one(payload=_wrong_payload(filename, data, _type="x")), "not an in-toto statement"),
        "statement not JSON": (one(payload=b"{"), "statement is not JSON"),
        "signed by another key": (
            one(signed_by=ec.generate_private_key(ec.SECP256R1())),
            "not made by the certificate's key",
        ),
        "another repository": (one(certified_repository="mallory/widgets"), not_theirs),
        "another workflow": (one(certified_workflow="evil.yml"), not_theirs),
        "not a certificate": (
            json.dumps([{**good, "verification_material": {**material, "certificate": junk}}]),
            "not a DER X.509 certificate",
        ),
    }


def test_wrong_attestations_are_refused_and_nothing_is_stored(publisher):
    feed, repository, token = publisher
    name = "bad-" + secrets.token_hex(3)
    filename, data = make_wheel(name, "1.0")
    for case, (field, phrase) in refusals(filename, data, repository).items():
        response = send(feed, token, filename, data, name, field)
        assert response.status_code == 400, (case, response.get_body())
        message = response.get_body().decode()
        assert "Invalid attestations" in message and phrase in message, (case, message)
        assert json_page(feed, name) == 404, case


def test_attestations_come_only_from_a_trusted_publisher(publisher):
    feed, repository, _ = publisher
    name = "pat-" + secrets.token_hex(3)
    filename, data = make_wheel(name, "1.0")
    field = json.dumps([attestation(filename, data, repository=repository)])
    response = send(feed, ADMIN_TOKEN, filename, data, name, field)
    assert response.status_code == 400
    assert b"only from a trusted publisher" in response.get_body()
    assert json_page(feed, name) == 404


@pytest.mark.parametrize("accept", ["application/vnd.pypi.simple.v1+json", "text/html"])
def test_a_page_links_provenance_without_reading_it(publisher, monkeypatch, accept):
    """The page document knows which files have a provenance: a page stays one storage request."""
    feed, repository, token = publisher
    name = "budget-" + secrets.token_hex(3)
    filename, data = make_wheel(name, "1.0")
    field = json.dumps([attestation(filename, data, repository=repository)])
    assert send(feed, token, filename, data, name, field).status_code == 200
    budget = Budget(monkeypatch)
    path = f"/{feed}/simple/{name}/"
    response, _whole, serving = budget.measure(
        lambda: call(project_detail, "GET", path, headers={"Accept": accept}, feed=feed, project=name)
    )
    assert response.status_code == 200
    assert b"provenance" in response.get_body()
    assert serving <= 1


def test_with_sigstore_verification_a_certificate_fulcio_did_not_issue_is_refused(publisher, monkeypatch):
    """FEEDHOUSE_ATTESTATION_VERIFICATION=sigstore: the self-made certificate that passes every
    structural check fails Sigstore's (tests/shared/test_attestations.py shows a real one passing)."""
    feed, repository, token = publisher
    monkeypatch.setenv("FEEDHOUSE_ATTESTATION_VERIFICATION", "sigstore")
    settings.load.cache_clear()
    name = "sig-" + secrets.token_hex(3)
    filename, data = make_wheel(name, "1.0")
    field = json.dumps([attestation(filename, data, repository=repository)])
    response = send(feed, token, filename, data, name, field)
    assert response.status_code == 400
    assert b"Sigstore verification failed" in response.get_body()
    assert json_page(feed, name) == 404


def test_the_app_starts_without_importing_sigstore():
    """pypi-attestations and sigstore (seconds of imports) load with the first upload that carries
    attestations, never on a cold start."""
    assert loaded_at_cold_start("pypi_attestations", "sigstore", "sigstore_models", "tuf") == []


def test_a_feed_listing_another_feeds_attested_file_links_no_provenance(publisher, upstream_settings):
    """The provenance is served by the feed that holds the file: a downstream feed's page, whose URLs
    are its own, links none rather than one that answers 404."""
    feed, repository, token = publisher
    name = "up-" + secrets.token_hex(3)
    filename, data = make_wheel(name, "1.0")
    field = json.dumps([attestation(filename, data, repository=repository)])
    assert send(feed, token, filename, data, name, field).status_code == 200
    downstream = new_feed([{"type": "feed", "feed": feed}])
    page = json_page(downstream, name)
    assert isinstance(page, dict), page
    [entry] = page["files"]
    assert entry["filename"] == filename and "provenance" not in entry


def test_purging_a_file_deletes_its_provenance(publisher, storage):
    feed_name, repository, token = publisher
    name = "purge-" + secrets.token_hex(3)
    filename, data = make_wheel(name, "1.0")
    field = json.dumps([attestation(filename, data, repository=repository)])
    assert send(feed_name, token, filename, data, name, field).status_code == 200
    feed = feeds.find_feed(storage, feed_name)
    stored = packages.get_file(storage, feed.key, name, filename)
    assert stored.provenance_blob and storage.blob_info(stored.provenance_blob) is not None
    now = datetime.now(UTC)
    lifecycle.delete_version(storage, feed.key, name, "1.0", by="admin", now=now)
    assert get_provenance(feed_name, name, "1.0", filename).status_code == 404  # in the bin: not served
    lifecycle.purge_version(storage, feed.key, name, "1.0", now=now)
    assert storage.blob_info(stored.provenance_blob) is None


def test_provenance_links_resolve_from_a_view_and_an_as_of_page(publisher):
    """The pages' relative provenance links, followed from a view's page and an as-of page, lead to the
    provenance (through a view only once the version is promoted into it)."""
    from functions.files import provenance_as_of
    from functions.packages_api import version_views
    from shared.packages import format_time

    feed, repository, token = publisher
    name = "att-" + secrets.token_hex(3)
    filename, data = make_wheel(name, "1.0")
    sent = attestation(filename, data, repository=repository)
    assert send(feed, token, filename, data, name, json.dumps([sent])).status_code == 200

    view = f"{feed}@release"
    assert get_provenance(view, name, "1.0", filename).status_code == 404  # not promoted yet
    promoted = call(
        version_views,
        "POST",
        "/",
        json_body={"view": "release"},
        feed=feed,
        project=name,
        version="1.0",
    )
    assert promoted.status_code == 200, promoted.get_body()
    assert get_provenance(view, name, "1.0", filename).status_code == 200

    moment = format_time(datetime.now(UTC))
    route = {"feed": feed, "moment": moment, "project": name, "version": "1.0", "filename": filename}
    assert call(provenance_as_of, "GET", "/", **route).status_code == 200
    assert call(provenance_as_of, "GET", "/", **{**route, "moment": "not-a-time"}).status_code == 400
