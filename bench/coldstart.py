"""The cold start ``make bench`` measures: importing the app and indexing its functions, in a fresh
interpreter, from the deployment zip's contents as the platform runs them (its modules' shipped
bytecode, tools/package.py) and from the sources alone (the bytecode removed), interleaved. Python's
own start is not counted; the interpreter may write no bytecode (PYTHONDONTWRITEBYTECODE), as on the
zip's read-only mount, so each run pays what a new instance pays."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

from bench.servers import ROOT, BenchError
from bench.stats import summary
from tools import package

# What the Python worker does on a cold start, timed inside the interpreter: import the script file
# and index its functions (the worker asks the FunctionApp for them and reads each one's bindings).
_SCRIPT = """
import json, sys, time
started = time.perf_counter()
import function_app
functions = function_app.app.get_functions()
for function in functions:
    function.get_function_json()
print(json.dumps({"ms": (time.perf_counter() - started) * 1000, "functions": len(functions)}))
"""


def _once(app: Path) -> float:
    env = {k: v for k, v in os.environ.items() if k not in {"PYTHONPATH", "PYTHONHOME"}}
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    result = subprocess.run([sys.executable, "-c", _SCRIPT], cwd=app, env=env, capture_output=True, text=True)
    if result.returncode != 0:
        raise BenchError(f"importing the packaged app failed:\n{result.stderr[-3000:]}")
    figures = json.loads(result.stdout.strip().splitlines()[-1])
    if not figures["functions"]:
        raise BenchError("the packaged app indexed no functions")
    return figures["ms"]


def run(tmp: Path, rounds: int) -> dict:
    """Median (min, max) milliseconds of ``rounds`` cold starts each, with and without the bytecode."""
    archive = tmp / "coldstart.zip"
    package.build(ROOT, archive)
    shipped, sources = tmp / "coldstart-shipped", tmp / "coldstart-sources"
    with zipfile.ZipFile(archive) as zipped:
        zipped.extractall(shipped)
        zipped.extractall(sources)
    for cache in list(sources.rglob("__pycache__")):
        shutil.rmtree(cache)
    samples: dict[str, list[float]] = {"shipped bytecode": [], "sources only": []}
    for round_ in range(rounds + 1):  # round 0 warms the disk cache
        for name, app in (("shipped bytecode", shipped), ("sources only", sources)):
            ms = _once(app)
            if round_:
                samples[name].append(ms)
    return {name: summary(values) for name, values in samples.items()}


def format_figures(figures: dict) -> str:
    lines = [f"{'cold start: import function_app + index its functions':<52} {'median ms (min-max)':>24}"]
    for name, figure in figures.items():
        spread = f"{figure['median']:.0f} ({figure['min']:.0f}-{figure['max']:.0f})"
        lines.append(f"  {'from the package, ' + name:<50} {spread:>24}")
    return "\n".join(lines)
