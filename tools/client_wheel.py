"""Build the `feedhouse` client's wheel from clients/feedhouse: ``python -m tools.client_wheel``.

The app serves it at /-/client/ (functions/client.py) from ``wheelhouse/``; tools/package.py puts it in the
deployed zip, and ``make bootstrap`` (hence ``make run`` and ``make test``) builds it into the checkout's
``wheelhouse/``. The bytes depend only on the sources: SOURCE_DATE_EPOCH fixes the archive's dates, so a
rebuild of the same version serves the same file under its immutable URL.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CLIENT = ROOT / "clients" / "feedhouse"
WHEELHOUSE = ROOT / "wheelhouse"
_EPOCH = "315532800"  # 1980-01-01, the earliest date a zip holds


def version() -> str:
    namespace: dict[str, str] = {}
    exec((ROOT / "shared" / "version.py").read_text(encoding="utf-8"), namespace)  # noqa: S102 - our own file
    return namespace["VERSION"]


def wheel_name() -> str:
    return f"feedhouse-{version()}-py3-none-any.whl"


def build(outdir: Path = WHEELHOUSE) -> Path:
    """Build the wheel into ``outdir`` (replacing any other wheel of the client there); its path."""
    # setuptools keeps build/ between runs, and would ship a module since deleted from the sources.
    shutil.rmtree(CLIENT / "build", ignore_errors=True)
    env = {**os.environ, "SOURCE_DATE_EPOCH": _EPOCH, "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    with tempfile.TemporaryDirectory() as tmp:
        # pip builds it in an isolated environment with the setuptools pyproject.toml asks for.
        subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "wheel",
                "--quiet",
                "--no-deps",
                "--no-cache-dir",
                "--wheel-dir",
                tmp,
                str(CLIENT),
            ],
            check=True,
            env=env,
        )
        built = Path(tmp) / wheel_name()
        if not built.is_file():
            raise RuntimeError(f"pip built {sorted(p.name for p in Path(tmp).iterdir())}, not {built.name}")
        outdir.mkdir(parents=True, exist_ok=True)
        for old in outdir.glob("feedhouse-*.whl"):
            old.unlink()
        target = outdir / built.name
        shutil.move(built, target)
    shutil.rmtree(CLIENT / "build", ignore_errors=True)
    return target


def sources() -> list[Path]:
    """What the wheel is built from."""
    files = [
        ROOT / "shared" / "version.py",
        CLIENT / "pyproject.toml",
        CLIENT / "setup.py",
        CLIENT / "README.md",
    ]
    return files + sorted((CLIENT / "src").rglob("*.py"))


def ensure() -> Path:
    """The wheel in ``wheelhouse/``, built first when it is missing or older than its sources (tests)."""
    target = WHEELHOUSE / wheel_name()
    if not target.is_file() or target.stat().st_mtime < max(p.stat().st_mtime for p in sources()):
        return build()
    return target


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tools.client_wheel", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--outdir", type=Path, default=WHEELHOUSE, help=f"default: {WHEELHOUSE}")
    args = parser.parse_args(argv)
    print(f"Built {build(args.outdir)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
