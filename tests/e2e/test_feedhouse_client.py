"""The feedhouse client as users use it: installed from the running deployment's URL, then `login`,
`connect` and every client working against a private feed, with no token in any file but the
credential store; and connect's care with files already on disk."""

from __future__ import annotations

import configparser
import json
import re
import signal
import subprocess
import sys

import pytest

from tests.conftest import ADMIN_TOKEN, ROOT
from tests.e2e.api import call, create_feed, create_token, unique
from tests.e2e.clients import BIN, Clients
from tests.e2e.feedhouse_user import clean_environment
from tests.support.dists import make_wheel
from tests.tools.test_run import make_run

pytestmark = pytest.mark.e2e


def wheel_file(directory, name: str, version: str):
    directory.mkdir(parents=True, exist_ok=True)
    filename, data = make_wheel(name, version)
    (directory / filename).write_bytes(data)
    return directory / filename


@pytest.fixture
def team(server, tmp_path):
    """A private feed holding one package, and a contributor's publish token for it."""
    feed = create_feed(server)
    alice = unique("alice")
    assert call(server, "PUT", f"/api/feeds/{feed}/permissions/{alice}", {"role": "contributor"})[0] == 200
    token = create_token(server, alice, scope="publish", feeds=[feed])
    name = unique("fh-team")
    Clients(tmp_path / "admin").twine_upload(
        f"{server.url}/{feed}/upload/", ADMIN_TOKEN, wheel_file(tmp_path / "first", name, "1.0")
    )
    return feed, token, name


def versions(server, feed: str, name: str) -> set[str]:
    status, body = call(server, "GET", f"/api/feeds/{feed}/packages/{name}")
    assert status == 200, body
    return {v["version"] for v in body["versions"]}


def test_a_new_user_installs_logs_in_connects_and_every_client_installs_and_publishes(
    server, user, team, tmp_path
):
    feed, token, name = team
    login = user.feedhouse("login", server.url, "--token-stdin", input_text=token + "\n")
    assert "Logged in" in login.stdout
    connected = user.feedhouse("connect", feed)
    for client in ("pip", "uv", "twine", "poetry", "pdm"):
        assert f"{client} " in connected.stdout and "FAILED" not in connected.stdout, connected.stdout

    # pip in a fresh venv (the pip 23.2 that Python 3.11's venv installs): no flags, no URL, no token.
    user.run(sys.executable, "-m", "venv", tmp_path / "venv")
    user.run(tmp_path / "venv" / "bin" / "pip", "install", name)
    assert user.run(tmp_path / "venv" / "bin" / "python", "-c", f"import {name.replace('-', '_')}")

    # uv add in a new project: the lockfile names the feed, never a credential.
    project = tmp_path / "uv-project"
    user.run(BIN / "uv", "init", "--quiet", "--no-workspace", project)
    user.run(BIN / "uv", "add", name, cwd=project)
    lock = (project / "uv.lock").read_text()
    assert f'registry = "{server.url}/{feed}/simple/"' in lock and "__token__" not in lock

    # Publishing: twine and poetry through their repository name, uv through its index, pdm too.
    user.run(
        BIN / "twine", "upload", "--non-interactive", "-r", feed, wheel_file(tmp_path / "t", name, "2.0")
    )
    user.run(BIN / "uv", "publish", "--index", feed, wheel_file(tmp_path / "u", name, "3.0"))
    poetry_project = tmp_path / "poetry-project"
    wheel_file(poetry_project / "dist", name, "4.0")
    (poetry_project / "pyproject.toml").write_text(f'[project]\nname = "{name}"\nversion = "4.0"\n')
    user.run(BIN / "poetry", "publish", "--no-interaction", "-r", feed, cwd=poetry_project)
    pdm_project = tmp_path / "pdm-project"
    wheel_file(pdm_project / "dist", name, "5.0")
    (pdm_project / "pyproject.toml").write_text(f'[project]\nname = "{name}"\nversion = "5.0"\n')
    user.run("pdm", "publish", "--no-build", "-r", feed, cwd=pdm_project)
    assert versions(server, feed, name) == {"1.0", "2.0", "3.0", "4.0", "5.0"}

    # pdm resolves from the feed too (pypi.url in its config).
    pdm_app = tmp_path / "pdm-app"
    pdm_app.mkdir()
    (pdm_app / "pyproject.toml").write_text(
        '[project]\nname = "app"\nversion = "0"\nrequires-python = ">=3.11"\ndependencies = []\n'
        "[tool.pdm]\ndistribution = false\n"
    )
    user.run("pdm", "add", "--no-sync", f"{name}==5.0", cwd=pdm_app)
    assert name in (pdm_app / "pdm.lock").read_text()

    # poetry installs from a project's sources: connect writes the feed into the project.
    poetry_app = tmp_path / "poetry-app"
    poetry_app.mkdir()
    (poetry_app / "pyproject.toml").write_text(
        f'[project]\nname = "papp"\nversion = "0"\nrequires-python = ">=3.11"\ndependencies = ["{name}"]\n'
        "\n[tool.poetry]\npackage-mode = false\n"
    )
    user.feedhouse("connect", feed, "--poetry", "--project", poetry_app)
    user.run(BIN / "poetry", "lock", "--no-interaction", cwd=poetry_app)
    assert f'name = "{name}"\nversion = "5.0"' in (poetry_app / "poetry.lock").read_text()

    # doctor on the connected machine: every client's index, and no problem.
    doctor = " ".join(user.feedhouse("doctor", "--project", project).stdout.split())
    host = server.url.split("://")[1]
    for line in (
        f"installs from http://__token__@{host}/{feed}/simple/",
        f"uv index '{feed}' http://__token__@{host}/{feed}/simple/",
        f"twine -r {feed} uploads to {server.url}/{feed}/upload/",
        f"poetry -r {feed} publishes to {server.url}/{feed}/upload/",
        f"pdm installs from {server.url}/{feed}/simple/",
    ):
        assert line in doctor, line
    assert "problem" not in doctor

    credentials = user.home / ".config" / "feedhouse" / "credentials.ini"
    holding = user.files_holding(token, project, poetry_project, pdm_project, pdm_app, poetry_app)
    assert holding == [credentials]


