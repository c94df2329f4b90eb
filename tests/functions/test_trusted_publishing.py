"""Trusted publishing (issue 15), at handler level: a feed owner registers publishers, a CI token from
the local provider (standing in for GitHub Actions) is exchanged for a short-lived publish token, and
every token that is not the registered workflow's is refused with 422 and a reason."""

from __future__ import annotations

import secrets
import time

import pytest

from functions.tokens_api import whoami
from functions.trusted_publishing import (
    oidc_audience,
    oidc_burn_token,
    oidc_mint_token,
    trusted_publisher,
    trusted_publishers,
)
from functions.upload import upload
from shared import oidc
from tests.conftest import ADMIN_TOKEN
from tests.support.dists import make_wheel
from tests.support.http import basic, json_of, request
from tests.support.multipart import encode, upload_fields
from tests.support.oidc import LocalIssuer, app_settings


@pytest.fixture(scope="module")
def github():
    with LocalIssuer() as running:
        yield running


@pytest.fixture
def exchange(app_env, github, monkeypatch):
    with app_settings(monkeypatch, FEEDHOUSE_GITHUB_OIDC_ISSUER=github.url):
        yield github


def register(feed: str, body: dict, headers=None):
    return trusted_publishers(
        request(
            "POST",
            f"/api/feeds/{feed}/trusted-publishers",
            route_params={"feed": feed},
            headers=headers or basic(ADMIN_TOKEN),
            json_body=body,
        )
    )


def actions_claims(repository: str, workflow: str = "release.yml", **extra) -> dict:
    """Claims as GitHub Actions puts them in a job's token."""
    owner = repository.split("/")[0]
    return {
        "sub": f"repo:{repository}:ref:refs/heads/main",
        "repository": repository,
        "repository_owner": owner,
        "repository_owner_id": "1234",
        "workflow_ref": f"{repository}/.github/workflows/{workflow}@refs/heads/main",
        "job_workflow_ref": f"{repository}/.github/workflows/{workflow}@refs/heads/main",
        "ref": "refs/heads/main",
        "sha": secrets.token_hex(20),
        "event_name": "push",
        "run_id": "987654",
        **extra,
    }


def mint(token: str):
    return oidc_mint_token(request("POST", "/_/oidc/mint-token", json_body={"token": token}))


@pytest.fixture
def publisher(exchange, feed_name):
    repository = f"contoso-{secrets.token_hex(3)}/widgets"
    response = register(
        feed_name,
        {"kind": "github", "repository": repository, "workflow": "release.yml", "environment": "pypi"},
    )
    assert response.status_code == 201, response.get_body()
    return feed_name, repository, json_of(response)


def test_the_audience_endpoint_answers_the_configured_audience(app_env):
    response = oidc_audience(request("GET", "/_/oidc/audience"))
    assert response.status_code == 200
    assert json_of(response) == {"audience": "feedhouse"}


def test_a_registered_workflow_gets_a_short_lived_publish_token_for_its_feed(publisher, exchange):
    feed, repository, registered = publisher
    assert registered["user"] == f"publisher:{registered['id']}"
    listed = trusted_publishers(request("GET", "/", route_params={"feed": feed}, headers=basic(ADMIN_TOKEN)))
    assert [p["id"] for p in json_of(listed)["trusted_publishers"]] == [registered["id"]]

    token = exchange.issue(actions_claims(repository, environment="PyPI"), audience="feedhouse")
    response = mint(token)
    assert response.status_code == 200, response.get_body()
    body = json_of(response)
    assert body["success"] is True
    assert 14 * 60 <= body["expires"] - time.time() <= 15 * 60
    me = json_of(whoami(request("GET", "/api/whoami", headers=basic(body["token"]))))
    assert me["user"] == registered["user"]
    assert me["token"]["scope"] == "publish" and me["token"]["feeds"] == [feed.lower()]
    assert "release.yml@refs/heads/main run 987654" in me["token"]["name"]

    name = "tp-" + secrets.token_hex(3)
    filename, data = make_wheel(name, "1.0")
    form, content_type = encode(upload_fields(name, "1.0", filename, data))
    headers = {"Content-Type": content_type, **basic(body["token"])}
    uploaded = upload(
        request("POST", f"/{feed}/upload/", route_params={"feed": feed}, body=form, headers=headers)
    )
    assert uploaded.status_code == 200, uploaded.get_body()

    # uv burns the token after its upload; then it is gone.
    burnt = oidc_burn_token(request("POST", "/_/oidc/burn-token", json_body={"token": body["token"]}))
    assert burnt.status_code == 202
    assert whoami(request("GET", "/api/whoami", headers=basic(body["token"]))).status_code == 401


