"""storage.transact against Azurite: one partition, all or nothing, pins that hold a decision."""

import secrets

import pytest

from shared.keys import PERMISSIONS_TABLE
from shared.storage import RecordChanged, RecordExists, etag_of


@pytest.fixture
def partition(storage):
    key = "tx-" + secrets.token_hex(4)
    for row in ("a", "b"):
        storage.insert(PERMISSIONS_TABLE, {"PartitionKey": key, "RowKey": row, "Role": "owner"})
    return key


def test_a_pin_keeps_the_record_but_not_its_etag(storage, partition):
    a, b = (storage.get(PERMISSIONS_TABLE, partition, row) for row in "ab")
    storage.transact(PERMISSIONS_TABLE, replace=[{**b, "Role": "reader"}], pin=[a])
    pinned = storage.get(PERMISSIONS_TABLE, partition, "a")
    assert pinned["Role"] == "owner" and etag_of(pinned) != etag_of(a)
    assert storage.get(PERMISSIONS_TABLE, partition, "b")["Role"] == "reader"


@pytest.mark.parametrize("stale", ["pin", "delete"])
def test_a_stale_record_writes_nothing(storage, partition, stale):
    a, b = (storage.get(PERMISSIONS_TABLE, partition, row) for row in "ab")
    storage.replace(PERMISSIONS_TABLE, {**a, "Role": "reader"})  # a is now stale
    new = {"PartitionKey": partition, "RowKey": "c", "Role": "reader"}
    with pytest.raises(RecordChanged):
        if stale == "pin":
            storage.transact(PERMISSIONS_TABLE, insert=[new], delete=[b], pin=[a])
        else:
            storage.transact(PERMISSIONS_TABLE, insert=[new], delete=[a], pin=[b])
    assert storage.get(PERMISSIONS_TABLE, partition, "c") is None
    assert storage.get(PERMISSIONS_TABLE, partition, "b") is not None


def test_an_insert_of_an_existing_record_is_record_exists(storage, partition):
    a = storage.get(PERMISSIONS_TABLE, partition, "a")
    with pytest.raises(RecordExists):
        storage.transact(
            PERMISSIONS_TABLE,
            insert=[{"PartitionKey": partition, "RowKey": "c"}, {"PartitionKey": partition, "RowKey": "b"}],
            pin=[a],
        )
    assert storage.get(PERMISSIONS_TABLE, partition, "c") is None