def test_connect_edits_files_in_place_and_is_idempotent(server, user, team):
    feed, token, _ = team
    user.feedhouse("login", server.url, "--token-stdin", input_text=token + "\n")
    pip_conf = user.home / ".config" / "pip" / "pip.conf"
    pip_conf.parent.mkdir(parents=True)
    pip_conf.write_text(
        "# my pip settings\n[global]\ntimeout = 60  \n\n[install]\n# keep me\nno-compile = true\n"
    )
    pypirc = user.home / ".pypirc"
    pypirc.write_text("# mine\n[distutils]\nindex-servers =\n    pypi\n\n[pypi]\nusername = __token__\n")
    uv_toml = user.home / ".config" / "uv" / "uv.toml"
    uv_toml.parent.mkdir(parents=True)
    uv_toml.write_text(
        "# uv, mine\nnative-tls = true\n\n"
        '[[index]]\nname = "old"\nurl = "https://old.example/simple/"\ndefault = true\n'
    )

    dry = user.feedhouse("connect", feed, "--pip", "--uv", "--twine", "--dry-run")
    assert "would change" in dry.stdout
    assert "index-url" not in pip_conf.read_text()

    user.feedhouse("connect", feed, "--pip", "--uv", "--twine")
    pip_text = pip_conf.read_text()
    assert pip_text.startswith("# my pip settings\n[global]\ntimeout = 60")
    assert "# keep me\nno-compile = true" in pip_text
    parsed = configparser.ConfigParser()
    parsed.read_string(pip_text)
    assert parsed["global"]["index-url"] == f"http://__token__@{server.url.split('://')[1]}/{feed}/simple/"
    assert parsed["global"]["keyring-provider"] == "subprocess"
    rc = configparser.ConfigParser()
    rc.read_string(pypirc.read_text())
    assert (
        rc["distutils"]["index-servers"].split() == ["pypi", feed] and rc["pypi"]["username"] == "__token__"
    )
    assert rc[feed]["repository"] == f"{server.url}/{feed}/upload/"
    uv_text = uv_toml.read_text()
    assert uv_text.startswith("# uv, mine\nnative-tls = true")
    assert 'name = "old"\nurl = "https://old.example/simple/"\nexplicit = true' in uv_text

    again = user.feedhouse("connect", feed, "--pip", "--uv", "--twine")
    assert again.stdout.count("already set") == 3
    assert user.files_holding(token) == [user.home / ".config" / "feedhouse" / "credentials.ini"]


