"""checkov's Bicep checks pass offline; every waived check says why, next to the resource it waives."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.infra import checkov_env

INFRA = checkov_env.ROOT / "infra"
SKIP = re.compile(r"checkov:skip=([A-Z0-9_]+)(?::(.*))?")


def _skips() -> list[tuple[Path, int, str, str]]:
    found = []
    for path in sorted(INFRA.rglob("*.bicep")):
        for number, line in enumerate(path.read_text().splitlines(), 1):
            match = SKIP.search(line)
            if match:
                found.append((path, number, match[1], (match[2] or "").strip()))
    return found


def test_every_waived_check_has_a_reason():
    for path, number, check, reason in _skips():
        where = f"{path.relative_to(checkov_env.ROOT)}:{number}"
        assert re.fullmatch(r"CKV2?_AZURE_\d+", check), f"{where}: {check} isn't a checkov Azure check ID"
        assert len(reason) >= 30, f"{where}: waiving {check} needs a real reason, not {reason!r}"


# Building the virtualenv the first time takes about a minute (pip install checkov); later runs reuse it.
@pytest.mark.timeout(900)
def test_checkov_bicep_checks_pass():
    checkov = checkov_env.ensure()
    result = checkov_env.scan(checkov)
    report = result.stdout + result.stderr
    assert result.returncode == 0, report
    summary = re.search(r"Passed checks: (\d+), Failed checks: (\d+), Skipped checks: (\d+)", report)
    assert summary, report
    passed, failed, skipped = map(int, summary.groups())
    assert failed == 0, report
    assert passed > 0, "checkov ran no check: did it find the templates?"
    # Each skip comment waived something: a stale waiver (the check passes now) should go.
    assert skipped == len(_skips()), report
