"""Run pip, uv and twine as subprocesses, isolated from this machine's own configuration.

This machine's pip reads a user config with extra local indexes and PIP_FIND_LINKS; an installer
that sees them could pass a test without ever touching our feed. Every client here runs with no
config file, no cache, a private HOME and none of the PIP_/UV_/TWINE_ variables.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

BIN = Path(sys.executable).parent


class Clients:
    def __init__(self, home: Path) -> None:
        home.mkdir(parents=True, exist_ok=True)
        self.env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("PIP_", "UV_", "TWINE_", "NETRC", "KEYRING_"))
        }
        self.env.update(
            HOME=str(home),
            XDG_CONFIG_HOME=str(home / ".config"),
            XDG_CACHE_HOME=str(home / ".cache"),
            PIP_CONFIG_FILE=os.devnull,
            PIP_NO_CACHE_DIR="1",
            PIP_DISABLE_PIP_VERSION_CHECK="1",
            PIP_NO_INPUT="1",
            UV_NO_CONFIG="1",
            UV_NO_CACHE="1",
            UV_PYTHON_DOWNLOADS="never",
            PYTHON_KEYRING_BACKEND="keyring.backends.null.Keyring",
        )

    def run(
        self, *args: str | Path, check: bool = True, input_text: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [str(a) for a in args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=240,
            check=False,
            input=input_text,
        )
        if check and result.returncode != 0:
            raise AssertionError(
                f"{' '.join(map(str, args))} exited {result.returncode}\n{result.stdout}\n{result.stderr}"
            )
        return result

    def pip_install(self, index_url: str, target: Path, *requirements: str, check: bool = True):
        return self.run(
            sys.executable,
            "-m",
            "pip",
            "install",
            "--isolated",
            "--no-cache-dir",
            "--index-url",
            index_url,
            "--target",
            target,
            *requirements,
            check=check,
        )

    def uv_install(
        self, index_url: str, target: Path, *requirements: str, check: bool = True, no_cache: bool = True
    ):
        return self.run(
            BIN / "uv",
            "pip",
            "install",
            "--no-config",
            *(["--no-cache"] if no_cache else []),
            "--python",
            sys.executable,
            "--index-url",
            index_url,
            "--target",
            target,
            *requirements,
            check=check,
        )

    def twine_upload(self, upload_url: str, token: str, *files: Path, check: bool = True):
        return self.run(
            BIN / "twine",
            "upload",
            "--verbose",
            "--non-interactive",
            "--disable-progress-bar",
            "--repository-url",
            upload_url,
            "-u",
            "__token__",
            "-p",
            token,
            *files,
            check=check,
        )

    def uv_publish(self, upload_url: str, token: str, *files: Path, check: bool = True):
        return self.run(
            BIN / "uv",
            "publish",
            "--no-config",
            "--publish-url",
            upload_url,
            "--username",
            "__token__",
            "--password",
            token,
            "--trusted-publishing",
            "never",
            *files,
            check=check,
        )
