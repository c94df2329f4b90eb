"""``make run`` (tools/run.py) as a user runs it: in a terminal, in the background, restarted, and the
README's first-hour commands against it, word for word."""

from __future__ import annotations

import base64
import contextlib
import json
import os
import queue
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.clients import Clients
from tools.run import instructions, new_admin_token

ROOT = Path(__file__).resolve().parents[2]

FAKE_APP = """
import os
import azure.functions as func
from functions.http import text_errors

app = func.FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS)

@app.route(route="env", methods=["GET"])
@text_errors
def env(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse(os.environ["FEEDHOUSE_STORAGE_CONNECTION_STRING"])
"""


def _alive(pid: int) -> bool:
    """Whether pid runs; a zombie does not (our container's init may be slow to reap orphans)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] not in ("Z", "X")


def _descendants(pid: int) -> list[int]:
    found = []
    for children in Path(f"/proc/{pid}/task").glob("*/children"):
        with contextlib.suppress(FileNotFoundError):
            for child in map(int, children.read_text().split()):
                found += [child, *_descendants(child)]
    return found


def _closed(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
    except ConnectionRefusedError:
        return True
    return False


class MakeRun:
    """``make run`` or ``python -m tools.run`` started as ``&``, nohup and CI runners start it: with
    SIGINT ignored (inherited through exec), in a process group of its own, as a shell job is.

    ``kill()`` (always called, in ``finally``) ends the group and any Azurite it started, so no
    failing test leaves either behind."""

    def __init__(self, argv: list[str], cwd: Path, env: dict[str, str] | None = None) -> None:
        base = {k: v for k, v in os.environ.items() if not k.startswith(("FEEDHOUSE_", "MAKE", "MFLAGS"))}
        base.update(PORT="0", PYTHONPATH=str(ROOT))
        self.cwd = cwd
        self.stderr_path = cwd / f"run-{time.monotonic_ns()}.log"
        with self.stderr_path.open("wb") as stderr:
            self.process = subprocess.Popen(
                ["sh", "-c", 'trap "" INT; exec "$@"', "sh", *argv],
                cwd=cwd,
                env={**base, **(env or {})},
                stdout=subprocess.PIPE,
                stderr=stderr,
                start_new_session=True,
            )
        self.lines: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()
        self.azurites: list[int] = []

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.put(line.decode())
        self.lines.put(None)

    def stderr(self) -> str:
        return self.stderr_path.read_text(errors="replace")

    def banner(self, timeout: float = 120) -> tuple[str, str]:
        """Wait for the printed instructions; return the base URL and the admin token."""
        deadline = time.monotonic() + timeout
        text = ""
        while "Ctrl-C stops" not in text:
            try:
                line = self.lines.get(timeout=max(0.1, deadline - time.monotonic()))
            except queue.Empty:
                line = None
            if line is None:
                raise AssertionError(f"no instructions; printed:\n{text}\nstderr:\n{self.stderr()}")
            text += line
        self.azurites = self._find_azurites()
        assert len(self.azurites) == 1, self.azurites
        url = re.search(r"Feedhouse is running at (\S+)", text)[1]
        token = re.search(r"Admin token: (\S+)", text)[1]
        return url, token

    def _find_azurites(self) -> list[int]:
        """The Azurites it runs now."""
        found = []
        for pid in _descendants(self.process.pid):
            with contextlib.suppress(FileNotFoundError):
                if b"azurite" in Path(f"/proc/{pid}/cmdline").read_bytes():
                    found.append(pid)
        return found

    def _azurites_in_its_folder(self) -> list[int]:
        """Azurites on its data folder, also orphaned ones (they no longer descend from it)."""
        data = (self.cwd / ".feedhouse" / "azurite").resolve()
        found = []
        for proc in Path("/proc").iterdir():
            with contextlib.suppress(OSError):
                if proc.name.isdigit() and Path(os.readlink(proc / "cwd")) == data and _alive(int(proc.name)):
                    found.append(int(proc.name))
        return found

    def wait(self, timeout: float = 60) -> int:
        return self.process.wait(timeout=timeout)

    def kill(self) -> None:
        # Azurite runs in a session of its own, so the job's group does not include it.
        self.azurites = sorted({*self.azurites, *self._find_azurites()})
        for group in [self.process.pid, *self.azurites]:
            if _alive(group):
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(group, signal.SIGKILL)
        self.process.wait()

    def assert_no_azurite_left(self) -> None:
        """Once it has stopped: no Azurite of its own is left (any found is ended, then reported)."""
        deadline = time.monotonic() + 15

        def left_behind() -> list[int]:
            return sorted({*filter(_alive, self.azurites), *self._azurites_in_its_folder()})

        while (left := left_behind()) and time.monotonic() < deadline:
            time.sleep(0.1)
        for pid in left:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGKILL)
        assert not left, f"Azurite {left} still ran"


@contextlib.contextmanager
def make_run(argv: list[str], cwd: Path, env: dict[str, str] | None = None) -> Iterator[MakeRun]:
    run = MakeRun(argv, cwd, env)
    try:
        yield run
    finally:
        run.kill()


def tools_run(*args: str) -> list[str]:
    return [sys.executable, "-m", "tools.run", *args]


def get(url: str, token: str | None = None) -> tuple[int, bytes]:
    request = urllib.request.Request(url)
    if token:
        request.add_header("Authorization", "Basic " + base64.b64encode(f"admin:{token}".encode()).decode())
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def readme_first_hour() -> str:
    """The shell block of the README's first-hour section: what a newcomer pastes."""
    readme = (ROOT / "README.md").read_text()
    section = readme.split("\n## First feed, first upload, first install\n", 1)[1].split("\n## ", 1)[0]
    return re.search(r"```sh\n(.*?)```", section, re.DOTALL)[1]


