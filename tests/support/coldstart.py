"""What a cold start loads: the app imported and its functions indexed in a fresh interpreter, as the
Python worker does, so that tests can keep heavy libraries out of it."""

from __future__ import annotations

import json
import subprocess
import sys

from tests.conftest import ROOT

_SCRIPT = """
import json, sys
import function_app
function_app.app.get_functions()
print(json.dumps(sorted(sys.modules)))
"""


def loaded_at_cold_start(*packages: str) -> list[str]:
    """The modules of ``packages`` (top-level names, or dotted ones with their submodules) that a cold
    start imports."""
    result = subprocess.run(
        [sys.executable, "-c", _SCRIPT], cwd=ROOT, capture_output=True, text=True, check=True
    )
    loaded = json.loads(result.stdout.strip().splitlines()[-1])
    return [m for m in loaded if any(m == p or m.startswith(p + ".") for p in packages)]
