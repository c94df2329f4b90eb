from __future__ import annotations

import os
from pathlib import Path

from bench.clients import isolated_env, pip_install, uv_compile


def test_pip_and_uv_see_none_of_the_callers_settings() -> None:
    env = isolated_env(
        {
            "PATH": "/usr/bin",
            "HOME": "/root",
            "PIP_FIND_LINKS": "/opt/wheels",
            "PIP_INDEX_URL": "https://elsewhere/simple/",
            "PIP_CONFIG_FILE": "/etc/pip.conf",
            "UV_INDEX_URL": "https://elsewhere/simple/",
            "UV_CACHE_DIR": "/cache",
            "HTTP_PROXY": "http://proxy:3128",
            "https_proxy": "http://proxy:3128",
            "NO_PROXY": "localhost",
        }
    )
    assert env == {"PATH": "/usr/bin", "HOME": "/root", "PIP_CONFIG_FILE": os.devnull}


def test_pip_installs_cold_from_the_index_or_for_the_floor_from_the_directory_only(tmp_path: Path) -> None:
    from_index = pip_install(tmp_path / "t", index_url="http://127.0.0.1:1/simple/")
    assert {"--no-cache-dir", "--target"} <= set(from_index)
    assert from_index[from_index.index("--index-url") + 1] == "http://127.0.0.1:1/simple/"
    assert "--no-index" not in from_index and "--find-links" not in from_index
    floor = pip_install(tmp_path / "t", find_links=tmp_path / "wheels")
    assert {"--no-cache-dir", "--no-index"} <= set(floor)
    assert floor[floor.index("--find-links") + 1] == str(tmp_path / "wheels")
    assert "--index-url" not in floor


def test_uv_compiles_without_cache_or_configuration_files(tmp_path: Path) -> None:
    args = uv_compile(tmp_path / "requirements.in", "http://127.0.0.1:1/simple/")
    assert {"--no-cache", "--no-config"} <= set(args)
    assert args[args.index("--index-url") + 1] == "http://127.0.0.1:1/simple/"
