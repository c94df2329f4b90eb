"""Backfill PEP 658 core metadata for files uploaded before Feedhouse stored it.

    python -m tools.backfill_metadata [--feed NAME ...] [--dry-run]

It uses the app's own settings: FEEDHOUSE_STORAGE_CONNECTION_STRING, or FEEDHOUSE_STORAGE_ACCOUNT_NAME
with DefaultAzureCredential (``az login`` as someone with Storage Blob Data Contributor and Storage
Table Data Contributor on the account). Safe to run while the app serves traffic, and to run again.
"""

from __future__ import annotations

import argparse
import sys

from shared.backfill import backfill_metadata
from shared.storage import get_storage


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tools.backfill_metadata", description=__doc__.split("\n")[0]
    )
    parser.add_argument(
        "--feed", action="append", dest="feeds", metavar="NAME", help="only this feed (repeatable)"
    )
    parser.add_argument("--dry-run", action="store_true", help="report what would be done, change nothing")
    args = parser.parse_args(argv)
    report = backfill_metadata(get_storage(), feed_names=args.feeds, dry_run=args.dry_run, progress=print)
    for label, why in report.skipped:
        print(f"skipped {label}: {why}")
    verb = "would backfill" if args.dry_run else "backfilled"
    print(
        f"{verb} {len(report.backfilled)}, already done {report.already_done}, skipped {len(report.skipped)}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