def refused(response, code: str, *words: str) -> None:
    assert response.status_code == 422, response.get_body()
    body = json_of(response)
    assert body["message"] == "Token request failed"
    [error] = body["errors"]
    assert error["code"] == code, error
    for word in words:
        assert word in error["description"], error["description"]


def test_tokens_that_are_not_the_registered_workflows_are_refused(publisher, exchange):
    _, repository, _ = publisher
    now = int(time.time())
    good = {"environment": "pypi"}
    cases = [
        (actions_claims(f"{repository}-fork", **good), "invalid-publisher", "no trusted publisher"),
        (actions_claims(repository, "ci.yml", **good), "invalid-publisher", "ci.yml"),
        (actions_claims(repository, environment="staging"), "invalid-publisher", "environment 'staging'"),
        (actions_claims(repository), "invalid-publisher", "environment None"),
        (actions_claims(repository, event_name="pull_request", **good), "invalid-publisher", "fork"),
        (actions_claims(repository, event_name="pull_request_target", **good), "invalid-publisher", "fork"),
        (
            actions_claims(repository, exp=now - 60, iat=now - 700, nbf=now - 700, **good),
            "invalid-token",
            "expired",
        ),
    ]
    for claims, code, word in cases:
        refused(mint(exchange.issue(claims, audience="feedhouse")), code, word)
    refused(
        mint(exchange.issue(actions_claims(repository, **good), audience="pypi")), "invalid-token", "audience"
    )
    with LocalIssuer() as stranger:
        forged = stranger.issue(
            {**actions_claims(repository, **good), "iss": exchange.url}, audience="feedhouse"
        )
        refused(mint(forged), "invalid-token", "does not publish")
    refused(mint("not-a-jwt"), "invalid-payload")
    refused(oidc_mint_token(request("POST", "/_/oidc/mint-token", json_body={"nope": 1})), "invalid-payload")


def test_removing_a_publisher_ends_its_tokens(publisher, exchange):
    feed, repository, registered = publisher
    body = json_of(mint(exchange.issue(actions_claims(repository, environment="pypi"), audience="feedhouse")))
    removed = trusted_publisher(
        request(
            "DELETE",
            "/",
            route_params={"feed": feed, "publisher_id": registered["id"]},
            headers=basic(ADMIN_TOKEN),
        )
    )
    assert removed.status_code == 204
    assert whoami(request("GET", "/api/whoami", headers=basic(body["token"]))).status_code == 401
    refused(
        mint(exchange.issue(actions_claims(repository, environment="pypi"), audience="feedhouse")),
        "invalid-publisher",
    )


@pytest.mark.parametrize(
    ("body", "word"),
    [
        ({"kind": "github", "repository": "no-slash", "workflow": "r.yml"}, "owner/name"),
        ({"kind": "github", "repository": "o/r", "workflow": "../r.yml"}, "workflow"),
        ({"kind": "github", "repository": "o/r", "workflow": "r.yml", "extra": 1}, "Unknown"),
        ({"kind": "oidc", "issuer": "http://idp.example", "claims": {"sub": "x"}}, "https"),
        ({"kind": "oidc", "issuer": "https://idp.example", "claims": {"aud": "x"}}, "'sub'"),
        ({"kind": "azure-devops", "organization_id": "nope"}, "GUID"),
        ({"kind": "gitlab"}, "kind"),
    ],
)
def test_registrations_are_validated(app_env, feed_name, body, word):
    response = register(feed_name, body)
    assert response.status_code == 400
    assert word in json_of(response)["message"]


