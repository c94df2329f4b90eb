"""What an upload holds in memory, and for how long.

Memory is measured with tracemalloc (Python's own allocations, deterministic), never timed;
bench/upload_memory.py measures the server's resident memory.
"""

from __future__ import annotations

import gc
import os
import tracemalloc
import zipfile

from functions.upload import upload
from tests.conftest import ADMIN_TOKEN
from tests.support.dists import make_wheel
from tests.support.http import basic, request
from tests.support.multipart import encode, upload_fields

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
