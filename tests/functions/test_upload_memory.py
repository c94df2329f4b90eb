"""What an upload holds in memory and for how long, and how many uploads an instance works on at once.

Memory is measured with tracemalloc (Python's own allocations, deterministic), never timed;
`make bench` (bench/memory.py) measures the server's resident memory.
"""

from __future__ import annotations

import gc
import os
import threading
import tracemalloc
import zipfile

import pytest

import functions.upload
from functions.upload import upload
from shared import publishing, settings
from shared.upload import UploadBudget, UploadsBusy
from tests.conftest import ADMIN_TOKEN
from tests.support.dists import make_wheel
from tests.support.http import basic, request
from tests.support.multipart import encode, upload_fields
from tests.support.stored import listed_projects

MIB = 1024 * 1024


def upload_request(feed: str, name: str, version: str, size: int = 1000):
    """An upload of a wheel holding ``size`` random (incompressible) bytes, stored as they are."""
    member = zipfile.ZipInfo(f"{name}/blob.bin")  # ZIP_STORED
    filename, data = make_wheel(name, version, extra=[(member, os.urandom(size))])
    body, content_type = encode(upload_fields(name, version, filename, data))
    headers = {"Content-Type": content_type, **basic(ADMIN_TOKEN)}
    return request("POST", f"/{feed}/upload/", route_params={"feed": feed}, body=body, headers=headers)


def test_an_upload_holds_a_block_of_its_file_not_the_file(storage, feed_name):
    req = upload_request(feed_name, "blocky", "1.0", 24 * MIB)  # made before tracing: the platform's copy
    tracemalloc.start()
    try:
        response = upload(req)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert response.status_code == 200, response.get_body()
    # The file part is spooled to a temporary file and goes to Blob Storage in 4 MiB blocks; a single
    # put (the SDK's default up to 64 MiB) would read it whole.
    assert peak < 12 * MIB


def test_an_upload_leaves_nothing_of_its_body_behind(storage, feed_name):
    assert upload(upload_request(feed_name, "warm", "1.0")).status_code == 200  # first-use imports
    gc.collect()
    # Off, so only what the upload itself does can free the body: an automatic collection could run
    # at any time, or not for a long time, in production.
    gc.disable()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        req = upload_request(feed_name, "leaky", "1.0", 8 * MIB)
        response = upload(req)
        del req  # what the Functions worker does once the function has answered
        kept = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
        gc.enable()
    assert response.status_code == 200, response.get_body()
    # A storage SDK exception's reference cycle held every frame of the request, its body included,
    # until a full collection: RSS grew by a body per upload.
    assert kept < 2 * MIB


@pytest.fixture
def budget(monkeypatch):
    """A budget of one byte, its own: every upload takes all of it."""
    monkeypatch.setenv("FEEDHOUSE_UPLOAD_CONCURRENCY_BYTES", "1")
    settings.load.cache_clear()
    budget = UploadBudget()
    monkeypatch.setattr(functions.upload, "UPLOADS", budget)
    yield budget
    monkeypatch.undo()
    settings.load.cache_clear()


class HeldUpload:
    """An upload that stays inside the budget until ``release`` is set."""

    def __init__(self, req) -> None:
        self.entered, self.release = threading.Event(), threading.Event()
        self.results: dict = {}
        self.thread = threading.Thread(target=lambda: self.results.update(held=upload(req)), name="held")


@pytest.fixture
def held(monkeypatch, budget, storage, feed_name):
    held = HeldUpload(upload_request(feed_name, "first", "1.0"))
    real_add_file = publishing.add_file

    def add_file(*args, **kwargs):
        if threading.current_thread() is held.thread:
            held.entered.set()
            held.release.wait(30)
        return real_add_file(*args, **kwargs)

    monkeypatch.setattr(publishing, "add_file", add_file)
    held.thread.start()
    assert held.entered.wait(30)
    yield held
    held.release.set()
    held.thread.join(30)


def test_an_upload_beyond_the_budget_gets_503_with_retry_after(storage, feed_name, budget, held):
    budget.wait_seconds = 0.2
    response = upload(upload_request(feed_name, "second", "1.0"))
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "1"
    assert "FEEDHOUSE_UPLOAD_CONCURRENCY_BYTES" in response.get_body().decode()
    held.release.set()
    held.thread.join(30)
    assert held.results["held"].status_code == 200
    assert listed_projects(feed_name) == ["first"]


def test_an_upload_waits_for_room_then_goes_through(storage, feed_name, budget, held):
    budget.wait_seconds = 30
    req = upload_request(feed_name, "second", "1.0")
    results = {}
    second = threading.Thread(target=lambda: results.update(second=upload(req)))
    second.start()
    second.join(0.3)
    assert second.is_alive(), "the second upload went ahead while the first held the whole budget"
    held.release.set()
    second.join(30)
    assert results["second"].status_code == 200, results["second"].get_body()


def gets_in(budget: UploadBudget, size: int, limit: int) -> bool:
    try:
        with budget.admit(size, limit=limit):
            return True
    except UploadsBusy:
        return False


def test_a_body_larger_than_the_budget_gets_it_all_alone():
    budget = UploadBudget(wait_seconds=0.05)
    with budget.admit(100, limit=10):
        assert not gets_in(budget, 1, 10)
    assert gets_in(budget, 100, 10)  # and gave it all back


def test_small_uploads_share_the_budget_and_zero_is_no_bound():
    budget = UploadBudget(wait_seconds=0.05)
    with budget.admit(4, limit=10):
        assert gets_in(budget, 6, 10)
        with budget.admit(6, limit=10):
            assert not gets_in(budget, 1, 10)
    with budget.admit(10**9, limit=0):
        assert gets_in(budget, 10**9, 0)
