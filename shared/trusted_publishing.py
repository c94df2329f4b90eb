"""Trusted publishing: a CI job exchanges its OpenID Connect token for a short-lived publish token.

A feed's owner registers trusted publishers: a GitHub Actions workflow (repository, workflow file,
optionally an environment), an Azure DevOps service connection, or any OpenID Connect issuer with the
claims its tokens must carry. The exchange speaks PyPI's protocol (``/_/oidc/audience`` and
``/_/oidc/mint-token``, built by every client from the upload URL's host alone), so ``uv publish
--trusted-publishing always`` and pypa/gh-action-pypi-publish work unchanged: the CI token is validated
as any OpenID Connect token (shared/oidc.py), matched against the publishers registered for its
repository (or subject), and answered with a personal access token of the publisher, scope publish,
for that publisher's feed only, expiring in 15 minutes, named after the run that asked for it.

A publisher is a grantee of its feed (``publisher:<id>``, contributor), so the feed's permissions list
shows who may publish, the usual role checks apply to its tokens, and the grant goes with the feed.

Rows (table ``publishers``): the feed's listing, ``feed:<feed key>`` / id, and the index the exchange
looks publishers up in, ``match:<sha256 of issuer and repository or subject>`` / ``<feed key>:<id>``,
each holding the whole publisher, so an exchange costs one partition query.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import re
import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from shared import feeds, history, oidc, roles, settings, tokens
from shared.errors import BadRequest, FeedhouseError, NotFound
from shared.keys import (
    PUBLISHERS_TABLE,
    USED_TOKENS_PARTITION,
    publisher_feed_partition,
    publisher_match_partition,
)
from shared.names import feed_name_key, publisher_key
from shared.roles import Role
from shared.storage import RecordExists, Storage
from shared.tokens import Scope
from shared.upstream.url_safety import allow_private_from_settings, check_fetchable_url

# Warehouse's lifetime: long enough for a slow upload of many files, short enough to be useless
# once leaked from a log.
TOKEN_LIFETIME = timedelta(minutes=15)
MAX_PUBLISHERS_PER_FEED = 50
GITHUB = "github"
AZURE_DEVOPS = "azure-devops"
OIDC = "oidc"
KINDS = (GITHUB, AZURE_DEVOPS, OIDC)
_REPOSITORY_RE = re.compile(r"^[A-Za-z0-9_.-]{1,100}/[A-Za-z0-9_.-]{1,100}$")
_WORKFLOW_RE = re.compile(r"^[^/\\]{1,200}\.ya?ml$")
_GUID_RE = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
# Azure DevOps issues pipeline tokens from this host, one issuer per organization (by its id).
AZURE_DEVOPS_ISSUER = "https://vstoken.dev.azure.com/"


class InvalidPublisher(BadRequest):
    code = "invalid_trusted_publisher"


class PublisherNotFound(NotFound):
    code = "trusted_publisher_not_found"


class MintRefused(FeedhouseError):
    """A refused exchange, as Warehouse answers it: 422 with a code clients print."""

    status = 422

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class Publisher:
    id: str
    kind: str
    feed_key: str
    feed_name: str
    # github: owner/name and the workflow file; azure-devops and oidc: the issuer and required claims.
    repository: str | None = None
    workflow: str | None = None
    environment: str | None = None
    issuer: str | None = None
    claims: dict[str, str] = field(default_factory=dict)
    created: str = ""
    created_by: str = ""

    @property
    def grantee(self) -> str:
        return publisher_key(self.id)

    def match_key(self) -> tuple[str, str]:
        """What the exchange can compute from a token before anything else: issuer and repository
        (GitHub, case-insensitive) or subject."""
        if self.kind == GITHUB:
            return GITHUB, (self.repository or "").lower()
        return self.issuer or "", self.claims["sub"]

    def to_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "id": self.id,
            "kind": self.kind,
            "feed": self.feed_name,
            "user": self.grantee,
        }
        if self.kind == GITHUB:
            body.update(repository=self.repository, workflow=self.workflow, environment=self.environment)
        else:
            body.update(issuer=self.issuer, claims=self.claims)
        return {**body, "created": self.created, "created_by": self.created_by}

    def _fields(self) -> dict[str, Any]:
        return {
            "Id": self.id,
            "Kind": self.kind,
            "FeedKey": self.feed_key,
            "FeedName": self.feed_name,
            "Repository": self.repository,
            "Workflow": self.workflow,
            "Environment": self.environment,
            "Issuer": self.issuer,
            "Claims": json.dumps(self.claims, sort_keys=True),
            "Created": self.created,
            "CreatedBy": self.created_by,
        }

    def listing_record(self) -> dict[str, Any]:
        return {**self._fields(), "PartitionKey": publisher_feed_partition(self.feed_key), "RowKey": self.id}

    def match_record(self) -> dict[str, Any]:
        return {
            **self._fields(),
            "PartitionKey": publisher_match_partition(*self.match_key()),
            "RowKey": f"{self.feed_key}:{self.id}",
        }

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> Publisher:
        return cls(
            id=record["Id"],
            kind=record["Kind"],
            feed_key=record["FeedKey"],
            feed_name=record["FeedName"],
            repository=record.get("Repository"),
            workflow=record.get("Workflow"),
            environment=record.get("Environment"),
            issuer=record.get("Issuer"),
            claims=json.loads(record.get("Claims") or "{}"),
            created=record.get("Created", ""),
            created_by=record.get("CreatedBy", ""),
        )


def _text(body: dict[str, Any], name: str, *, required: bool = True) -> str | None:
    value = body.get(name)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value.strip() or len(value) > 300:
        raise InvalidPublisher(f"'{name}' is required: a string of at most 300 characters.")
    return value.strip()


def parse_publisher(body: Any, feed: feeds.Feed, created_by: str) -> Publisher:
    """Validate a registration body (see the README's *Trusted publishing* for the three kinds)."""
    if not isinstance(body, dict):
        raise InvalidPublisher(
            'Send a JSON object such as {"kind": "github", "repository": "o/r", "workflow": "release.yml"}.'
        )
    kind = body.get("kind")
    allowed = {
        GITHUB: {"kind", "repository", "workflow", "environment"},
        AZURE_DEVOPS: {"kind", "organization_id", "organization", "project", "service_connection"},
        OIDC: {"kind", "issuer", "claims"},
    }
    if kind not in allowed:
        raise InvalidPublisher(f"'kind' must be one of {', '.join(KINDS)}.")
    unknown = sorted(set(body) - allowed[kind])
    if unknown:
        raise InvalidPublisher(f"Unknown field(s) for a {kind} publisher: {', '.join(unknown)}.")
    common = {
        "id": secrets.token_hex(8),
        "kind": kind,
        "feed_key": feed.key,
        "feed_name": feed.name,
        "created": datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
        "created_by": created_by,
    }
    if kind == GITHUB:
        repository = _text(body, "repository")
        if not _REPOSITORY_RE.match(repository or ""):
            raise InvalidPublisher("'repository' is the GitHub repository as owner/name.")
        workflow = _text(body, "workflow")
        if not _WORKFLOW_RE.match(workflow or ""):
            raise InvalidPublisher(
                "'workflow' is the workflow's file name in .github/workflows, such as release.yml."
            )
        environment = _text(body, "environment", required=False)
        return Publisher(**common, repository=repository, workflow=workflow, environment=environment)
    if kind == AZURE_DEVOPS:
        organization_id = _text(body, "organization_id")
        if not _GUID_RE.match(organization_id or ""):
            raise InvalidPublisher("'organization_id' is the Azure DevOps organization's id (a GUID).")
        parts = [_text(body, n) for n in ("organization", "project", "service_connection")]
        if any("/" in (p or "") for p in parts):
            raise InvalidPublisher(
                "'organization', 'project' and 'service_connection' are names without '/'."
            )
        # The subject Azure DevOps gives a pipeline's token for a service connection.
        subject = "sc://" + "/".join(p or "" for p in parts)
        return Publisher(
            **common, issuer=AZURE_DEVOPS_ISSUER + organization_id.lower(), claims={"sub": subject}
        )
    issuer = _text(body, "issuer")
    if not (issuer or "").startswith("https://"):
        raise InvalidPublisher(
            "'issuer' is the provider's https issuer URL, exactly as its tokens' 'iss' reads."
        )
    claims = body.get("claims")
    if (
        not isinstance(claims, dict)
        or not isinstance(claims.get("sub"), str)
        or not all(isinstance(k, str) and isinstance(v, str) and v for k, v in claims.items())
        or len(claims) > 20
    ):
        raise InvalidPublisher(
            "'claims' maps claim names to the exact string values the tokens must carry, 'sub' among them."
        )
    _check_reachable(issuer or "")
    return Publisher(**common, issuer=issuer, claims=dict(claims))


def _check_reachable(issuer: str) -> None:
    """An issuer a feed owner names is fetched from (its discovery document and keys): only where an
    upstream could be, never the instance metadata service or, by default, private networks."""
    check_fetchable_url(issuer, allow_private=allow_private_from_settings())


def register(storage: Storage, publisher: Publisher) -> Publisher:
    """Store a publisher and grant it the contributor role on its feed."""
    if len(list_publishers(storage, publisher.feed_key)) >= MAX_PUBLISHERS_PER_FEED:
        raise InvalidPublisher(f"A feed has at most {MAX_PUBLISHERS_PER_FEED} trusted publishers.")
    storage.insert(PUBLISHERS_TABLE, publisher.listing_record())
    storage.insert(PUBLISHERS_TABLE, publisher.match_record())
    roles.grant(storage, publisher.feed_key, publisher.grantee, Role.CONTRIBUTOR)
    history.record(storage, publisher.feed_key, history.PUBLISHER_ADD, publisher=publisher.to_json())
    return publisher


def list_publishers(storage: Storage, feed_key: str) -> list[Publisher]:
    rows = storage.partition(PUBLISHERS_TABLE, publisher_feed_partition(feed_key))
    return sorted((Publisher.from_record(r) for r in rows), key=lambda p: (p.created, p.id))


def find(storage: Storage, feed_key: str, publisher_id: str) -> Publisher | None:
    """A publisher of the feed by id (the user of the tokens it mints is ``publisher:<id>``)."""
    record = (
        storage.get(PUBLISHERS_TABLE, publisher_feed_partition(feed_key), publisher_id)
        if publisher_id.isalnum()
        else None
    )
    return Publisher.from_record(record) if record is not None else None


def remove(storage: Storage, feed_key: str, publisher_id: str) -> None:
    """Forget a publisher: it can mint no more tokens, and those it minted stop working at once."""
    publisher = find(storage, feed_key, publisher_id)
    if publisher is None:
        raise PublisherNotFound(f"No trusted publisher '{publisher_id}' on this feed.")
    _forget(storage, publisher)
    history.record(storage, feed_key, history.PUBLISHER_REMOVE, publisher=publisher.to_json())


def forget_feed(storage: Storage, feed_key: str) -> None:
    """Forget the publishers of a deleted feed (its sweep: shared/feeds.py)."""
    for publisher in list_publishers(storage, feed_key):
        _forget(storage, publisher)


def _forget(storage: Storage, publisher: Publisher) -> None:
    # The index row first: from then on the exchange finds the publisher no more.
    storage.delete(
        PUBLISHERS_TABLE,
        publisher_match_partition(*publisher.match_key()),
        f"{publisher.feed_key}:{publisher.id}",
    )
    for token in tokens.list_tokens(storage, publisher.grantee):
        tokens.revoke(storage, publisher.grantee, token.id)
    with contextlib.suppress(roles.GrantNotFound):  # an owner took the role away already
        roles.revoke(storage, publisher.feed_key, publisher.grantee)
    storage.delete(PUBLISHERS_TABLE, publisher_feed_partition(publisher.feed_key), publisher.id)


# The exchange -------------------------------------------------------------------------------------


def audience() -> str:
    """The audience CI jobs ask their token for (GET /_/oidc/audience)."""
    return settings.get("FEEDHOUSE_TRUSTED_PUBLISHING_AUDIENCE") or ""


def mint(storage: Storage, body: Any) -> tuple[str, int]:
    """Exchange a CI job's OpenID Connect token for a publish token: its secret and when it expires
    (Unix time); MintRefused saying why not."""
    if not isinstance(body, dict) or not isinstance(body.get("token"), str) or not body["token"]:
        raise MintRefused("invalid-payload", 'Send {"token": "<the CI job\'s OpenID Connect token>"}.')
    token = body["token"]
    unverified = oidc.unverified_claims(token)
    issuer = unverified.get("iss") if unverified is not None else None
    if not isinstance(issuer, str) or not issuer:
        raise MintRefused("invalid-payload", "The token is not a JWT naming its issuer ('iss').")
    github = issuer == settings.get("FEEDHOUSE_GITHUB_OIDC_ISSUER")
    if github:
        repository = unverified.get("repository")
        key = (GITHUB, repository.lower() if isinstance(repository, str) else "")
    else:
        subject = unverified.get("sub")
        key = (issuer, subject if isinstance(subject, str) else "")
    candidates = [
        Publisher.from_record(r) for r in storage.partition(PUBLISHERS_TABLE, publisher_match_partition(*key))
    ]
    if not github:
        if not candidates:
            # Only the keys of issuers some feed trusts are ever fetched.
            raise MintRefused(
                "invalid-publisher",
                f"No trusted publisher is registered for issuer '{issuer}' and this subject.",
            )
        _check_reachable(issuer)  # again: what its name resolves to may have changed since
    try:
        # GitHub's tokens always carry a jti, so each is used once (as on PyPI).
        required = ("sub", "jti") if github else ("sub",)
        claims = oidc.validate(token, issuer=issuer, audiences=(audience(),), required=required)
    except oidc.InvalidOidcToken as error:
        raise MintRefused("invalid-token", error.message) from None
    reasons = []
    for publisher in candidates:
        reason = _mismatch(publisher, claims)
        if reason is None:
            _spend(storage, claims)
            return _mint_for(storage, publisher, claims)
        reasons.append(reason)
    detail = (
        "; ".join(sorted(set(reasons))) or f"none is registered for repository '{claims.get('repository')}'"
    )
    raise MintRefused("invalid-publisher", f"Valid token, but no trusted publisher matches it: {detail}.")


def _spend(storage: Storage, claims: dict[str, Any]) -> None:
    """Use a token's ``jti`` up, once and for all: a CI token copied out of a job's log cannot mint a
    second publish token. Kept until the token expires (plus the leeway); each exchange drops the
    rows of tokens that have, so the partition holds only the last few minutes' worth."""
    jti = claims.get("jti")
    if not isinstance(jti, str):
        return
    now = datetime.now(UTC).timestamp()
    rows = storage.partition(PUBLISHERS_TABLE, USED_TOKENS_PARTITION)
    storage.delete_records(PUBLISHERS_TABLE, [r for r in rows if r.get("Until", 0) < now])
    digest = hashlib.sha256(f"{claims['iss']}\n{jti}".encode()).hexdigest()
    until = int(claims["exp"]) + oidc.LEEWAY_SECONDS
    try:
        storage.insert(
            PUBLISHERS_TABLE, {"PartitionKey": USED_TOKENS_PARTITION, "RowKey": digest, "Until": until}
        )
    except RecordExists:
        raise MintRefused(
            "invalid-reuse-token", "This token was exchanged already; each is used once."
        ) from None


def _mismatch(publisher: Publisher, claims: dict[str, Any]) -> str | None:
    """Why ``claims`` are not ``publisher``'s, or None if they are."""
    if publisher.kind != GITHUB:
        for name, value in publisher.claims.items():
            if claims.get(name) != value:
                return f"claim '{name}' is {claims.get(name)!r}, the publisher requires {value!r}"
        return None
    if str(claims.get("repository", "")).lower() != (publisher.repository or "").lower():
        return f"repository '{claims.get('repository')}' is not '{publisher.repository}'"
    event = claims.get("event_name")
    if event in ("pull_request", "pull_request_target"):
        # A pull request's workflow runs code from its head, possibly a fork: it never publishes.
        return f"tokens of '{event}' events never publish (a pull request, perhaps from a fork)"
    workflow_ref = str(claims.get("job_workflow_ref", ""))
    expected = f"{publisher.repository}/.github/workflows/{publisher.workflow}@".lower()
    if not workflow_ref.lower().startswith(expected):
        return f"workflow '{workflow_ref}' is not {publisher.repository}'s '{publisher.workflow}'"
    if publisher.environment is not None:
        environment = claims.get("environment")
        if not isinstance(environment, str) or environment.lower() != publisher.environment.lower():
            return f"environment {environment!r} is not '{publisher.environment}'"
    return None


def _mint_for(storage: Storage, publisher: Publisher, claims: dict[str, Any]) -> tuple[str, int]:
    feed = feeds.find_feed(storage, publisher.feed_name)
    if feed is None or feed.key != publisher.feed_key:
        raise MintRefused(
            "invalid-publisher", f"The trusted publisher's feed '{publisher.feed_name}' was deleted."
        )
    if publisher.kind == GITHUB:
        run = f"{claims.get('job_workflow_ref', '')} run {claims.get('run_id', '?')}"
    else:
        run = str(claims.get("sub"))
    expires = datetime.now(UTC) + TOKEN_LIFETIME
    _, secret = tokens.create_token(
        storage,
        user=publisher.grantee,
        name=("trusted publishing: " + run)[: tokens.NAME_MAX_LENGTH],
        scope=Scope.PUBLISH,
        feeds=(feed_name_key(feed.name),),
        expires=expires,
    )
    return secret, int(expires.timestamp())
