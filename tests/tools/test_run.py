from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import urllib.request
from pathlib import Path

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


def test_instructions_print_the_token_literally() -> None:
    token = new_admin_token()
    assert re.fullmatch(r"fh_[A-Za-z0-9_-]{43}", token)
    text = instructions("http://127.0.0.1:7071", token)
    assert f"curl -u admin:{token} -H 'Content-Type: application/json'" in text
    assert '-d \'{"name":"team","visibility":"private"}\' http://127.0.0.1:7071/api/feeds' in text
    upload = ".venv/bin/twine upload --repository-url http://127.0.0.1:7071/team/upload/"
    assert f"{upload} -u __token__ -p {token} dist/*" in text
    assert (
        f".venv/bin/pip install --index-url http://__token__:{token}@127.0.0.1:7071/team/simple/ <package>"
        in text
    )


def test_instructions_quote_a_token_chosen_by_hand() -> None:
    text = instructions("http://127.0.0.1:7071", "a b'c@d")
    assert "-p 'a b'\"'\"'c@d'" in text
    assert "http://__token__:a%20b%27c%40d@127.0.0.1:7071/team/simple/" in text


def test_make_run_serves_the_app_on_azurite_and_stops_cleanly_on_ctrl_c(tmp_path: Path) -> None:
    (tmp_path / "function_app.py").write_text(FAKE_APP)
    env = {k: v for k, v in os.environ.items() if not k.startswith("FEEDHOUSE_")}
    env.update(PORT="0", PYTHONPATH=str(ROOT))
    with (tmp_path / "stderr.log").open("wb") as stderr:
        proc = subprocess.Popen(
            [sys.executable, "-m", "tools.run"], cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=stderr
        )
    try:
        assert proc.stdout is not None
        lines = [proc.stdout.readline().decode() for _ in range(2)]
        base_url = lines[0].split(" at ")[1].strip()
        assert lines[1].startswith("Admin token: fh_")
        with urllib.request.urlopen(f"{base_url}/env", timeout=10) as res:
            connection_string = res.read().decode()
        blob_port = int(re.search(r"BlobEndpoint=http://127.0.0.1:(\d+)/", connection_string)[1])
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
    log = (tmp_path / "stderr.log").read_text()
    # The app's access line, and not a second one from the host.
    assert re.search(r'^GET /env 200 \d+B \d+ms user=- agent="Python-urllib/', log, re.MULTILINE)
    assert "GET /env" not in log.replace("GET /env 200", "", 1)
    for port in (blob_port, int(base_url.rsplit(":", 1)[1])):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=2).close()
            raise AssertionError(f"port {port} still open after Ctrl-C")
        except ConnectionRefusedError:
            pass
