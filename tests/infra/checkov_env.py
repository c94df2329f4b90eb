"""checkov in a virtualenv of its own, built on first use and rebuilt when its pinned requirement changes.

checkov pins an old pycep-parser, so it can't live in .venv next to the one the infra tests use.

    python -m tests.infra.checkov_env      # build or refresh .venv-checkov if needed, then scan infra/

It runs offline: ``BC_SKIP_MAPPING=TRUE`` and ``--skip-download`` keep checkov from calling its vendor's API.
Waived checks carry their reason next to the resource, as ``// checkov:skip=CKV_...:reason`` comments.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
VENV = ROOT / ".venv-checkov"
REQUIREMENTS = Path(__file__).with_name("checkov-requirements.txt")
STAMP_NAME = ".requirements.sha256"
SCAN_ARGS = ("-d", "infra", "--framework", "bicep", "--skip-download", "--compact", "--quiet")


def _fingerprint() -> str:
    # The interpreter matters too: a venv made by another Python is rebuilt.
    data = REQUIREMENTS.read_bytes() + sys.version.encode()
    return hashlib.sha256(data).hexdigest()


def checkov_path(venv: Path = VENV) -> Path:
    return venv / "bin" / "checkov"


def is_current(venv: Path = VENV) -> bool:
    stamp = venv / STAMP_NAME
    return checkov_path(venv).exists() and stamp.exists() and stamp.read_text().strip() == _fingerprint()


def ensure(venv: Path = VENV, log=print) -> Path:
    """The checkov executable, after building the virtualenv if it's missing or out of date."""
    if is_current(venv):
        return checkov_path(venv)
    started = time.monotonic()
    log(f"checkov_env: building {venv.name} from {REQUIREMENTS.name} (about a minute)")
    # The stamp is written last: a build cut short leaves none, and the next call starts over.
    shutil.rmtree(venv, ignore_errors=True)
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    # The venv is local state: keep it out of git even where .gitignore doesn't list it.
    (venv / ".gitignore").write_text("*\n")
    subprocess.run(
        [
            str(venv / "bin" / "python"),
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "-r",
            str(REQUIREMENTS),
        ],
        check=True,
    )
    (venv / STAMP_NAME).write_text(_fingerprint() + "\n")
    log(f"checkov_env: built in {time.monotonic() - started:.0f} s")
    return checkov_path(venv)


def scan(checkov: Path, root: Path = ROOT) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, BC_SKIP_MAPPING="TRUE")
    return subprocess.run(
        [str(checkov), *SCAN_ARGS], cwd=root, env=env, capture_output=True, text=True, check=False
    )


def main() -> int:
    result = scan(ensure())
    sys.stdout.write(result.stdout)
    sys.stderr.write(result.stderr)
    return result.returncode


if __name__ == "__main__":
    sys.exit(main())
