"""Records against real storage: the one-sdist claim and how it survives an upload that never finished."""

from datetime import UTC, datetime, timedelta

import pytest

from shared.keys import FILES_TABLE, files_partition
from shared.packages import format_time, release_row_key
from shared.publishing import CLAIM_TIMEOUT
from tests.support.dists import make_sdist
from tests.support.publish import publish
from tests.support.stored import key_of


def claim(storage, feed, filename, age):
    storage.insert(
        FILES_TABLE,
        {
            "PartitionKey": files_partition(key_of(feed), "claimed"),
            "RowKey": release_row_key("1.0"),
            "Version": "1.0",
            "Sdist": filename,
            "SdistClaimed": format_time(datetime.now(UTC) - age),
        },
    )


@pytest.mark.parametrize(
    ("age", "status"),
    [
        (timedelta(minutes=1), 400),  # the other upload may still be running
        (CLAIM_TIMEOUT + timedelta(minutes=1), 200),  # it died: its claim is void
    ],
)
def test_a_claim_without_a_file_holds_only_while_its_upload_can_run(storage, feed_name, age, status):
    claim(storage, feed_name, "claimed-1.0.zip", age)
    filename, data = make_sdist("claimed", "1.0")
    response = publish(feed_name, filename, data, "claimed", "1.0")
    assert response.status_code == status, response.get_body()
    if status == 400:
        assert response.get_body().decode().startswith("Only one sdist may be uploaded per release.")
