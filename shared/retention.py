"""A feed's retention policy and the plan it makes for a project: which versions go, and why each
version stays or goes.

The plan is a pure function of the policy, the project's versions (with their last download, views,
owner pins, yanked and deleted state), the registered lockfiles and the time, so that
``GET .../retention/preview`` and the timer that applies the policy show and do the same thing.

The rules, in Azure Artifacts' terms and beyond:

- ``max_versions`` N: keep the N newest versions of each project, by PEP 440 order (pre-releases
  before their release, post-releases after it). Yanked versions count after every version that is
  not, so they are the first to go; versions already in the recycle bin do not count.
- ``keep_downloaded_days`` D: never delete a version downloaded in the last D days. Nor one uploaded
  in the last D days: it has not had D days to be downloaded, and download counts lag (they are
  flushed in batches), so a version in use may not show it yet.
- Never deleted either: a version in any view but ``@local`` (every version is in ``@local``), one
  an owner pinned, one a registered lockfile pins.

Without N nothing is deleted: D only protects.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from packaging.utils import NormalizedName, canonicalize_name
from packaging.version import InvalidVersion, Version

from shared import untrusted
from shared.errors import BadRequest
from shared.lockfiles import Lockfile
from shared.packages import format_time

# The view every version of a feed is in: being in it protects nothing.
LOCAL_VIEW = "local"
# More versions than any project keeps; a larger N is a typing mistake, not a policy.
MAX_VERSIONS_LIMIT = 10_000
# Ten years: a version unused for longer is not in use.
MAX_KEEP_DOWNLOADED_DAYS = 3650

POLICY_FIELDS = ("max_versions", "keep_downloaded_days")


class InvalidRetentionPolicy(BadRequest):
    code = "invalid_retention_policy"


@dataclass(frozen=True)
class RetentionPolicy:
    max_versions: int | None = None
    keep_downloaded_days: int | None = None

    @classmethod
    def from_json(cls, fields: object) -> RetentionPolicy:
        """A policy from a JSON body, or from query parameters (whose numbers are text); a missing or
        null field is no limit."""
        if not isinstance(fields, dict):
            raise InvalidRetentionPolicy(
                'A retention policy is an object such as {"max_versions": 20, "keep_downloaded_days": 30}.'
            )
        unknown = sorted(set(fields) - set(POLICY_FIELDS))
        if unknown:
            raise InvalidRetentionPolicy(
                f"Unknown retention field(s): {', '.join(unknown)[:200]}; the fields are "
                f"{' and '.join(POLICY_FIELDS)}."
            )
        return cls(
            _bounded(fields.get("max_versions"), "max_versions", 1, MAX_VERSIONS_LIMIT),
            _bounded(fields.get("keep_downloaded_days"), "keep_downloaded_days", 0, MAX_KEEP_DOWNLOADED_DAYS),
        )

    def to_json(self) -> dict[str, int | None]:
        return {"max_versions": self.max_versions, "keep_downloaded_days": self.keep_downloaded_days}


def _bounded(value: object, name: str, low: int, high: int) -> int | None:
    if value is None:
        return None
    # bool is an int to Python, not to a client; text comes from a query string.
    number: int | None = None
    if isinstance(value, int) and not isinstance(value, bool):
        number = value
    elif isinstance(value, str):
        number = untrusted.whole_number(value)
    if number is None or not low <= number <= high:
        raise InvalidRetentionPolicy(
            f"'{name}' must be a whole number from {low} to {high}, or null for no limit."
        )
    return number


@dataclass(frozen=True)
class VersionState:
    """What the plan needs to know of one version of a project."""

    version: str  # as stored (canonical)
    uploaded: datetime
    last_downloaded: datetime | None = None
    views: frozenset[str] = frozenset()  # view names without '@'
    pinned: bool = False  # by an owner
    yanked: bool = False
    deleted: bool = False  # in the recycle bin already


class Why(StrEnum):
    """Why a version stays or goes. Several may hold at once; the plan lists them all."""

    WITHIN_COUNT_LIMIT = "within_count_limit"
    NO_COUNT_LIMIT = "no_count_limit"
    DOWNLOADED = "downloaded"
    UPLOADED_RECENTLY = "uploaded_recently"
    IN_VIEW = "in_view"
    PINNED_BY_OWNER = "pinned_by_owner"
    PINNED_BY_LOCKFILE = "pinned_by_lockfile"
    ALREADY_DELETED = "already_deleted"
    NOT_A_VERSION = "not_a_version"
    # Why a version goes:
    OVER_COUNT_LIMIT = "over_count_limit"
    YANKED = "yanked"
    NOT_DOWNLOADED_SINCE = "not_downloaded_since"


@dataclass(frozen=True)
class Reason:
    why: Why
    rank: int | None = None  # 1 for the version counted first (the newest)
    limit: int | None = None
    when: datetime | None = None  # the download or upload; None: never downloaded
    since: datetime | None = None  # the cutoff of keep_downloaded_days
    view: str | None = None
    lockfile: str | None = None

    @property
    def message(self) -> str:
        match self.why:
            case Why.WITHIN_COUNT_LIMIT:
                return f"among the {self.limit} newest (#{self.rank})"
            case Why.NO_COUNT_LIMIT:
                return "the policy sets no maximum number of versions"
            case Why.DOWNLOADED:
                return f"downloaded on {_day(self.when)}"
            case Why.UPLOADED_RECENTLY:
                return f"uploaded on {_day(self.when)}, too recently to judge by downloads"
            case Why.IN_VIEW:
                return f"in view @{self.view}"
            case Why.PINNED_BY_OWNER:
                return "pinned by an owner"
            case Why.PINNED_BY_LOCKFILE:
                return f"pinned by lockfile {self.lockfile}"
            case Why.ALREADY_DELETED:
                return "already in the recycle bin"
            case Why.NOT_A_VERSION:
                return "not a PEP 440 version, so it cannot be ordered"
            case Why.OVER_COUNT_LIMIT:
                return f"not among the {self.limit} newest (#{self.rank})"
            case Why.YANKED:
                return "yanked: counted after every version that is not"
            case Why.NOT_DOWNLOADED_SINCE:
                if self.when is None:
                    return "never downloaded"
                return f"last downloaded on {_day(self.when)}, before {_day(self.since)}"

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"reason": self.why.value, "message": self.message}
        for name in ("rank", "limit", "view", "lockfile"):
            if getattr(self, name) is not None:
                data[name] = getattr(self, name)
        if self.when is not None:
            data["when"] = format_time(self.when)
        if self.since is not None:
            data["since"] = format_time(self.since)
        return data


def _day(moment: datetime | None) -> str:
    return moment.date().isoformat() if moment else ""


@dataclass(frozen=True)
class VersionPlan:
    version: str
    delete: bool
    reasons: tuple[Reason, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "action": "delete" if self.delete else "keep",
            "reasons": [r.to_json() for r in self.reasons],
        }


@dataclass(frozen=True)
class ProjectPlan:
    project: NormalizedName
    versions: tuple[VersionPlan, ...]  # newest first, then what is not a version

    @property
    def deletions(self) -> tuple[str, ...]:
        return tuple(v.version for v in self.versions if v.delete)

    def to_json(self) -> dict[str, Any]:
        return {
            "project": self.project,
            "delete": list(self.deletions),
            "versions": [v.to_json() for v in self.versions],
        }


class LockfilePins:
    """The registered lockfiles of a feed, by the project and version they pin: built once per run,
    asked once per version."""

    def __init__(self, lockfiles: Mapping[str, Lockfile]) -> None:
        """``lockfiles``: each registered lockfile by the name it was registered under."""
        by_pin: dict[tuple[NormalizedName, Version], list[str]] = {}
        for name in sorted(lockfiles):
            for pin in lockfiles[name].pins:
                by_pin.setdefault((pin.project, pin.version), []).append(name)
        self._by_pin = {key: tuple(names) for key, names in by_pin.items()}

    def pinning(self, project: NormalizedName, version: Version) -> tuple[str, ...]:
        """The names of the lockfiles that pin this version, in name order."""
        return self._by_pin.get((project, version), ())


def plan(
    policy: RetentionPolicy,
    project: str,
    versions: Iterable[VersionState],
    lockfiles: LockfilePins,
    *,
    now: datetime,
) -> ProjectPlan:
    """What retention deletes of one project at ``now`` (timezone-aware), and why each version stays
    or goes."""
    name = canonicalize_name(project)
    cutoff = (
        None if policy.keep_downloaded_days is None else now - timedelta(days=policy.keep_downloaded_days)
    )
    counted: list[tuple[VersionState, Version]] = []
    plans: list[VersionPlan] = []
    for state in versions:
        if state.deleted:
            plans.append(VersionPlan(state.version, False, (Reason(Why.ALREADY_DELETED),)))
            continue
        try:
            counted.append((state, untrusted.version(state.version)))
        except InvalidVersion:
            plans.append(VersionPlan(state.version, False, (Reason(Why.NOT_A_VERSION),)))
    # The order versions are counted in: not yanked before yanked, each newest first.
    counted.sort(key=lambda sv: (sv[0].yanked, _Descending(sv[1]), sv[0].version))
    plans += [
        _plan_version(policy, name, state, version, rank, lockfiles, cutoff)
        for rank, (state, version) in enumerate(counted, start=1)
    ]
    return ProjectPlan(name, tuple(sorted(plans, key=_shown_order)))


@dataclass(frozen=True)
class _Descending:
    """A sort key that orders versions newest first."""

    version: Version

    def __lt__(self, other: _Descending) -> bool:
        return self.version > other.version


def _shown_order(plan: VersionPlan) -> tuple[Any, ...]:
    """Newest first, then what is not a version, by text. The text also breaks ties between two
    spellings of one version, which canonical versions never are."""
    try:
        return (0, _Descending(untrusted.version(plan.version)), plan.version)
    except InvalidVersion:
        return (1, plan.version)


def _plan_version(
    policy: RetentionPolicy,
    project: NormalizedName,
    state: VersionState,
    version: Version,
    rank: int,
    lockfiles: LockfilePins,
    cutoff: datetime | None,
) -> VersionPlan:
    limit = policy.max_versions
    over_limit = limit is not None and rank > limit
    if limit is None:
        reasons = [Reason(Why.NO_COUNT_LIMIT)]
    else:
        reasons = [
            Reason(Why.OVER_COUNT_LIMIT if over_limit else Why.WITHIN_COUNT_LIMIT, rank=rank, limit=limit)
        ]
        if state.yanked:
            reasons.append(Reason(Why.YANKED))
    protections = []
    if cutoff is not None and state.last_downloaded is not None and state.last_downloaded > cutoff:
        protections.append(Reason(Why.DOWNLOADED, when=state.last_downloaded))
    if cutoff is not None and state.uploaded > cutoff:
        protections.append(Reason(Why.UPLOADED_RECENTLY, when=state.uploaded))
    protections += [Reason(Why.IN_VIEW, view=view) for view in sorted(state.views - {LOCAL_VIEW})]
    if state.pinned:
        protections.append(Reason(Why.PINNED_BY_OWNER))
    protections += [Reason(Why.PINNED_BY_LOCKFILE, lockfile=n) for n in lockfiles.pinning(project, version)]
    delete = over_limit and not protections
    if delete and cutoff is not None:
        reasons.append(Reason(Why.NOT_DOWNLOADED_SINCE, when=state.last_downloaded, since=cutoff))
    return VersionPlan(state.version, delete, (*reasons, *protections))
