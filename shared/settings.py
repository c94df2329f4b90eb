"""Every setting Feedhouse reads, in one place.

Settings come from the environment (the Function App's app settings in Azure, ``local.settings.json``
under Core Tools, the shell under ``make run``). ``SETTINGS`` is the catalogue: the README documents
it and the infra tests check that the Bicep templates set exactly the deployed ones.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from functools import lru_cache
from urllib.parse import urlsplit

from shared.downloads import REDIRECT, STREAM
from shared.names import InvalidUserName, grantee_key

# How uploaded attestations are verified (shared/attestations.py).
STRUCTURAL = "structural"
SIGSTORE = "sigstore"


@dataclass(frozen=True)
class Setting:
    name: str
    default: str | None
    description: str
    # Whether a deployment to Azure sets it (infra/ must set exactly these).
    deployed: bool = True


SETTINGS: tuple[Setting, ...] = (
    Setting(
        "FEEDHOUSE_STORAGE_CONNECTION_STRING",
        None,
        "Storage connection string (Azurite, tests). When unset, FEEDHOUSE_STORAGE_ACCOUNT_NAME and "
        "DefaultAzureCredential (managed identity in Azure) are used.",
        deployed=False,
    ),
    Setting(
        "FEEDHOUSE_STORAGE_ACCOUNT_NAME",
        None,
        "Storage account holding package files and metadata, reached with DefaultAzureCredential.",
    ),
    Setting(
        "FEEDHOUSE_ADMIN_TOKEN",
        None,
        "The bootstrap admin token: may do everything. In Azure a Key Vault reference.",
    ),
    Setting(
        "FEEDHOUSE_FEED_CREATORS",
        "*",
        "Who may create feeds besides the admin: '*' for any user with a token, a comma-separated "
        "list of user names (valid, unreserved ones: see README, User names), or 'none' for the admin only.",
    ),
    Setting(
        "FEEDHOUSE_MAX_UPLOAD_BYTES",
        str(100 * 1024 * 1024),
        "Largest accepted distribution file, in bytes (the Functions host caps request bodies at "
        "100 MiB unless FUNCTIONS_REQUEST_BODY_SIZE_LIMIT is raised).",
    ),
    Setting(
        "FEEDHOUSE_UPLOAD_CONCURRENCY_BYTES",
        str(256 * 1024 * 1024),
        "The most bytes of upload bodies one instance processes at once (two uploads of the default "
        "largest size); an upload beyond it waits up to 5 s for room, then answers 503 with "
        "Retry-After. One larger than this bound is processed alone. 0 turns the bound off.",
        deployed=False,
    ),
    Setting(
        "FEEDHOUSE_PAGE_MAX_AGE_SECONDS",
        "600",
        "How long clients may cache simple pages and the JSON API (Cache-Control max-age, as PyPI).",
    ),
    Setting(
        "FEEDHOUSE_RECYCLE_BIN_DAYS",
        "30",
        "How many days deleted versions and files stay restorable in a feed's recycle bin before the "
        "daily purge removes them, blobs included.",
    ),
    Setting(
        "FEEDHOUSE_FEED_RECYCLE_BIN_DAYS",
        "30",
        "How many days a deleted feed stays in the recycle bin, its name reserved and restorable as it "
        "was, before the daily sweep purges it with everything in it, blobs included.",
    ),
    Setting(
        "FEEDHOUSE_DOWNLOAD_MODE",
        STREAM,
        "How package files are served: 'stream' sends the bytes through the function; 'redirect' answers "
        "302 to a short-lived read-only SAS URL on the blob (recommended in Azure; page URLs stay on this "
        "host either way).",
    ),
    Setting(
        "FEEDHOUSE_DOWNLOAD_URL_SECONDS",
        "300",
        "In redirect mode, how long a SAS download URL is handed out unchanged; each stays valid between "
        "one and two such periods.",
    ),
    Setting(
        "FEEDHOUSE_DOWNLOAD_COUNT_FLUSH_SECONDS",
        "30",
        "How often an instance writes the download counts it has gathered in memory to storage, in seconds "
        "(checked on its requests, and by a timer every minute): how far counts may lag (README, "
        "'Download counts').",
    ),
    Setting(
        "FEEDHOUSE_STREAM_MAX_BYTES",
        str(64 * 1024 * 1024),
        "Largest body one download response holds in memory, in bytes (the Functions worker holds a "
        "response whole, and copies it once more). In stream mode a larger file, or a range asking for "
        "more, is answered with a 302 to a short-lived SAS URL on the blob, as in redirect mode; an "
        "upstream file larger than this is passed through to a caller who may not save it not at all "
        "(401 or 403 saying who may download it).",
        deployed=False,
    ),
    # Sign-in with OpenID Connect (issue 15). Unset: only personal access tokens are credentials.
    Setting(
        "FEEDHOUSE_OIDC_ISSUER",
        None,
        "The OpenID Connect issuer whose access tokens are accepted as credentials, exactly as its tokens' "
        "'iss' reads (for Entra ID v2 tokens https://login.microsoftonline.com/<tenant id>/v2.0). Its keys "
        "are found through <issuer>/.well-known/openid-configuration. Empty: tokens of no issuer are.",
    ),
    Setting(
        "FEEDHOUSE_OIDC_AUDIENCE",
        None,
        "The audiences ('aud') such tokens must be for, comma-separated: for Entra ID the API app's client "
        "id (v2 tokens) and its Application ID URI (api://<client id>, v1 tokens).",
    ),
    Setting(
        "FEEDHOUSE_OIDC_CLIENT_ID",
        None,
        "The client id people sign in with through the issuer: the web UI's (authorization code flow with "
        "PKCE, redirect URI <deployment>/-/signin/callback) and the feedhouse client's (device code flow). "
        "Empty: the UI takes pasted tokens only.",
    ),
    Setting(
        "FEEDHOUSE_OIDC_CLIENT_SECRET",
        None,
        "The web UI's client secret, for a provider that redeems a web app's code only with one (Entra ID "
        "does): in Azure a Key Vault reference. Empty: the UI is a public client (PKCE only).",
    ),
    Setting(
        "FEEDHOUSE_OIDC_SCOPES",
        None,
        "The scopes the feedhouse client asks the issuer for, space-separated, so that the access token "
        "it gets is for FEEDHOUSE_OIDC_AUDIENCE (Entra ID: api://<client id>/<scope>).",
    ),
    Setting(
        "FEEDHOUSE_TRUSTED_PUBLISHING_AUDIENCE",
        "feedhouse",
        "The audience CI jobs ask their OpenID Connect token for when they exchange it for a publish "
        "token (GET /_/oidc/audience answers it); tokens for any other audience are refused.",
        deployed=False,
    ),
    Setting(
        "FEEDHOUSE_GITHUB_OIDC_ISSUER",
        "https://token.actions.githubusercontent.com",
        "The issuer of GitHub Actions' OpenID Connect tokens (GitHub Enterprise Server has its own; tests "
        "point it at a local provider).",
        deployed=False,
    ),
    Setting(
        "FEEDHOUSE_ATTESTATION_VERIFICATION",
        STRUCTURAL,
        "How uploaded PEP 740 attestations are verified: 'structural' checks digest, statement, signature "
        "and the certificate's publisher identity; 'sigstore' also verifies them as Sigstore does "
        "(Fulcio chain, transparency log), offline, against the trust root the installed sigstore package "
        "ships (see README, Attestations).",
        deployed=False,
    ),
    # Upstream sources (issue 5). The defaults are the production values, so a deployment sets none.
    Setting(
        "FEEDHOUSE_PYPI_URL",
        "https://pypi.org/simple/",
        "The simple index behind a feed's 'public PyPI' upstream: a company mirror or a test server can "
        "stand in for PyPI.",
        deployed=False,
    ),
    Setting(
        "FEEDHOUSE_UPSTREAM_ALLOW_PRIVATE",
        "false",
        "true lets upstream URLs reach loopback and private addresses (tests, a mirror on a private "
        "network). Link-local and cloud metadata addresses stay refused. Never set it where feed owners "
        "are not trusted with the app's network position.",
        deployed=False,
    ),
    Setting(
        "FEEDHOUSE_UPSTREAM_CONNECT_TIMEOUT",
        "5",
        "Seconds to wait for an upstream connection.",
        deployed=False,
    ),
    Setting(
        "FEEDHOUSE_UPSTREAM_READ_TIMEOUT",
        "20",
        "Seconds to wait for each read from an upstream.",
        deployed=False,
    ),
    Setting(
        "FEEDHOUSE_UPSTREAM_PAGE_TIMEOUT",
        "45",
        "Seconds a whole upstream project page fetch may take, redirects included.",
        deployed=False,
    ),
    Setting(
        "FEEDHOUSE_UPSTREAM_DEADLINE_SECONDS",
        "60",
        "Seconds a request waits for its upstreams, all of them together (they are asked at once): "
        "one that has not answered by then is left out of the answer, its fetch finishing in the "
        "background for the next request. Keep it well under the Functions front end's 230 s.",
        deployed=False,
    ),
    Setting(
        "FEEDHOUSE_UPSTREAM_RETRY_SECONDS",
        "120",
        "Seconds an upstream that did not answer in time (a timeout, or the deadline) is not asked "
        "again by this instance; meanwhile its cached pages are served, marked stale.",
        deployed=False,
    ),
    Setting(
        "FEEDHOUSE_UPSTREAM_MAX_PAGE_BYTES",
        str(32 * 1024 * 1024),
        "Largest upstream project page (or .metadata file) read, in bytes after decompression.",
        deployed=False,
    ),
    Setting(
        "FEEDHOUSE_UPSTREAM_MAX_FILE_BYTES",
        str(1024 * 1024 * 1024),
        "Largest upstream distribution file saved into a feed, in bytes.",
        deployed=False,
    ),
    Setting(
        "FEEDHOUSE_UPSTREAM_CACHE_SECONDS",
        "1800",
        "How long a cached upstream project page is fresh; after that the next request fetches it again.",
        deployed=False,
    ),
)

DOWNLOAD_MODES = (STREAM, REDIRECT)
ATTESTATION_VERIFICATIONS = (STRUCTURAL, SIGSTORE)

_BY_NAME = {s.name: s for s in SETTINGS}


class InvalidSetting(ValueError):
    """A setting holds a value Feedhouse cannot use."""


# While a Key Vault reference does not resolve (roles still propagating, say), App Service hands the
# app the reference text itself; that text is guessable, so it must never count as a value.
_UNRESOLVED_REFERENCE = "@microsoft.keyvault("


def _environ(name: str) -> str | None:
    value = os.environ.get(name)
    if value is None or value.strip().lower().startswith(_UNRESOLVED_REFERENCE):
        return None
    return value.strip()


def get(name: str) -> str | None:
    """The value of a catalogued setting, or its default; an empty value counts as unset."""
    return _environ(name) or _BY_NAME[name].default


def get_bool(name: str) -> bool:
    value = (get(name) or "").lower()
    if value in ("true", "1", "yes", "on"):
        return True
    if value in ("false", "0", "no", "off", ""):
        return False
    raise InvalidSetting(f"{name} must be true or false, not {value!r}")


def get_seconds(name: str) -> float:
    value = get(name)
    try:
        number = float(value or "")
    except ValueError:
        raise InvalidSetting(f"{name} must be a number of seconds, not {value!r}") from None
    if not number > 0 or number == float("inf"):
        raise InvalidSetting(f"{name} must be a positive number of seconds")
    return number


def get_int(name: str) -> int:
    value = get(name)
    try:
        number = int(value or "")
    except ValueError:
        raise InvalidSetting(f"{name} must be a whole number, not {value!r}") from None
    if number < 0:
        raise InvalidSetting(f"{name} must not be negative")
    return number


def _user_names(name: str, value: str) -> frozenset[str]:
    """A comma-separated list of user names, in their normal form, with '*' for everyone and 'none'
    alone for nobody. A name that cannot be a user's is refused, not dropped: an operator who typed
    one meant someone."""
    entries = [n.strip() for n in value.split(",") if n.strip()]
    if [e.lower() for e in entries] == ["none"]:
        return frozenset()
    try:
        return frozenset(e if e == "*" else grantee_key(e) for e in entries)
    except InvalidUserName as error:
        raise InvalidSetting(f"{name}: {error.message}") from None


def _issuer_url(name: str) -> str | None:
    """An OpenID Connect issuer: https, or http on loopback only (a local provider in tests); keys fetched
    over plain http from elsewhere could be anyone's."""
    value = get(name)
    if not value:
        return None
    parts = urlsplit(value)
    loopback = parts.hostname in ("127.0.0.1", "localhost", "::1")
    if parts.scheme != "https" and not (parts.scheme == "http" and loopback):
        raise InvalidSetting(f"{name} must be an https URL, not {value!r}")
    return value


