"""The one thing pyproject.toml cannot say: the version, which is Feedhouse's (../../shared/version.py).

setuptools reads dynamic versions only from files inside the project, and the app ships shared/ but
not clients/; so the app owns the version and this reads it. Only wheels are built (tools/client_wheel.py):
an sdist of this directory would not carry shared/version.py.
"""

import ast
from pathlib import Path

from setuptools import setup

_VERSION_FILE = Path(__file__).resolve().parents[2] / "shared" / "version.py"


def _version() -> str:
    for node in ast.parse(_VERSION_FILE.read_text(encoding="utf-8")).body:
        if isinstance(node, ast.Assign) and [t.id for t in node.targets if isinstance(t, ast.Name)] == [
            "VERSION"
        ]:
            return ast.literal_eval(node.value)
    raise RuntimeError(f"no VERSION = '...' in {_VERSION_FILE}")


setup(version=_version())
