"""``python -m tools.backfill_metadata``, the documented command, run as a subprocess."""

import os
import subprocess
import sys

from tests.conftest import ROOT
from tests.shared.test_backfill import make_legacy
from tests.support.publish import publish_wheel
from tests.support.stored import key_of


def run(app_env, *args):
    env = {**os.environ, **app_env}
    return subprocess.run(
        [sys.executable, "-m", "tools.backfill_metadata", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_backfill_command(app_env, storage, feed_name):
    wheel, _ = publish_wheel(feed_name, "cli-old", "1.0")
    make_legacy(storage, key_of(feed_name), "cli-old", wheel)

    dry = run(app_env, "--feed", feed_name, "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert f"would backfill {feed_name}/{wheel}" in dry.stdout
    assert "would backfill 1, already done 0, skipped 0" in dry.stdout

    done = run(app_env, "--feed", feed_name)
    assert done.returncode == 0, done.stderr
    assert "backfilled 1, already done 0, skipped 0" in done.stdout
    again = run(app_env, "--feed", feed_name)
    assert "backfilled 0, already done 1, skipped 0" in again.stdout
