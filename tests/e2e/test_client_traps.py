"""The client traps that the README's "Pointing clients at a private feed" spells out, each shown with
the real client and held to the README's words, so neither the advice nor the behaviour drifts."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ADMIN_TOKEN, ROOT
from tests.e2e.api import index_url, installed, unique
from tests.support.dists import build_project, make_sdist

pytestmark = pytest.mark.e2e

BIN = Path(sys.executable).parent


def readme_says(*phrases: str) -> None:
    readme = (ROOT / "README.md").read_text()
    section = readme.split("### Pointing clients at a private feed\n", 1)[1]
    flat = " ".join(section.split("**The keyring backend**")[0].split())
    assert [phrase for phrase in phrases if phrase not in flat] == []


def keyring_env(server) -> dict[str, str]:
    """The keyring backend configured for the test server, and this venv's `keyring` command on PATH."""
    return {
        "FEEDHOUSE_URL": server.url,
        "FEEDHOUSE_TOKEN": ADMIN_TOKEN,
        "PYTHON_KEYRING_BACKEND": "feedhouse_keyring.FeedhouseKeyring",
        "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}",
    }


@pytest.fixture
def published(server, clients, tmp_path, feed) -> tuple[str, list[Path]]:
    name = unique("fh-trap")
    files = build_project(tmp_path / "build", name, "1.0")
    clients.twine_upload(f"{server.url}/{feed}/upload/", ADMIN_TOKEN, *files)
    return name, files


def test_pips_import_provider_needs_keyring_beside_that_pip(server, clients, tmp_path, feed, published):
    readme_says(
        "`import` means pip imports `keyring` from **its own environment**",
        "(from versions: none)",
        "`keyring-provider = subprocess` with the user name in the URL",
    )
    name, _ = published
    venv = tmp_path / "fresh"
    subprocess.run([sys.executable, "-m", "venv", venv], check=True, capture_output=True)
    no_keyring = [venv / "bin" / "pip", "install", "--keyring-provider", "import", "--target", tmp_path / "a"]
    result = clients.run(
        *no_keyring, "--index-url", index_url(server, feed, None), name, env=keyring_env(server), check=False
    )
    assert result.returncode != 0
    assert f"{name} (from versions: none)" in result.stderr
    assert "401" not in result.stdout + result.stderr  # nothing says why

    # The same backend, installed beside the pip that uses it (this venv's), answers.
    beside = [sys.executable, "-m", "pip", "install", "--keyring-provider", "import", "--target"]
    index = ["--index-url", index_url(server, feed, None)]
    clients.run(*beside, tmp_path / "b", *index, name, env=keyring_env(server))
    assert installed(tmp_path / "b")


def test_uvs_keyring_route_needs_the_index_user_name(server, clients, tmp_path, feed, published):
    readme_says("`UV_KEYRING_PROVIDER=subprocess`", "**and** `UV_INDEX_TEAM_USERNAME=__token__`")
    name, _ = published
    env = {**keyring_env(server), "UV_KEYRING_PROVIDER": "subprocess"}
    team = f"team={index_url(server, feed, None)}"
    uv = [BIN / "uv", "pip", "install", "--no-config", "--no-cache", "--python", sys.executable]
    result = clients.run(*uv, "--index", team, "--target", tmp_path / "a", name, env=env, check=False)
    assert result.returncode != 0
    assert "401 Unauthorized" in result.stderr

    with_user = {**env, "UV_INDEX_TEAM_USERNAME": "__token__"}
    clients.run(*uv, "--index", team, "--target", tmp_path / "b", name, env=with_user)
    assert installed(tmp_path / "b")


def test_a_plain_rerun_publishes_where_twine_refuses_skip_existing(server, clients, feed, published):
    readme_says(
        "uploading a file identical to the stored one answers 200",
        "twine refuses it for any index but PyPI and TestPyPI",
    )
    _, files = published
    upload = f"{server.url}/{feed}/upload/"
    refused = clients.twine_upload(upload, ADMIN_TOKEN, "--skip-existing", *files, check=False)
    assert refused.returncode != 0
    assert "UnsupportedConfiguration" in refused.stdout + refused.stderr
    clients.twine_upload(upload, ADMIN_TOKEN, *files)


def test_uv_publish_check_url_skips_same_files_and_fails_on_other_bytes(
    server, clients, tmp_path, feed, published
):
    readme_says(
        "`uv publish --check-url https://feeds.contoso.com/team/simple/` skips files the feed already holds"
        " with the same hash and fails on one that differs"
    )
    name, files = published
    check = ["--check-url", f"{server.url}/{feed}/simple/"]
    again = clients.uv_publish(f"{server.url}/{feed}/upload/", ADMIN_TOKEN, *check, *files)
    assert "already exists, skipping" in again.stdout + again.stderr

    sdist, data = make_sdist(name, "1.0")  # the same file name with other bytes
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / sdist).write_bytes(data)
    other = clients.uv_publish(
        f"{server.url}/{feed}/upload/", ADMIN_TOKEN, *check, tmp_path / "other" / sdist, check=False
    )
    assert other.returncode != 0


def test_poetry_skip_existing_passes_over_a_file_with_other_bytes(server, clients, tmp_path, feed, published):
    readme_says(
        "`poetry publish --skip-existing` and `pdm publish --skip-existing` work too, but skip a file of the"
        " same name whatever its bytes"
    )
    name, _ = published
    project = tmp_path / "project"
    (project / "dist").mkdir(parents=True)
    (project / "pyproject.toml").write_text(f'[project]\nname = "{name}"\nversion = "1.0"\n')
    sdist, data = make_sdist(name, "1.0")
    (project / "dist" / sdist).write_bytes(data)
    env = {
        "POETRY_REPOSITORIES_TEAM_URL": f"{server.url}/{feed}/upload/",
        "POETRY_HTTP_BASIC_TEAM_USERNAME": "__token__",
        "POETRY_HTTP_BASIC_TEAM_PASSWORD": ADMIN_TOKEN,
    }
    poetry = [BIN / "poetry", "publish", "--no-interaction", "-r", "team"]
    skipped = clients.run(*poetry, "--skip-existing", env=env, cwd=project)
    assert "File exists. Skipping" in skipped.stdout + skipped.stderr
    refused = clients.run(*poetry, env=env, cwd=project, check=False)
    assert refused.returncode != 0
    assert "File already exists" in refused.stdout + refused.stderr


def test_the_readme_warns_that_pip_compile_writes_the_token_into_requirements() -> None:
    # pip-tools is no dependency of ours; its behaviour (pip-tools issue #1193: deliberate) was checked
    # by hand with pip-tools 7.5 against make run: `--index-url` with the token goes into the output.
    readme_says(
        "copies the index URL into the `requirements.txt` it writes, token included", "--no-emit-index-url"
    )