def test_instructions_give_twine_uv_and_pip_commands_with_the_token_and_port() -> None:
    token = new_admin_token()
    assert re.fullmatch(r"fh_[A-Za-z0-9_-]{43}", token)
    text = instructions("http://127.0.0.1:7123", token)
    assert f"curl -u admin:{token} -H 'Content-Type: application/json'" in text
    assert '-d \'{"name":"team","visibility":"private"}\' http://127.0.0.1:7123/api/feeds' in text
    upload = "http://127.0.0.1:7123/team/upload/"
    assert f".venv/bin/twine upload --repository-url {upload} -u __token__ -p {token} examples/dist/*" in text
    assert (
        f".venv/bin/uv publish --publish-url {upload} --username __token__ --password {token} examples/dist/*"
        in text
    )
    index = f"http://__token__:{token}@127.0.0.1:7123/team/simple/"
    # Into fresh venvs, never into Feedhouse's own .venv.
    assert f"/tmp/try-pip/bin/pip install --index-url {index} feedhouse-example-app" in text
    assert f".venv/bin/uv pip install --python /tmp/try-uv --index-url {index} feedhouse-example-app" in text
    assert ".venv/bin/pip" not in text


def test_instructions_quote_a_token_chosen_by_hand() -> None:
    text = instructions("http://127.0.0.1:7071", "a b'c@d")
    assert "-p 'a b'\"'\"'c@d'" in text
    assert "--password 'a b'\"'\"'c@d'" in text
    assert "http://__token__:a%20b%27c%40d@127.0.0.1:7071/team/simple/" in text


def test_the_readme_runs_the_commands_make_run_prints() -> None:
    token = new_admin_token()
    printed = [
        line.strip().replace(token, "$TOKEN")
        for line in instructions("http://127.0.0.1:7071", token).splitlines()
        if line.startswith("  ")
    ]
    block = readme_first_hour().replace("\\\n", " ")
    readme = {" ".join(line.split()) for line in block.splitlines()}
    assert [command for command in printed if command not in readme] == []


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_started_in_the_background_it_stops_with_its_azurite_on(tmp_path: Path, signum: int) -> None:
    (tmp_path / "function_app.py").write_text(FAKE_APP)
    with make_run(tools_run(), tmp_path) as run:
        base_url, token = run.banner()
        assert token.startswith("fh_")
        status, body = get(f"{base_url}/env")
        assert status == 200
        blob_port = int(re.search(r"BlobEndpoint=http://127.0.0.1:(\d+)/", body.decode())[1])
        run.process.send_signal(signum)
        assert run.wait(timeout=30) == 0
        run.assert_no_azurite_left()
    log = run.stderr()
    assert "Stopping." in log
    # The app's access line, and not a second one from the host.
    assert re.search(r'^GET /env 200 \d+B \d+ms storage=\d+ user=- agent="Python-urllib/', log, re.MULTILINE)
    assert "GET /env" not in log.replace("GET /env 200", "", 1)
    assert _closed(blob_port)
    assert _closed(int(base_url.rsplit(":", 1)[1]))


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_make_run_in_the_background_stops_with_its_azurite_on(checkout: Path, signum: int) -> None:
    with make_run(["make", "run"], checkout) as run:
        base_url, _ = run.banner()
        assert get(f"{base_url}/api/health")[0] == 200
        if signum == signal.SIGINT:
            os.killpg(run.process.pid, signum)  # Ctrl-C: the terminal signals the whole job
        else:
            run.process.send_signal(signum)  # kill <pid of make>; make passes SIGTERM on
        run.wait(timeout=30)
        run.assert_no_azurite_left()
    assert "Stopping." in run.stderr()
    assert _closed(int(base_url.rsplit(":", 1)[1]))


