"""What commands print: a table or a line for people, the API's JSON with ``--json`` for scripts."""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from typing import Any

from tabulate import tabulate


def emit_json(data: Any) -> None:
    json.dump(data, sys.stdout, indent=2, sort_keys=False)
    sys.stdout.write("\n")


def table(rows: Sequence[Sequence[Any]], headers: Sequence[str]) -> None:
    if not rows:
        print("(none)")
        return
    cells = [["" if cell is None else _cell(cell) for cell in row] for row in rows]
    print(tabulate(cells, headers=list(headers), tablefmt="simple", disable_numparse=True))


def _cell(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (list, tuple)):
        return ", ".join(str(v) for v in value)
    return str(value)


def note(message: str) -> None:
    """Progress and explanations: standard error, so standard output stays the result."""
    print(message, file=sys.stderr)
