"""A new user's machine for the feedhouse client's end-to-end tests: an isolated HOME (and XDG
directories) where `feedhouse connect` writes real configuration files, the client installed from the
running deployment's own URL with `uv tool install`, and pdm in a venv of its own.

pip reads the user's pip.conf here (that is the point), so PIP_CONFIG_FILE is not set; every other
PIP_/UV_/... variable of this machine is dropped, and XDG_CONFIG_DIRS points at an empty directory so
that /etc/xdg/pip/pip.conf (this machine's extra indexes) stays out.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.e2e.clients import BIN

# pdm 2.29.4 with the hishel it was released against: with hishel 2 (which its `>=1.4` lets in) it
# fails on its first request ("module 'hishel' has no attribute 'SyncSqliteStorage'").
PDM_REQUIREMENTS = ("pdm==2.29.4", "hishel[httpx2]>=1.4,<2")
DROPPED = (
    "PIP_",
    "UV_",
    "TWINE_",
    "POETRY_",
    "PDM_",
    "NETRC",
    "KEYRING_",
    "PYTHON_KEYRING",
    "FEEDHOUSE_",
    "XDG_",
)


def clean_environment() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(DROPPED) and k != "VIRTUAL_ENV"}
    env.update(UV_PYTHON_DOWNLOADS="never", PIP_DISABLE_PIP_VERSION_CHECK="1")
    return env


def run(args, env, *, cwd=None, input_text=None, check=True, timeout=300) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [str(a) for a in args],
        env=env,
        cwd=cwd,
        input=input_text,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if check and result.returncode != 0:
        raise AssertionError(
            f"{' '.join(map(str, args))} exited {result.returncode}\n{result.stdout}\n{result.stderr}"
        )
    return result


def install_client(server_url: str, root: Path) -> Path:
    """`uv tool install` the client from the deployment's /-/client/ index; the bin directory."""
    env = clean_environment()
    env.update(
        HOME=str(root / "home"),
        UV_TOOL_DIR=str(root / "tools"),
        UV_TOOL_BIN_DIR=str(root / "bin"),
        UV_CACHE_DIR=str(root / "cache"),
    )
    (root / "home").mkdir(parents=True)
    run(
        [
            BIN / "uv",
            "tool",
            "install",
            "--python",
            sys.executable,
            "--index",
            f"{server_url}/-/client/simple/",
            "feedhouse",
        ],
        env,
    )
    return root / "bin"


def install_pdm(root: Path) -> Path:
    """pdm in a venv of its own; a directory holding only its command (the venv's pip stays off PATH)."""
    env = {**clean_environment(), "PIP_CONFIG_FILE": os.devnull}
    run([sys.executable, "-m", "venv", root / "venv"], env)
    run([root / "venv" / "bin" / "pip", "install", "--quiet", "--no-cache-dir", *PDM_REQUIREMENTS], env)
    (root / "bin").mkdir()
    (root / "bin" / "pdm").symlink_to(root / "venv" / "bin" / "pdm")
    return root / "bin"


class User:
    """A person at a fresh machine: their HOME, the client on PATH, pip, uv, twine, poetry and pdm."""

    def __init__(self, home: Path, client_bin: Path, pdm_bin: Path) -> None:
        self.home = home
        home.mkdir(parents=True)
        (home / "xdg-dirs").mkdir()
        self.env = clean_environment()
        self.env.update(
            HOME=str(home),
            XDG_CONFIG_HOME=str(home / ".config"),
            XDG_CACHE_HOME=str(home / ".cache"),
            XDG_DATA_HOME=str(home / ".local" / "share"),
            XDG_STATE_HOME=str(home / ".local" / "state"),
            XDG_CONFIG_DIRS=str(home / "xdg-dirs"),
            PATH=os.pathsep.join([str(client_bin), str(BIN), str(pdm_bin), "/usr/bin", "/bin"]),
            PIP_NO_CACHE_DIR="1",
            PIP_NO_INPUT="1",
            UV_CACHE_DIR=str(home / ".cache" / "uv"),
            UV_PYTHON=sys.executable,
        )

    def run(self, *args, **kwargs) -> subprocess.CompletedProcess[str]:
        return run(list(args), self.env, **kwargs)

    def feedhouse(self, *args, **kwargs) -> subprocess.CompletedProcess[str]:
        return self.run("feedhouse", *args, **kwargs)

    def files_holding(self, secret: str, *roots: Path) -> list[Path]:
        """Every file under HOME and ``roots`` whose bytes contain ``secret``."""
        found = []
        for root in (self.home, *roots):
            for path in root.rglob("*"):
                if path.is_file() and not path.is_symlink() and secret.encode() in path.read_bytes():
                    found.append(path)
        return found