def test_when_azurite_dies_it_says_so_and_stops(tmp_path: Path) -> None:
    (tmp_path / "function_app.py").write_text(FAKE_APP)
    with make_run(tools_run(), tmp_path) as run:
        base_url, _ = run.banner()
        os.killpg(run.azurites[0], signal.SIGKILL)
        assert run.wait(timeout=30) == 1
    assert re.search(r"\*\*\* Azurite, the storage emulator, exited \(status -9\)", run.stderr())
    assert _closed(int(base_url.rsplit(":", 1)[1]))


def test_a_restart_keeps_feeds_and_the_admin_token_and_fresh_starts_empty(tmp_path: Path) -> None:
    with make_run(tools_run(), tmp_path) as first:
        base_url, token = first.banner()
        request = urllib.request.Request(
            f"{base_url}/api/feeds",
            data=json.dumps({"name": "kept"}).encode(),
            headers={"Content-Type": "application/json"},
        )
        request.add_header("Authorization", "Basic " + base64.b64encode(f"admin:{token}".encode()).decode())
        with urllib.request.urlopen(request, timeout=30) as response:
            assert response.status == 201
        first.process.send_signal(signal.SIGINT)
        assert first.wait() == 0
    token_file = tmp_path / ".feedhouse" / "admin-token"
    assert token_file.read_text().strip() == token
    assert token_file.stat().st_mode & 0o777 == 0o600

    with make_run(tools_run(), tmp_path) as second:
        base_url, second_token = second.banner()
        assert second_token == token
        assert get(f"{base_url}/api/feeds/kept", token)[0] == 200
        second.process.send_signal(signal.SIGINT)
        assert second.wait() == 0

    with make_run(tools_run("--fresh"), tmp_path) as fresh:
        base_url, fresh_token = fresh.banner()
        assert fresh_token != token
        assert get(f"{base_url}/api/feeds/kept", fresh_token)[0] == 404
        fresh.process.send_signal(signal.SIGINT)
        assert fresh.wait() == 0


def test_a_port_in_use_is_reported_and_leaves_no_azurite(tmp_path: Path) -> None:
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        with make_run(tools_run(), tmp_path, env={"PORT": str(port)}) as run:
            assert run.wait(timeout=60) == 1
    assert f"Port {port} is in use by another program" in run.stderr()
    assert "Traceback" not in run.stderr()
    run.assert_no_azurite_left()  # it had started before the port was tried


def test_a_second_run_on_the_same_data_is_refused(tmp_path: Path) -> None:
    with make_run(tools_run(), tmp_path) as first:
        base_url, _ = first.banner()
        with make_run(tools_run(), tmp_path) as second:
            assert second.wait(timeout=30) == 1
        assert "another `make run` is using .feedhouse/" in second.stderr()
        assert first._find_azurites() == first.azurites  # the second started none
        assert get(f"{base_url}/api/health")[0] == 200


@pytest.mark.e2e
@pytest.mark.timeout(900)
def test_the_readme_first_hour_works_word_for_word(checkout: Path, tmp_path: Path) -> None:
    """make run in one terminal, the README's block in another: create a feed, build the examples,
    publish with twine and uv, install with pip and uv into fresh venvs, run the installed command."""
    with make_run(["make", "run"], checkout) as run:
        base_url, _ = run.banner()
        port = base_url.rsplit(":", 1)[1]
        script = readme_first_hour().replace("127.0.0.1:7071", f"127.0.0.1:{port}")
        script = script.replace("/tmp/try-", f"{tmp_path}/try-")
        clients = Clients(tmp_path / "home")
        env = {k: v for k, v in clients.env.items() if not k.startswith(("MAKE", "MFLAGS"))}
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
        assert result.stdout.count("Hello, Feedhouse!") == 2, result.stdout
        run.process.send_signal(signal.SIGTERM)
        run.wait()
    installed = [p.name for p in (tmp_path / "try-pip").glob("lib/python*/site-packages/feedhouse_example*")]
    assert "feedhouse_example_greeting" in installed
    assert not list((ROOT / ".venv").glob("lib/python*/site-packages/feedhouse_example*"))