def test_a_malformed_file_is_named_and_left_alone(server, user, team):
    feed, token, _ = team
    user.feedhouse("login", server.url, "--token-stdin", input_text=token + "\n")
    uv_toml = user.home / ".config" / "uv" / "uv.toml"
    uv_toml.parent.mkdir(parents=True)
    uv_toml.write_text("[[index]\nname = \n")
    pypirc = user.home / ".pypirc"
    pypirc.write_text("not an ini file\n")
    for client, path in (("--uv", uv_toml), ("--twine", pypirc)):
        before = path.read_bytes()
        result = user.feedhouse("connect", feed, "--pip", client, check=False)
        assert result.returncode == 1
        assert f"{path} is not valid" in result.stderr and "left as it is" in result.stderr
        assert path.read_bytes() == before
    # Every file is read before any is written: pip's was not written either.
    assert not (user.home / ".config" / "pip" / "pip.conf").exists()


def test_connect_refuses_what_it_cannot_reach_and_says_why(server, user, team):
    feed, token, _ = team
    assert user.feedhouse("connect", feed, check=False).returncode == 3  # not logged in
    user.feedhouse("login", server.url, "--token-stdin", input_text=token + "\n")
    missing = user.feedhouse("connect", "no-such-" + feed, "--pip", check=False)
    assert missing.returncode == 5
    assert f"Feed 'no-such-{feed}' does not exist. [HTTP 404" in missing.stderr
    other = create_feed(server)  # alice has no role there, and her token names only her feed
    denied = user.feedhouse("connect", other, "--pip", check=False)
    assert denied.returncode == 4 and "[HTTP 403" in denied.stderr
    status, body = call(server, "GET", f"/api/feeds/{other}", token=token)
    assert status == 403 and body["message"] in denied.stderr
    user.env.update(FEEDHOUSE_URL="http://127.0.0.1:9", FEEDHOUSE_TOKEN=token)
    unreachable = user.feedhouse("connect", feed, "--pip", check=False)
    assert unreachable.returncode == 7 and "cannot reach http://127.0.0.1:9" in unreachable.stderr


def test_the_check_names_a_twine_without_the_backend_and_the_fix(server, user, team, tmp_path):
    feed, token, _ = team
    user.feedhouse("login", server.url, "--token-stdin", input_text=token + "\n")
    user.run(sys.executable, "-m", "venv", tmp_path / "bare")
    shadow = tmp_path / "shadow"
    shadow.mkdir()
    (shadow / "twine").write_text(f"#!{tmp_path / 'bare' / 'bin' / 'python'}\n")
    (shadow / "twine").chmod(0o755)
    user.env["PATH"] = f"{shadow}:{user.env['PATH']}"
    result = user.feedhouse("connect", feed, "--twine", check=False)
    assert result.returncode == 1
    assert "whose keyring has no keyring" not in result.stdout
    assert "has no keyring" in result.stdout
    assert f"-m pip install {server.url}/-/client/feedhouse-" in result.stdout


