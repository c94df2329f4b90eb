"""The retention plan: which versions of a project a policy deletes, and why each stays or goes."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from shared.lockfiles import parse_lockfile
from shared.retention import (
    MAX_KEEP_DOWNLOADED_DAYS,
    MAX_VERSIONS_LIMIT,
    InvalidRetentionPolicy,
    LockfilePins,
    RetentionPolicy,
    VersionState,
    Why,
    plan,
)

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
LONG_AGO = NOW - timedelta(days=400)
NO_LOCKFILES = LockfilePins({})
HUGE = "1" * 5000


def old(version: str, **fields) -> VersionState:
    return VersionState(version, uploaded=fields.pop("uploaded", LONG_AGO), **fields)


def whys(project_plan, version: str) -> list[Why]:
    return [r.why for r in next(v for v in project_plan.versions if v.version == version).reasons]


# The policy --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "policy"),
    [
        ({}, RetentionPolicy(None, None)),
        ({"max_versions": None, "keep_downloaded_days": None}, RetentionPolicy(None, None)),
        ({"max_versions": 1, "keep_downloaded_days": 0}, RetentionPolicy(1, 0)),
        ({"max_versions": MAX_VERSIONS_LIMIT}, RetentionPolicy(MAX_VERSIONS_LIMIT, None)),
        ({"keep_downloaded_days": MAX_KEEP_DOWNLOADED_DAYS}, RetentionPolicy(None, 3650)),
        ({"max_versions": "20", "keep_downloaded_days": "30"}, RetentionPolicy(20, 30)),  # a query string
    ],
)
def test_a_policy_reads_from_json_or_a_query(body, policy):
    assert RetentionPolicy.from_json(body) == policy
    assert RetentionPolicy.from_json(policy.to_json()) == policy


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"max_versions": 0}, "'max_versions' must be a whole number from 1 to 10000"),
        ({"max_versions": -5}, "'max_versions'"),
        ({"max_versions": MAX_VERSIONS_LIMIT + 1}, "'max_versions'"),
        ({"max_versions": 10**30}, "'max_versions'"),
        ({"max_versions": True}, "'max_versions'"),
        ({"max_versions": 2.5}, "'max_versions'"),
        ({"max_versions": "-1"}, "'max_versions'"),
        ({"max_versions": "3 versions"}, "'max_versions'"),
        ({"max_versions": HUGE}, "'max_versions'"),
        ({"max_versions": "²"}, "'max_versions'"),
        ({"keep_downloaded_days": -1}, "'keep_downloaded_days' must be a whole number from 0 to 3650"),
        ({"keep_downloaded_days": 3651}, "'keep_downloaded_days'"),
        ({"keep_downloaded_days": [30]}, "'keep_downloaded_days'"),
        ({"max_version": 3}, "Unknown retention field(s): max_version"),
        ([3, 30], "A retention policy is an object"),
        (None, "A retention policy is an object"),
    ],
)
def test_a_negative_or_absurd_policy_is_a_400(body, message):
    with pytest.raises(InvalidRetentionPolicy) as raised:
        RetentionPolicy.from_json(body)
    assert raised.value.status == 400 and message in raised.value.message


# The plan ----------------------------------------------------------------------------------------


def test_the_newest_n_stay_in_pep_440_order_with_pre_and_post_releases():
    versions = [old(v) for v in ("1.9", "2.0rc1", "2.0", "2.0.post1", "10.0.dev1", "2.0b2")]
    result = plan(RetentionPolicy(max_versions=2), "Demo_Lib", versions, NO_LOCKFILES, now=NOW)
    assert result.project == "demo-lib"
    # Newest first: 10 is newer than 2 (not text order), a dev release before its pre-releases.
    assert [v.version for v in result.versions] == ["10.0.dev1", "2.0.post1", "2.0", "2.0rc1", "2.0b2", "1.9"]
    assert result.deletions == ("2.0", "2.0rc1", "2.0b2", "1.9")
    first, third = result.versions[0], result.versions[2]
    assert (first.reasons[0].why, first.reasons[0].rank, first.reasons[0].limit) == (
        Why.WITHIN_COUNT_LIMIT,
        1,
        2,
    )
    assert first.reasons[0].message == "among the 2 newest (#1)"
    assert (third.reasons[0].why, third.reasons[0].rank) == (Why.OVER_COUNT_LIMIT, 3)
    assert third.reasons[0].message == "not among the 2 newest (#3)"


def test_recent_downloads_views_owner_pins_and_lockfiles_protect_old_versions():
    lockfiles = LockfilePins(
        {
            "api/requirements.txt": parse_lockfile(b"demo==1.1.0\nother==1.0\n", "requirements.txt"),
            "batch/uv.lock": parse_lockfile(
                (Path(__file__).parent / "lockfiles" / "uv.lock").read_bytes(), "uv.lock"
            ),
            "z/requirements.txt": parse_lockfile(b"demo==1.1\n", "requirements.txt"),
        }
    )
    versions = [
        old("1.0", last_downloaded=NOW - timedelta(days=29, hours=23)),  # within 30 days
        old("1.1"),  # 1.1.0 and 1.1 in two lockfiles
        old("1.2", views=frozenset({"local", "release"})),
        old("1.3", views=frozenset({"local"})),  # every version is in @local: no protection
        old("1.4", pinned=True),
        old("1.5", last_downloaded=NOW - timedelta(days=30)),  # exactly 30 days ago: not in the last 30
        old("1.6", uploaded=NOW - timedelta(days=2)),  # too new to judge by downloads
        old("1.7"),
        old("1.8"),
    ]
    result = plan(RetentionPolicy(2, 30), "demo", versions, lockfiles, now=NOW)
    assert result.deletions == ("1.5", "1.3")
    assert whys(result, "1.0") == [Why.OVER_COUNT_LIMIT, Why.DOWNLOADED]
    assert [r.lockfile for r in next(v for v in result.versions if v.version == "1.1").reasons[1:]] == [
        "api/requirements.txt",
        "z/requirements.txt",
    ]
    assert whys(result, "1.2") == [Why.OVER_COUNT_LIMIT, Why.IN_VIEW]
    assert whys(result, "1.4") == [Why.OVER_COUNT_LIMIT, Why.PINNED_BY_OWNER]
    assert whys(result, "1.6") == [Why.OVER_COUNT_LIMIT, Why.UPLOADED_RECENTLY]
    deleted = next(v for v in result.versions if v.version == "1.5")
    assert [r.message for r in deleted.reasons] == [
        "not among the 2 newest (#4)",
        "last downloaded on 2026-11-01, before 2026-11-01",
    ]
    assert deleted.to_json() == {
        "version": "1.5",
        "action": "delete",
        "reasons": [
            {
                "reason": "over_count_limit",
                "message": "not among the 2 newest (#4)",
                "rank": 4,
                "limit": 2,
            },
            {
                "reason": "not_downloaded_since",
                "message": "last downloaded on 2026-11-01, before 2026-11-01",
                "when": "2026-11-01T12:00:00.000000Z",
                "since": "2026-11-01T12:00:00.000000Z",
            },
        ],
    }
    kept = next(v for v in result.versions if v.version == "1.2").to_json()
    assert kept["action"] == "keep" and kept["reasons"][1] == {
        "reason": "in_view",
        "message": "in view @release",
        "view": "release",
    }
    never = next(v for v in result.versions if v.version == "1.3").reasons[-1]
    assert never.message == "never downloaded" and never.since is not None


def test_yanked_versions_count_last_and_deleted_ones_not_at_all():
    versions = [old("1.0"), old("2.0"), old("3.0", yanked=True), old("0.9", deleted=True)]
    result = plan(RetentionPolicy(max_versions=2), "demo", versions, NO_LOCKFILES, now=NOW)
    assert result.deletions == ("3.0",)
    assert whys(result, "3.0") == [Why.OVER_COUNT_LIMIT, Why.YANKED]
    assert whys(result, "0.9") == [Why.ALREADY_DELETED]
    # At most N versions: one yanked version alone is not more than N.
    alone = plan(RetentionPolicy(max_versions=1), "demo", [old("3.0", yanked=True)], NO_LOCKFILES, now=NOW)
    assert alone.deletions == () and whys(alone, "3.0") == [Why.WITHIN_COUNT_LIMIT, Why.YANKED]


def test_without_a_count_limit_nothing_is_deleted():
    versions = [old(f"1.{i}") for i in range(5)]
    result = plan(RetentionPolicy(keep_downloaded_days=7), "demo", versions, NO_LOCKFILES, now=NOW)
    assert result.deletions == ()
    assert {tuple(whys(result, v.version)) for v in versions} == {(Why.NO_COUNT_LIMIT,)}


def test_zero_days_protects_no_download():
    versions = [old("1.0", last_downloaded=NOW - timedelta(seconds=1)), old("2.0")]
    assert plan(RetentionPolicy(1, 0), "demo", versions, NO_LOCKFILES, now=NOW).deletions == ("1.0",)


def test_a_version_that_is_not_pep_440_is_kept_and_shown_last():
    versions = [old("1.0"), old("2.0"), old("not-a-version"), old(HUGE)]
    result = plan(RetentionPolicy(max_versions=1), "demo", versions, NO_LOCKFILES, now=NOW)
    assert [v.version for v in result.versions] == ["2.0", "1.0", HUGE, "not-a-version"]
    assert result.deletions == ("1.0",)
    assert whys(result, "not-a-version") == [Why.NOT_A_VERSION]


def test_the_plan_is_the_same_whatever_order_the_versions_come_in():
    versions = [
        old(f"{major}.{minor}{suffix}", last_downloaded=NOW - timedelta(days=minor), yanked=minor == 3)
        for major in range(20)
        for minor in range(5)
        for suffix in ("", "rc1", ".post1")
    ]
    lockfiles = LockfilePins({"uv.lock": parse_lockfile(b"demo==3.2rc1\n", "requirements.txt")})
    policy = RetentionPolicy(10, 2)
    expected = plan(policy, "demo", versions, lockfiles, now=NOW)
    shuffled = random.Random(14)
    for _round in range(20):
        shuffled.shuffle(versions)
        assert plan(policy, "demo", versions, lockfiles, now=NOW) == expected
    kept = {v.version for v in expected.versions if not v.delete}
    # The 10 newest (3 is yanked), what was downloaded in the last 2 days (minor 0 and 1), the lockfile's pin.
    newest = {f"19.{m}{s}" for m in (4, 2, 1) for s in ("", "rc1", ".post1")} | {"19.0.post1"}
    downloaded = {f"{major}.{m}{s}" for major in range(20) for m in (0, 1) for s in ("", "rc1", ".post1")}
    assert kept == newest | downloaded | {"3.2rc1"}
