"""The download counts' store (shared/download_counts.py): instances' flushes racing on the same
rows lose nothing (the conditional merge retries), and an instance's memory is bounded."""

from __future__ import annotations

import secrets
import threading
from datetime import UTC, datetime, timedelta

from shared import download_counts
from shared.download_counts import Aggregator


def test_two_instances_flushing_at_once_lose_nothing(storage):
    """Each instance has its own counts; their flushes race on the same rows, and the conditional
    merge makes the loser read again and add to what the winner wrote."""
    key = secrets.token_hex(16)  # a feed key no feed has: counts need no feed
    filenames = ["racing-1.0-py3-none-any.whl", "racing-1.0.tar.gz", "racing-2.0-py3-none-any.whl"]
    versions = ["1.0", "1.0", "2.0"]
    rounds = 25
    now = datetime.now(UTC)
    for round_number in range(1, rounds + 1):
        instances = [Aggregator() for _ in range(3)]
        for n, instance in enumerate(instances):
            for filename, version in zip(filenames, versions, strict=True):
                for _ in range(n + 1):
                    instance.add(key, "racing", filename, version, now + timedelta(seconds=n))
        barrier = threading.Barrier(len(instances))

        def flush(instance: Aggregator, barrier: threading.Barrier = barrier) -> None:
            barrier.wait()
            instance.flush(storage)

        threads = [threading.Thread(target=flush, args=(i,)) for i in instances]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        counts = download_counts.project_counts(storage, key, "racing")
        assert [counts.file(f).total for f in filenames] == [6 * round_number] * 3
        assert counts.version("1.0").total == 12 * round_number
        assert counts.version("2.0").total == 6 * round_number
        assert counts.version("1.0").last_download == now + timedelta(seconds=2)
        assert download_counts.feed_counts(storage, key).total == 18 * round_number


def test_memory_is_bounded(storage):
    key = secrets.token_hex(16)  # a feed key no feed has: counts need no feed
    instance = Aggregator(max_files=2)
    now = datetime.now(UTC)
    for filename in ("a-1.0.tar.gz", "b-1.0.tar.gz", "c-1.0.tar.gz", "a-1.0.tar.gz"):
        instance.add(key, filename[0], filename, "1.0", now)
    instance.flush(storage)
    assert download_counts.project_counts(storage, key, "a").file("a-1.0.tar.gz").total == 2
    assert download_counts.project_counts(storage, key, "b").file("b-1.0.tar.gz").total == 1
    assert download_counts.project_counts(storage, key, "c").files == {}
    assert download_counts.feed_counts(storage, key).total == 3  # what was dropped is in no total


def test_a_project_with_more_files_than_one_transaction_holds_is_flushed_whole(storage):
    key = secrets.token_hex(16)
    instance = Aggregator()
    now = datetime.now(UTC)
    filenames = [f"many-1.0-py3-none-manylinux_{n}_x86_64.whl" for n in range(120)]
    for filename in filenames:
        instance.add(key, "many", filename, "1", now)
    instance.flush(storage)
    counts = download_counts.project_counts(storage, key, "many")
    assert {counts.file(f).total for f in filenames} == {1}
    assert counts.version("1").total == 120
    assert download_counts.feed_counts(storage, key).total == 120