def get_choice(name: str, choices: tuple[str, ...]) -> str:
    value = (get(name) or "").lower()
    if value not in choices:
        raise InvalidSetting(f"{name} must be one of {', '.join(choices)}, not {value!r}")
    return value


@dataclass(frozen=True)
class Settings:
    storage_connection_string: str | None
    storage_account_name: str | None
    admin_token: str | None
    feed_creators: frozenset[str]
    max_upload_bytes: int
    upload_concurrency_bytes: int
    page_max_age: int
    recycle_bin_days: int
    feed_recycle_bin_days: int
    download_mode: str
    attestation_verification: str
    download_url_seconds: int
    download_count_flush_seconds: float
    stream_max_bytes: int
    oidc_issuer: str | None
    oidc_audiences: tuple[str, ...]
    oidc_client_id: str | None
    oidc_client_secret: str | None = field(repr=False)
    oidc_scopes: tuple[str, ...]


@lru_cache(maxsize=1)
def load() -> Settings:
    """The settings of this process, read once (call ``load.cache_clear()`` after changing them)."""
    return Settings(
        storage_connection_string=get("FEEDHOUSE_STORAGE_CONNECTION_STRING"),
        storage_account_name=get("FEEDHOUSE_STORAGE_ACCOUNT_NAME"),
        admin_token=get("FEEDHOUSE_ADMIN_TOKEN"),
        feed_creators=_user_names("FEEDHOUSE_FEED_CREATORS", get("FEEDHOUSE_FEED_CREATORS") or ""),
        max_upload_bytes=get_int("FEEDHOUSE_MAX_UPLOAD_BYTES"),
        upload_concurrency_bytes=get_int("FEEDHOUSE_UPLOAD_CONCURRENCY_BYTES"),
        page_max_age=get_int("FEEDHOUSE_PAGE_MAX_AGE_SECONDS"),
        recycle_bin_days=get_int("FEEDHOUSE_RECYCLE_BIN_DAYS"),
        feed_recycle_bin_days=get_int("FEEDHOUSE_FEED_RECYCLE_BIN_DAYS"),
        download_mode=get_choice("FEEDHOUSE_DOWNLOAD_MODE", DOWNLOAD_MODES),
        attestation_verification=get_choice("FEEDHOUSE_ATTESTATION_VERIFICATION", ATTESTATION_VERIFICATIONS),
        download_url_seconds=max(1, get_int("FEEDHOUSE_DOWNLOAD_URL_SECONDS")),
        download_count_flush_seconds=get_seconds("FEEDHOUSE_DOWNLOAD_COUNT_FLUSH_SECONDS"),
        stream_max_bytes=get_int("FEEDHOUSE_STREAM_MAX_BYTES"),
        oidc_issuer=_issuer_url("FEEDHOUSE_OIDC_ISSUER"),
        oidc_audiences=_audiences(),
        oidc_client_id=get("FEEDHOUSE_OIDC_CLIENT_ID"),
        oidc_client_secret=get("FEEDHOUSE_OIDC_CLIENT_SECRET"),
        oidc_scopes=tuple((get("FEEDHOUSE_OIDC_SCOPES") or "").split()),
    )


def _audiences() -> tuple[str, ...]:
    audiences = tuple(a.strip() for a in (get("FEEDHOUSE_OIDC_AUDIENCE") or "").split(",") if a.strip())
    if get("FEEDHOUSE_OIDC_ISSUER") and not audiences:
        # Without an audience any token the issuer signs for any app would do.
        raise InvalidSetting("FEEDHOUSE_OIDC_AUDIENCE is required with FEEDHOUSE_OIDC_ISSUER")
    return audiences