def test_a_publishers_role_is_not_granted_by_hand(app_env, feed_name):
    from functions.feeds_api import feed_permission

    response = feed_permission(
        request(
            "PUT",
            "/",
            route_params={"feed": feed_name, "user": "publisher:0123456789abcdef"},
            headers=basic(ADMIN_TOKEN),
            json_body={"role": "owner"},
        )
    )
    assert response.status_code == 400


def test_deleting_the_feed_forgets_its_publishers(publisher, exchange, storage):
    from shared import feeds, trusted_publishing
    from tests.support.stored import key_of

    feed, repository, _ = publisher
    key = key_of(feed)
    minted = json_of(
        mint(exchange.issue(actions_claims(repository, environment="pypi"), audience="feedhouse"))
    )
    feeds.delete_feed(storage, feed, by="admin")
    # In the recycle bin the publishers stay, for a restore, but mint nothing for the deleted feed.
    assert len(trusted_publishing.list_publishers(storage, key)) == 1
    refused(
        mint(exchange.issue(actions_claims(repository, environment="pypi"), audience="feedhouse")),
        "invalid-publisher",
        "was deleted",
    )
    feeds.purge_feed(storage, feed)
    assert trusted_publishing.list_publishers(storage, key) == []
    assert whoami(request("GET", "/api/whoami", headers=basic(minted["token"]))).status_code == 401
    refused(
        mint(exchange.issue(actions_claims(repository, environment="pypi"), audience="feedhouse")),
        "invalid-publisher",
        "no trusted publisher",
    )


def test_a_generic_issuer_publishes_with_its_required_claims(upstream_settings, feed_name, tmp_path):
    """Any https OpenID Connect provider: the registered claims must all hold exactly."""
    from tests.support.tls import loopback_certificate

    ca_file, context = loopback_certificate(tmp_path)
    upstream_settings.setenv("SSL_CERT_FILE", str(ca_file))  # the app trusts the local CA
    oidc.forget_issuers()
    with LocalIssuer(ssl_context=context) as provider:
        subject = f"project_path:web/widgets-{secrets.token_hex(3)}:ref_type:tag"
        response = register(
            feed_name,
            {
                "kind": "oidc",
                "issuer": provider.url,
                "claims": {"sub": subject, "project_path": "web/widgets"},
            },
        )
        assert response.status_code == 201, response.get_body()
        good = {"sub": subject, "project_path": "web/widgets"}
        minted = mint(provider.issue(good, audience="feedhouse"))
        assert minted.status_code == 200, minted.get_body()
        refused(
            mint(provider.issue({**good, "project_path": "web/other"}, audience="feedhouse")),
            "invalid-publisher",
            "project_path",
        )
        refused(
            mint(provider.issue({**good, "sub": "other"}, audience="feedhouse")),
            "invalid-publisher",
            "No trusted publisher",
        )
    oidc.forget_issuers()


def test_a_generic_issuer_on_a_private_network_is_refused(app_env, feed_name):
    response = register(
        feed_name, {"kind": "oidc", "issuer": "https://127.0.0.1:8443", "claims": {"sub": "x"}}
    )
    assert response.status_code == 400


def test_a_ci_token_is_exchanged_once(publisher, exchange):
    _, repository, _ = publisher
    token = exchange.issue(actions_claims(repository, environment="pypi"), audience="feedhouse")
    assert mint(token).status_code == 200
    refused(mint(token), "invalid-reuse-token", "once")
    no_jti = exchange.issue(
        {**actions_claims(repository, environment="pypi"), "jti": None}, audience="feedhouse"
    )
    refused(mint(no_jti), "invalid-token", "jti")
