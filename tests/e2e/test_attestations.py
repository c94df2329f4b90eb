"""Attestations with the real clients (PEP 740, issue 15): twine ``upload --attestations`` and ``uv
publish`` send the ``<dist>.publish.attestation`` files beside each dist with a trusted publisher's
minted token; pip still installs, the JSON page links each file's provenance, and the provenance names
the publisher. An attestation of other bytes is refused, and twine shows why."""

from __future__ import annotations

import json
import secrets
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

from tests.conftest import ADMIN_TOKEN
from tests.e2e.api import call, create_feed, fetch, index_url, installed, unique
from tests.support.attestations import attestation
from tests.support.dists import build_project
from tests.support.oidc import LocalIssuer, app_settings

pytestmark = pytest.mark.e2e


@pytest.fixture
def github(server, monkeypatch):
    with LocalIssuer() as issuer, app_settings(monkeypatch, FEEDHOUSE_GITHUB_OIDC_ISSUER=issuer.url):
        yield issuer


def _minted(server, github, repository: str) -> str:
    claims = {
        "sub": f"repo:{repository}:ref:refs/tags/v1.0",
        "repository": repository,
        "job_workflow_ref": f"{repository}/.github/workflows/release.yml@refs/tags/v1.0",
        "ref": "refs/tags/v1.0",
        "event_name": "push",
        "run_id": "42",
    }
    request = urllib.request.Request(
        f"{server.url}/_/oidc/mint-token",
        data=json.dumps({"token": github.issue(claims, audience="feedhouse")}).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request) as response:
        return json.load(response)["token"]


def _json_page(url: str) -> dict:
    headers = {"Accept": "application/vnd.pypi.simple.v1+json", "Authorization": f"Bearer {ADMIN_TOKEN}"}
    request = urllib.request.Request(url, headers=headers)
    with urllib.request.urlopen(request) as response:
        return json.load(response)


def _attest(dists: list[Path], repository: str) -> list[Path]:
    """Write ``<dist>.publish.attestation`` beside each dist, as pypa/gh-action-pypi-publish does."""
    written = []
    for dist in dists:
        path = dist.with_name(dist.name + ".publish.attestation")
        path.write_text(json.dumps(attestation(dist.name, dist.read_bytes(), repository=repository)))
        written.append(path)
    return written


def test_twine_uploads_attestations_and_pages_link_the_provenance(server, github, clients, tmp_path):
    feed = create_feed(server)
    repository = f"contoso-{secrets.token_hex(3)}/widgets"
    status, body = call(
        server,
        "POST",
        f"/api/feeds/{feed}/trusted-publishers",
        {"kind": "github", "repository": repository, "workflow": "release.yml"},
    )
    assert status == 201, body
    token = _minted(server, github, repository)

    name = unique("fh-att")
    dists = build_project(tmp_path / "build", name, "1.0")
    attestations = _attest(dists, repository)
    clients.twine_upload(f"{server.url}/{feed}/upload/", token, "--attestations", *dists, *attestations)

    target = tmp_path / "t"
    clients.pip_install(index_url(server, feed), target, f"{name}==1.0")
    assert installed(target) == {f"{name.replace('-', '_')}-1.0.dist-info"}

    page_url = f"{server.url}/{feed}/simple/{name}/"
    page = _json_page(page_url)
    assert {f["filename"] for f in page["files"]} == {d.name for d in dists}
    for entry in page["files"]:
        provenance = json.loads(fetch(urllib.parse.urljoin(page_url, entry["provenance"])))
        [bundle] = provenance["attestation_bundles"]
        assert bundle["publisher"]["repository"] == repository
        sent = dists[0].with_name(entry["filename"] + ".publish.attestation")
        assert bundle["attestations"] == [json.loads(sent.read_text())]
    assert "data-provenance=" in fetch(page_url)

    # An attestation of other bytes (the 1.0 wheel's) sent with the 2.0 wheel: refused, nothing stored.
    [wheel] = [d for d in build_project(tmp_path / "two", name, "2.0") if d.suffix == ".whl"]
    wrong = wheel.with_name(wheel.name + ".publish.attestation")
    [old_wheel] = [d for d in dists if d.suffix == ".whl"]
    wrong.write_text(json.dumps(attestation(wheel.name, old_wheel.read_bytes(), repository=repository)))
    refused = clients.twine_upload(
        f"{server.url}/{feed}/upload/", token, "--attestations", wheel, wrong, check=False
    )
    assert refused.returncode != 0
    said = " ".join((refused.stdout + refused.stderr).split())  # twine's console wraps long lines
    assert "400" in said and "covers a file with another digest" in said, said
    assert _json_page(page_url)["versions"] == ["1.0"]

    # uv publish groups attestation files with their dists as twine does, and sends them unasked.
    third = build_project(tmp_path / "three", name, "3.0")
    clients.uv_publish(f"{server.url}/{feed}/upload/", token, *third, *_attest(third, repository))
    with_provenance = {f["filename"] for f in _json_page(page_url)["files"] if "provenance" in f}
    assert with_provenance == {d.name for d in [*dists, *third]}
