"""Backfilling core metadata for files stored before Feedhouse kept it."""

import io
import zipfile

import pytest

from functions.files import download
from shared import memo
from shared.backfill import backfill_metadata
from shared.keys import FILES_TABLE, files_partition, project_document_blob
from tests.support.dists import make_wheel
from tests.support.publish import call, json_page, publish_sdist, publish_wheel
from tests.support.stored import key_of

LEGACY_FIELDS = ("MetadataBlob", "MetadataSha256", "MetadataSize", "MetadataServed", "Md5")


def make_legacy(storage, feed, project, filename):
    """Turn a stored file into one uploaded before metadata was kept: no fields, no blob (and its
    project, stored before page documents, without one)."""
    record = storage.get(FILES_TABLE, files_partition(feed, project), filename)
    if record.get("MetadataBlob"):
        storage.delete_blob(record["MetadataBlob"])
    storage.replace(FILES_TABLE, {k: v for k, v in record.items() if k not in LEGACY_FIELDS})
    storage.delete_blob(project_document_blob(feed, project))
    memo.forget_all()  # as an instance that never kept what was stored before
    return record


def page(feed, project):
    return {f["filename"]: f for f in json_page(feed, project)["files"]}


@pytest.fixture
def legacy(feed_name, storage):
    feed = key_of(feed_name)
    wheel, _ = publish_wheel(feed_name, "old", "1.0", requires=("six",))
    sdist, _ = publish_sdist(feed_name, "old", "1.0")
    original = make_legacy(storage, feed, "old", wheel)
    make_legacy(storage, feed, "old", sdist)
    return feed_name, wheel, sdist, original


def test_backfill_restores_metadata_files_and_hashes(storage, legacy):
    feed, wheel, sdist, original = legacy
    assert page(feed, "old")[wheel]["core-metadata"] is False
    dry = backfill_metadata(storage, feed_names=[feed], dry_run=True)
    assert sorted(dry.backfilled) == sorted([f"{feed}/{wheel}", f"{feed}/{sdist}"])
    assert page(feed, "old")[wheel]["core-metadata"] is False  # a dry run changes nothing

    report = backfill_metadata(storage, feed_names=[feed])
    assert len(report.backfilled) == 2 and report.skipped == []
    entry = page(feed, "old")[wheel]
    assert entry["core-metadata"] == {"sha256": original["MetadataSha256"]}
    assert page(feed, "old")[sdist]["core-metadata"] is False  # Metadata-Version 2.1 sdist: kept, not served
    served = call(download, "GET", "/x", feed=feed, project="old", filename=f"{wheel}.metadata")
    assert b"Requires-Dist: six" in served.get_body()
    record = storage.get(FILES_TABLE, files_partition(key_of(feed), "old"), wheel)
    assert record["Md5"] == original["Md5"]

    again = backfill_metadata(storage, feed_names=[feed])
    assert (again.backfilled, again.already_done) == ([], 2)


def test_backfill_reads_wheels_that_uploads_would_now_refuse(storage, feed_name):
    """A wheel stored without RECORD (accepted before RECORD was required) still gets its metadata."""
    feed = key_of(feed_name)
    wheel, _ = publish_wheel(feed_name, "norecord", "1.0")
    record = make_legacy(storage, feed, "norecord", wheel)
    filename, data = make_wheel("norecord", "1.0", omit=("RECORD",))
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        assert not any(n.endswith("RECORD") for n in archive.namelist())
    blob = record["Blob"] + "-legacy"
    storage.create_blob(blob, io.BytesIO(data), length=len(data), content_type="application/zip")
    storage.replace(
        FILES_TABLE,
        {
            **storage.get(FILES_TABLE, files_partition(feed, "norecord"), wheel),
            "Blob": blob,
            "Size": len(data),
        },
    )
    report = backfill_metadata(storage, feed_names=[feed_name])
    assert report.backfilled == [f"{feed_name}/{filename}"]
    assert page(feed_name, "norecord")[filename]["core-metadata"]


def test_metadata_naming_a_version_too_long_for_int_is_kept_but_not_served(storage, feed_name):
    """A stored file (say, saved from an upstream) whose METADATA names a version of 5,000 digits."""
    feed = key_of(feed_name)
    wheel, _ = publish_wheel(feed_name, "old", "1.0")
    make_legacy(storage, feed, "old", wheel)
    metadata = f"Metadata-Version: 2.1\nName: old\nVersion: {'1' * 5000}\n\n"
    _, data = make_wheel("old", "1.0", metadata=metadata)
    record = storage.get(FILES_TABLE, files_partition(feed, "old"), wheel)
    blob = f"{feed}/old/huge-version/{wheel}"
    storage.create_blob(blob, io.BytesIO(data), length=len(data), content_type="application/zip")
    storage.replace(FILES_TABLE, {**record, "Blob": blob})
    report = backfill_metadata(storage, feed_names=[feed_name])
    assert (report.backfilled, report.skipped) == ([f"{feed_name}/{wheel}"], [])
    assert page(feed_name, "old")[wheel]["core-metadata"] is False
