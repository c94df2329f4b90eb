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
            if not k.startswith(("PIP_", "UV_", "TWINE_", "POETRY_", "NETRC", "KEYRING_"))
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
        self,
        *args: str | Path,
        check: bool = True,
        env: dict[str, str] | None = None,
        cwd: Path | None = None,
        input_text: str | None = None,
    ) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [str(a) for a in args],
            env={**self.env, **(env or {})},
            cwd=cwd,
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

    def pip_install(self, index_url: str, target: Path, *args: str, check: bool = True, env=None):
        pip = [sys.executable, "-m", "pip", "install", "--no-cache-dir", "--index-url", index_url]
        return self.run(*pip, "--target", target, *args, check=check, env=env)

    def uv_install(
        self, index_url: str, target: Path, *args: str, check: bool = True, env=None, no_cache: bool = True
    ):
        uv = [BIN / "uv", "pip", "install", "--no-config", *(["--no-cache"] if no_cache else [])]
        uv += ["--python", sys.executable, "--index-url", index_url, "--target", target]
        return self.run(*uv, *args, check=check, env=env)

    def twine_upload(
        self, upload_url: str | None, token: str | None, *args: str | Path, check=True, env=None
    ):
        twine = [BIN / "twine", "upload", "--verbose", "--non-interactive", "--disable-progress-bar"]
        target = ["--repository-url", upload_url] if upload_url else []
        credentials = ["-u", "__token__", "-p", token] if token else []
        return self.run(*twine, *target, *credentials, *args, check=check, env=env)

    def uv_publish(self, upload_url: str, token: str, *files: Path, check: bool = True):
        uv = [BIN / "uv", "publish", "--no-config", "--trusted-publishing", "never"]
        credentials = ["--username", "__token__", "--password", token]
        return self.run(*uv, "--publish-url", upload_url, *credentials, *files, check=check)
