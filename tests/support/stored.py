"""What tests look at below the API: a feed's storage key, its projects' rows and the blobs stored
under a prefix."""

from __future__ import annotations

import os

from azure.storage.blob import ContainerClient

from shared import feeds
from shared.keys import BLOB_CONTAINER, PROJECTS_TABLE, projects_partition
from shared.storage import get_storage


def key_of(feed: str) -> str:
    """The key everything of the feed named ``feed`` is stored under (its id, ``Feed.key``)."""
    return feeds.get_feed(get_storage(), feed).key


def blob_names(prefix: str) -> list[str]:
    container = ContainerClient.from_connection_string(
        os.environ["FEEDHOUSE_STORAGE_CONNECTION_STRING"], BLOB_CONTAINER, api_version="2025-11-05"
    )
    return [b.name for b in container.list_blobs(name_starts_with=prefix)]


def listed_projects(feed: str) -> list[str]:
    """The projects the feed's projects table lists, by normalized name."""
    records = get_storage().partition(PROJECTS_TABLE, projects_partition(key_of(feed)))
    return sorted(r["RowKey"] for r in records)