def test_doctor_finds_each_planted_trap_and_never_shows_the_token(server, user, team, tmp_path):
    feed, token, name = team
    user.feedhouse("login", server.url, "--token-stdin", input_text=token + "\n")
    host = server.url.split("://")[1]
    # pip from a venv without the backend, told to import it; and a token in an extra index URL.
    user.run(sys.executable, "-m", "venv", tmp_path / "venv")
    user.env["PATH"] = f"{tmp_path / 'venv' / 'bin'}:{user.env['PATH']}"
    pip_conf = user.home / ".config" / "pip" / "pip.conf"
    pip_conf.parent.mkdir(parents=True)
    pip_conf.write_text(
        f"[global]\nindex-url = http://__token__@{host}/{feed}/simple/\nkeyring-provider = import\n"
        f"extra-index-url = http://__token__:{token}@{host}/{feed}/simple/\n"
    )
    # uv pointed at a feed the token cannot read, without a keyring provider.
    other = create_feed(server)
    uv_toml = user.home / ".config" / "uv" / "uv.toml"
    uv_toml.parent.mkdir(parents=True)
    uv_toml.write_text(f'[[index]]\nname = "other"\nurl = "{server.url}/{other}/simple/"\n')
    # A requirements file that pip-compile wrote with the token, a password in .pypirc, shell history.
    project = tmp_path / "project"
    project.mkdir()
    (project / "requirements.txt").write_text(
        f"--index-url http://__token__:{token}@{host}/{feed}/simple/\n{name}==1.0\n"
    )
    (user.home / ".pypirc").write_text(
        f"[distutils]\nindex-servers = {feed}\n\n[{feed}]\nusername = __token__\npassword = {token}\n"
    )
    (user.home / ".bash_history").write_text(f"ls\nexport FEEDHOUSE_TOKEN={token}\n")

    result = user.feedhouse("doctor", "--project", project, check=False)
    said = " ".join(result.stdout.split())
    assert result.returncode == 1, said
    assert token not in result.stdout + result.stderr
    for finding in (
        "pip's keyring-provider is import, but the Feedhouse backend is not installed beside that pip",
        "pip's extra-index-url in",
        f"uv uses feed '{other}', which the token cannot read",
        "uv index 'other'",
        "needs the token, and uv has no keyring provider",
        f"{project / 'requirements.txt'}:1 holds a token or password",
        f"{user.home / '.pypirc'} [{feed}] holds a password",
        f"{user.home / '.bash_history'} holds a Feedhouse token",
    ):
        assert finding in said, finding

    # A revoked token: the deployment refuses it, and doctor says to log in again.
    token_id = token.split("_")[1]
    assert call(server, "DELETE", f"/api/tokens/{token_id}")[0] == 204
    revoked = user.feedhouse("doctor", "--project", project, "--json", check=False)
    findings = json.loads(revoked.stdout)["findings"]
    assert any("refuses the stored token" in f["what"] and "feedhouse login" in f["fix"] for f in findings)


def readme_client_block() -> str:
    """The shell block of the README's client section: what a new user pastes after `make run`."""
    readme = (ROOT / "README.md").read_text()
    section = readme.split("\n## The `feedhouse` client\n", 1)[1].split("\n## ", 1)[0]
    return re.search(r"```sh\n(.*?)```", section, re.DOTALL)[1]


@pytest.mark.timeout(900)
def test_the_readme_client_path_works_word_for_word(checkout, tmp_path):
    """make run, then in a fresh shell (a HOME of its own): install feedhouse from the deployment, log
    in, connect, publish with twine, install with pip and uv add; no token in any file but the store."""
    with make_run(["make", "run"], checkout) as run:
        base_url, token = run.banner()
        port = base_url.rsplit(":", 1)[1]
        script = readme_client_block().replace("127.0.0.1:7071", f"127.0.0.1:{port}")
        script = script.replace("/tmp/try-client", f"{tmp_path}/try-client")
        home = tmp_path / "home"
        (home / "xdg-dirs").mkdir(parents=True)
        env = {k: v for k, v in clean_environment().items() if not k.startswith(("MAKE", "MFLAGS"))}
        env.update(HOME=str(home), XDG_CONFIG_DIRS=str(home / "xdg-dirs"), PATH="/usr/bin:/bin")
        result = subprocess.run(
            ["bash", "-euo", "pipefail", "-c", script],
            cwd=checkout,
            env=env,
            capture_output=True,
            text=True,
            timeout=800,
            check=False,
        )
        assert result.returncode == 0, f"{result.stdout}\n{result.stderr}"
        assert "FAILED" not in result.stdout
        run.process.send_signal(signal.SIGTERM)
        run.wait()
    assert list((tmp_path / "try-client").glob("lib/python*/site-packages/feedhouse_example_app"))
    assert "feedhouse-example-app" in (tmp_path / "try-client-uv" / "uv.lock").read_text()
    holding = [
        p
        for root in (home, tmp_path / "try-client-uv")
        for p in root.rglob("*")
        if p.is_file() and not p.is_symlink() and token.encode() in p.read_bytes()
    ]
    assert holding == [home / ".config" / "feedhouse" / "credentials.ini"]
