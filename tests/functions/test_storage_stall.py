"""A storage service that stops answering (accepts connections, never replies) costs a request a 503
within a bounded time, never a hang: an Azurite of its own is paused with SIGSTOP under the app.

The bounds below are generous correctness bounds (a hang fails them), not performance assertions.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import threading
import time
from collections.abc import Callable, Iterator

import azure.functions as func
import pytest

from functions.files import download
from functions.health import health
from functions.simple import project_detail
from shared import feeds, storage
from tests.conftest import ADMIN_TOKEN
from tests.support.dists import make_wheel
from tests.support.http import json_of, request
from tests.support.publish import call, publish, publish_wheel
from tools.azurite import Azurite, start_azurite

HEALTH_BOUND = 5.0
REQUEST_BOUND = 30.0


@pytest.fixture
def own_azurite(monkeypatch: pytest.MonkeyPatch) -> Iterator[Azurite]:
    """The app pointed at an Azurite of its own; afterwards that Azurite is resumed (should the test
    have paused it) and stopped, and the app is back on the session's storage, whatever failed."""
    with start_azurite() as emulator:
        try:
            monkeypatch.setenv("FEEDHOUSE_STORAGE_CONNECTION_STRING", emulator.connection_string)
            monkeypatch.setenv("FEEDHOUSE_ADMIN_TOKEN", ADMIN_TOKEN)
            storage.reset()
            yield emulator
        finally:
            # A stopped process keeps a SIGTERM pending: resume it so that stop() can end it.
            with contextlib.suppress(ProcessLookupError):
                os.killpg(emulator.process.pid, signal.SIGCONT)
            monkeypatch.undo()
            storage.reset()


def pause(emulator: Azurite) -> None:
    # Azurite leads its own process group (start_azurite); the kernel still accepts connections.
    os.killpg(emulator.process.pid, signal.SIGSTOP)


def answers_within(
    seconds: float, calls: dict[str, Callable[[], func.HttpResponse]]
) -> dict[str, func.HttpResponse]:
    """Run the calls concurrently; the response of each, failing the test if any has not answered
    ``seconds`` after they started (its thread is left behind as a daemon, not waited for)."""
    outcomes: dict[str, func.HttpResponse | BaseException] = {}

    def run(name: str, call_it: Callable[[], func.HttpResponse]) -> None:
        try:
            outcomes[name] = call_it()
        except BaseException as exc:  # reported below, in the test's thread
            outcomes[name] = exc

    threads = {name: threading.Thread(target=run, args=(name, c), daemon=True) for name, c in calls.items()}
    deadline = time.monotonic() + seconds
    for thread in threads.values():
        thread.start()
    for thread in threads.values():
        thread.join(max(0.0, deadline - time.monotonic()))
    hung = [name for name, thread in threads.items() if thread.is_alive()]
    assert not hung, f"no answer within {seconds:g} s from: {', '.join(hung)}"
    responses = {}
    for name, outcome in outcomes.items():
        if isinstance(outcome, BaseException):
            raise AssertionError(f"{name} raised instead of answering") from outcome
        responses[name] = outcome
    return responses


def test_paused_storage_answers_503_in_bounded_time(own_azurite: Azurite) -> None:
    feed = "stall-" + secrets.token_hex(4)
    feeds.create_feed(storage.get_storage(), feeds.parse_new_feed({"name": feed}))
    wheel, _ = publish_wheel(feed, "stall-demo", "1.0")
    assert health(request("GET", "/api/health")).status_code == 200
    new_wheel, new_data = make_wheel("stall-demo", "2.0")

    pause(own_azurite)

    answered = answers_within(HEALTH_BOUND, {"health": lambda: health(request("GET", "/api/health"))})
    assert answered["health"].status_code == 503
    assert json_of(answered["health"])["error"] == "unavailable"

    answered = answers_within(
        REQUEST_BOUND,
        {
            "upload": lambda: publish(feed, new_wheel, new_data, "stall-demo", "2.0"),
            "project page": lambda: call(
                project_detail, "GET", f"/{feed}/simple/stall-demo/", feed=feed, project="stall-demo"
            ),
            "download": lambda: call(
                download,
                "GET",
                f"/{feed}/files/stall-demo/{wheel}",
                feed=feed,
                project="stall-demo",
                filename=wheel,
            ),
        },
    )
    assert {name: response.status_code for name, response in answered.items()} == {
        "upload": 503,
        "project page": 503,
        "download": 503,
    }
