"""Where the bytes and records go: Azure Blob Storage for files, Azure Table Storage for records.

This is the only module that talks to the Azure SDKs. Everything above it sees plain dicts, byte
streams and the exceptions below. Writes are conditional: records are created insert-only or
replaced on an ETag match, blobs are created only when absent.

Every storage operation is bounded in time, so that a stalled storage service (one that accepts
connections and never answers) costs a request a 503 (StorageError), not a hang and not a pile of
waiting threads. The SDKs' own defaults retry a stall for minutes; here:

- each HTTP request may take 2 s to connect and 2 s for each send of its body (urllib3 sends with the
  connect timeout), and 5 s for each socket read of its answer. A large blob moves in many reads and
  sends, so it may take as long as it needs while bytes flow; a silent server fails it within seconds;
- an operation is tried at most twice (one retry: at once for tables, after 0-1 s for blobs);
- so one operation gives up after about 11 s on a server that accepts and stays silent, and after
  2 x (2 + 5) + 1 = 15 s at worst. A blob read that stalls in the middle of
  its body is asked for again once more by azure-storage-blob itself (1 s later), which can add 6 s.

A request stops at its first failing operation, so it answers 503 within 21 s at worst, far below the
Functions front end's 230 s. ``ping`` (the health check) has its own, tighter bound: 4 s for both
services together, without retries.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import enum
import itertools
import json
import threading
import time
import traceback
import uuid
from collections.abc import Callable, Iterable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, BinaryIO

from azure.core.exceptions import (
    AzureError,
    HttpResponseError,
    ResourceExistsError,
    ResourceModifiedError,
    ResourceNotFoundError,
)

from shared import memo
from shared import settings as settings_module
from shared.errors import BadRequest, NotFound, ServiceUnavailable
from shared.keys import BLOB_CONTAINER, FEEDS_TABLE, TABLE_NAMES

# Azurite 3.35 refuses the blob SDK's newest default API version; this one both accept.
_BLOB_API_VERSION = "2025-11-05"
# The time bounds explained in the module docstring.
_CONNECT_SECONDS = 2.0
_READ_SECONDS = 5.0
_RETRIES = 1
_BLOB_BACKOFF_SECONDS = 0.5  # with as much jitter either way: 0 to 1 s
_HEALTH_SECONDS = 4.0
_HEALTH_CONNECT_SECONDS = 1.0
# Larger blobs are written in blocks (see Storage.__init__): an upload then holds one block, not its file.
_SINGLE_PUT_BYTES = 8 * 1024 * 1024
# A BlockUpload stages its bytes in blocks of (at least) this size: what it holds in memory at once.
BLOCK_BYTES = 4 * 1024 * 1024
# The Python worker runs at most min(32, CPUs + 4) invocations at once; more pooled connections
# per storage host than that would never be used, fewer would be opened and dropped under load.
_POOL_SIZE = 32
_ETAG = "_etag"
_IMMUTABLE = "public, max-age=365000000, immutable"
# Azure Tables runs at most 100 operations in one (atomic) transaction.
_TRANSACTION_LIMIT = 100
# Azure Tables returns at most 1,000 entities in one response (Azurite returns more if asked).
MAX_PAGE_RECORDS = 1000
# A continuation holds a partition key and the service's next keys, each at most 1 KiB of key.
_MAX_CONTINUATION_LENGTH = 8192

Record = dict[str, Any]


class RecordExists(Exception):
    """An insert-only write found a record (or blob) already there."""


class RecordChanged(Exception):
    """A conditional write lost a race: the record changed or vanished since it was read."""


class StorageError(ServiceUnavailable):
    def __init__(self, detail: str) -> None:
        super().__init__(f"Storage is not answering ({detail}). Try again shortly.")


class BlobNotFound(NotFound):
    """A blob that a record named is gone: deleted since the record was read (its file purged, its
    feed deleted). The request answers as if it had come a moment later: the file does not exist."""

    code = "file_not_found"

    def __init__(self, where: str) -> None:
        super().__init__("The file was deleted meanwhile.")
        self.where = where


class InvalidContinuation(BadRequest):
    """A continuation that ``partition_page`` did not hand out for this partition."""

    code = "invalid_continuation"

    def __init__(self) -> None:
        super().__init__("The continuation token is not valid; start again without one.")


class _Ignored(enum.Enum):
    IGNORED = "ignored"


class Unchanged(enum.Enum):
    UNCHANGED = "unchanged"


# What a conditional read answers when the blob still has the ETag the caller holds.
UNCHANGED = Unchanged.UNCHANGED


class _NotModified(Exception):
    """A conditional read's 304, on its way out of ``_translated``."""


# An SDK error that means the operation simply did nothing (a row already deleted, a blob already there).
IGNORED = _Ignored.IGNORED
# What an SDK error that means something for one operation becomes: a named error, made with where it
# happened, or IGNORED. None: nothing but a failure (StorageError, 503).
Outcome = Callable[[str], Exception] | _Ignored | None


@contextlib.contextmanager
def _translated(
    where: str = "",
    *,
    exists: Outcome = None,
    changed: Outcome = None,
    missing: Outcome = None,
    not_modified: Outcome = None,
    inserts: int = 0,
    ignore_if: Callable[[], bool] | None = None,
) -> Iterator[None]:
    """The one place where the Azure SDKs' exceptions become Feedhouse's, for the operation in the block.

    ``exists`` is what a 409 becomes (the record or blob is there), ``changed`` a 412 (its ETag no
    longer matches), ``missing`` a 404, ``not_modified`` a 304 (a conditional read's ETag matches).
    In a transaction whose first ``inserts`` operations are inserts, a 409 on one of them is
    ``exists``, any other 404, 409 or 412 ``changed``. Any other error answer is ignored when
    ``ignore_if()`` says so. Everything else is a StorageError.

    The SDK's exception is let go of with its traceback cleared: azure-data-tables' exceptions sit in
    reference cycles with the frames they passed through, and a frame holds every frame that called
    it, so an uncleared one kept the request, its upload body included, in memory until the garbage
    collector's next full pass.
    """
    try:
        yield
        return
    except AzureError as exc:
        outcome = _outcome(
            exc, exists=exists, changed=changed, missing=missing, not_modified=not_modified, inserts=inserts
        )
        detail = type(exc).__name__
        answered = isinstance(exc, HttpResponseError)
        _let_go(exc)
    if outcome is None and answered and ignore_if is not None and ignore_if():
        outcome = IGNORED
    if outcome is IGNORED:
        return
    raise (StorageError(detail) if outcome is None else outcome(where)) from None


def _outcome(
    exc: AzureError,
    *,
    exists: Outcome,
    changed: Outcome,
    missing: Outcome,
    not_modified: Outcome,
    inserts: int,
) -> Outcome:
    from azure.data.tables import TableTransactionError

    if isinstance(exc, TableTransactionError):
        if exc.status_code == 409 and exc.index < inserts:
            return exists
        return changed if exc.status_code in (404, 409, 412) else None
    if isinstance(exc, HttpResponseError) and exc.status_code == 304:
        # Before ResourceModifiedError: the blob SDK raises that for a read's 304 too.
        return not_modified
    if isinstance(exc, ResourceExistsError):
        return exists
    if isinstance(exc, ResourceModifiedError):
        return changed
    if isinstance(exc, ResourceNotFoundError):
        return missing
    return None


def _let_go(exc: BaseException) -> None:
    """Clear the tracebacks of an exception and of those it was raised from (see _translated)."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if current.__traceback__ is not None:
            traceback.clear_frames(current.__traceback__)
            current.__traceback__ = None
        current = current.__cause__ or current.__context__


@dataclass(frozen=True)
class BlobState:
    """A small blob read whole: its bytes, its metadata and the ETag to write it back conditionally."""

    data: bytes
    metadata: dict[str, str]
    etag: str


@dataclass(frozen=True)
class BlobInfo:
    """A blob's properties without its bytes."""

    size: int
    metadata: dict[str, str]
    etag: str


class BlockUpload:
    """A blob written in blocks that stay invisible until ``commit``.

    Staged blocks that are never committed are no blob at all (storage drops them after a week), so a
    caller can stream bytes in, check them, and only then decide whether the blob exists.
    """

    def __init__(self, blob_client: Any) -> None:
        self._blob = blob_client
        # Block IDs of one blob must all have the same length, also across concurrent writers.
        self._prefix = uuid.uuid4().hex
        self._block_ids: list[str] = []
        self._buffer = bytearray()

    def write(self, data: bytes) -> None:
        """Add bytes to the blob, in any pieces: a block is staged whenever BLOCK_BYTES have gathered."""
        self._buffer += data
        if len(self._buffer) >= BLOCK_BYTES:
            self._stage()

    def _stage(self) -> None:
        block_id = base64.b64encode(f"{self._prefix}-{len(self._block_ids):08d}".encode()).decode()
        with _translated():
            self._blob.stage_block(block_id, bytes(self._buffer), length=len(self._buffer))
        self._block_ids.append(block_id)
        self._buffer.clear()

    def commit(self, *, content_type: str, metadata: dict[str, str] | None = None) -> bool:
        """Make the bytes written the blob unless one with that name exists; False if it did."""
        from azure.core import MatchConditions
        from azure.storage.blob import BlobBlock, ContentSettings

        if self._buffer:
            self._stage()

        # A concurrent writer's commit discards our uncommitted blocks (InvalidBlockList): then the blob
        # is there, which is all this commit was for.
        with _translated(exists=IGNORED, changed=IGNORED, ignore_if=self._exists):
            self._blob.commit_block_list(
                [BlobBlock(block_id) for block_id in self._block_ids],
                metadata=metadata,
                content_settings=ContentSettings(content_type=content_type, cache_control=_IMMUTABLE),
                match_condition=MatchConditions.IfMissing,
            )
            return True
        return False

    def _exists(self) -> bool:
        with _translated():
            exists = self._blob.exists()
        return bool(exists)


def etag_of(record: Record) -> str:
    return record[_ETAG]


def _record(entity: Any) -> Record:
    record = dict(entity)
    record[_ETAG] = entity.metadata.get("etag")
    return record


def _entity(record: Record) -> dict[str, Any]:
    return {k: v for k, v in record.items() if k != _ETAG and v is not None}


class RequestCount:
    """How many HTTP requests storage was sent while it was being counted (see ``counting``); each
    also counts for the count it was started within (a test counting a handler that counts its own)."""

    def __init__(self, enclosing: RequestCount | None) -> None:
        self.value = 0
        self._enclosing = enclosing

    def add(self) -> None:
        count: RequestCount | None = self
        while count is not None:
            count.value += 1
            count = count._enclosing


# The count of the request being served, if one is being counted. A context variable, so concurrent
# requests on other threads count apart; work a request hands to other threads counts for it only if
# it runs in a copy of the request's context (contextvars.copy_context()).
_counting: ContextVar[RequestCount | None] = ContextVar("feedhouse_storage_requests", default=None)


@contextlib.contextmanager
def counting() -> Iterator[RequestCount]:
    """Count every HTTP request sent to storage (retries and pages of a query included) in this block:
    what a request costs in storage round trips, for the access log and for tests' budgets."""
    count = RequestCount(_counting.get())
    token = _counting.set(count)
    try:
        yield count
    finally:
        _counting.reset(token)


def _count_response(response: Any, *args: Any, **kwargs: Any) -> Any:
    count = _counting.get()
    if count is not None:
        count.add()
    return response


def _transport() -> Any:
    """The HTTP transport of both clients: the time bounds above and a pool for every worker thread."""
    import requests
    from azure.core.pipeline.transport import RequestsTransport
    from requests.adapters import HTTPAdapter
    from urllib3.util.retry import Retry

    session = requests.Session()
    # Otherwise requests looks up proxy variables and ~/.netrc on every call: storage is reached
    # directly, and a stray HTTP(S)_PROXY would only break it.
    session.trust_env = False
    session.hooks["response"].append(_count_response)
    # The SDKs' retry policies are the only retries (urllib3's own are off, as in azure-core's session).
    adapter = HTTPAdapter(
        pool_maxsize=_POOL_SIZE, max_retries=Retry(total=False, redirect=False, raise_on_status=False)
    )
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    return RequestsTransport(session=session, connection_timeout=_CONNECT_SECONDS, read_timeout=_READ_SECONDS)


def _encode_continuation(partition: str, token: dict[str, str] | None) -> str | None:
    """The service's continuation (its next partition and row keys, opaque strings on Azure) with the
    partition it belongs to, as a URL-safe string."""
    if token is None:
        return None
    text = json.dumps([partition, token["PartitionKey"], token["RowKey"]], separators=(",", ":"))
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def _decode_continuation(partition: str, continuation: str) -> dict[str, str]:
    """The service's continuation from ``_encode_continuation``'s string, checked as far as it can be:
    the service itself takes a garbled or empty one as "from the start" (or "nothing left") without
    saying so."""
    if not 0 < len(continuation) <= _MAX_CONTINUATION_LENGTH:
        raise InvalidContinuation()
    try:
        raw = base64.b64decode(continuation + "=" * (-len(continuation) % 4), altchars=b"-_", validate=True)
        data = json.loads(raw)
    except (binascii.Error, ValueError, RecursionError):
        raise InvalidContinuation() from None
    if (
        not isinstance(data, list)
        or len(data) != 3
        or not all(isinstance(part, str) and part for part in data)
        or data[0] != partition
    ):
        raise InvalidContinuation()
    return {"PartitionKey": data[1], "RowKey": data[2]}


def _where(table: str, record: Record) -> str:
    return f"{table}:{record['PartitionKey']}:{record['RowKey']}"


def _keys(record: Record) -> dict[str, Any]:
    return {"PartitionKey": record["PartitionKey"], "RowKey": record["RowKey"]}


class Storage:
    """Clients for one storage account, created once per process and shared by all requests."""

    def __init__(self, config: settings_module.Settings) -> None:
        # Imported here, not at module import, so a cold start pays for them on first use only.
        from azure.data.tables import TableServiceClient
        from azure.storage.blob import BlobServiceClient, ExponentialRetry

        transport = _transport()
        # Tables retry straight away (azure-core sleeps only before a second retry).
        table_options: dict[str, Any] = {"transport": transport, "retry_total": _RETRIES}
        # The blob SDK's own default waits 15 +- 3 s before its first retry.
        blob_options: dict[str, Any] = {
            "transport": transport,
            # create_blob's stream is put in one request only up to this size: the SDK reads a single
            # put whole into memory (its default allows 64 MiB), blocks one at a time (4 MiB each).
            "max_single_put_size": _SINGLE_PUT_BYTES,
            "retry_policy": ExponentialRetry(
                initial_backoff=_BLOB_BACKOFF_SECONDS,
                random_jitter_range=_BLOB_BACKOFF_SECONDS,
                retry_total=_RETRIES,
            ),
        }

        if config.storage_connection_string:
            self._blobs = BlobServiceClient.from_connection_string(
                config.storage_connection_string, api_version=_BLOB_API_VERSION, **blob_options
            )
            self._tables = TableServiceClient.from_connection_string(
                config.storage_connection_string, **table_options
            )
            # Local storage (Azurite) starts empty; in Azure, infra/ creates the container and tables.
            self._create_missing_containers()
            self._account_key: str | None = getattr(self._blobs.credential, "account_key", None)
            self._delegation_keys: DelegationKeys | None = None
        elif config.storage_account_name:
            from azure.identity import DefaultAzureCredential

            credential = DefaultAzureCredential()
            account = config.storage_account_name
            self._blobs = BlobServiceClient(
                f"https://{account}.blob.core.windows.net", credential=credential, **blob_options
            )
            self._tables = TableServiceClient(
                endpoint=f"https://{account}.table.core.windows.net", credential=credential, **table_options
            )
            self._account_key = None
            # The identity needs "Storage Blob Delegator" (or Data Reader/Contributor) on the account.
            self._delegation_keys = DelegationKeys(self._fetch_delegation_key)
        else:
            raise settings_module.InvalidSetting(
                "Set FEEDHOUSE_STORAGE_CONNECTION_STRING or FEEDHOUSE_STORAGE_ACCOUNT_NAME."
            )
        self._container = self._blobs.get_container_client(BLOB_CONTAINER)
        self._table_clients = {name: self._tables.get_table_client(name) for name in TABLE_NAMES}

    def _create_missing_containers(self) -> None:
        with _translated(exists=IGNORED):
            self._blobs.create_container(BLOB_CONTAINER)
        with _translated():
            for name in TABLE_NAMES:
                self._tables.create_table_if_not_exists(name)

    # Records -----------------------------------------------------------------------------------

    def insert(self, table: str, record: Record) -> None:
        """Create a record; RecordExists if one with the same keys is there."""
        with _translated(_where(table, record), exists=RecordExists):
            self._table_clients[table].create_entity(_entity(record))

    def get(self, table: str, partition: str, row: str) -> Record | None:
        with _translated(missing=IGNORED):
            return _record(self._table_clients[table].get_entity(partition, row))
        return None

    def partition(self, table: str, partition: str) -> list[Record]:
        """Every record of one partition: the one query a page may cost."""
        with _translated():
            entities = self._table_clients[table].query_entities(
                "PartitionKey eq @pk", parameters={"pk": partition}
            )
            records = [_record(e) for e in entities]
        return records

    def partitions_with_prefix(self, table: str, prefix: str, *, row: str | None = None) -> list[Record]:
        """Every record whose PartitionKey starts with ``prefix`` (and whose RowKey is ``row``, if
        given): one range query across partitions (for rare sweeps such as deleting a feed, never for
        serving a page)."""
        if not prefix:
            raise ValueError("a partition prefix must not be empty")
        upper = prefix[:-1] + chr(ord(prefix[-1]) + 1)
        query = "PartitionKey ge @low and PartitionKey lt @high"
        parameters = {"low": prefix, "high": upper}
        if row is not None:
            query += " and RowKey eq @row"
            parameters["row"] = row
        with _translated():
            entities = self._table_clients[table].query_entities(query, parameters=parameters)
            records = [_record(e) for e in entities]
        return records

    def replace(self, table: str, record: Record) -> Record:
        """Replace a record read earlier; RecordChanged if it changed or vanished since."""
        from azure.core import MatchConditions
        from azure.data.tables import UpdateMode

        with _translated(_where(table, record), changed=RecordChanged, missing=RecordChanged):
            meta = self._table_clients[table].update_entity(
                _entity(record),
                mode=UpdateMode.REPLACE,
                etag=etag_of(record),
                match_condition=MatchConditions.IfNotModified,
            )
        return {**record, _ETAG: meta.get("etag")}

    def upsert(self, table: str, record: Record) -> None:
        """Create or replace a record, whatever is there (for rows whose last writer may win)."""
        from azure.data.tables import UpdateMode

        with _translated():
            self._table_clients[table].upsert_entity(_entity(record), mode=UpdateMode.REPLACE)

    def merge(self, table: str, record: Record) -> None:
        """Set some properties of an existing record, unconditionally; a missing record stays missing."""
        from azure.data.tables import UpdateMode

        with _translated(missing=IGNORED):
            self._table_clients[table].update_entity(_entity(record), mode=UpdateMode.MERGE)

    def replace_all(self, table: str, records: list[Record]) -> None:
        """Replace records of one partition read earlier, in transactions of up to 100 (each atomic);
        RecordChanged if any of a transaction's records changed since, and then none of it is written."""
        it = iter(records)
        while batch := list(itertools.islice(it, _TRANSACTION_LIMIT)):
            self.transact(table, replace=batch)

    def transact(
        self,
        table: str,
        *,
        insert: Iterable[Record] = (),
        replace: Iterable[Record] = (),
        delete: Iterable[Record] = (),
        pin: Iterable[Record] = (),
    ) -> None:
        """One atomic transaction on records of one partition (at most 100, each named once): create
        ``insert`` (RecordExists if one is there), replace and delete records read earlier, and ``pin``
        records read earlier: leave their properties alone but require them unchanged, so a decision
        taken on them still holds when the rest is written. RecordChanged if any replaced, deleted or
        pinned record changed or vanished since it was read. On any error nothing is written.

        Azure Tables has no read condition inside a transaction, so a pin is an empty merge on the
        record's ETag: it gives the record a new ETag, which also makes concurrent pins conflict.
        """
        from azure.core import MatchConditions
        from azure.data.tables import UpdateMode

        def on_etag(record: Record) -> dict[str, Any]:
            return {"etag": etag_of(record), "match_condition": MatchConditions.IfNotModified}

        operations: list[tuple[Any, ...]] = [("create", _entity(r)) for r in insert]
        inserts = len(operations)
        operations += [("update", _entity(r), {"mode": UpdateMode.REPLACE, **on_etag(r)}) for r in replace]
        operations += [("delete", _keys(r), on_etag(r)) for r in delete]
        operations += [("update", _keys(r), {"mode": UpdateMode.MERGE, **on_etag(r)}) for r in pin]
        if not operations:
            return
        with _translated(
            f"{table}:{operations[0][1]['PartitionKey']}",
            exists=RecordExists,
            changed=RecordChanged,
            missing=RecordChanged,
            inserts=inserts,
        ):
            self._table_clients[table].submit_transaction(operations)

    def delete_unchanged(self, table: str, record: Record) -> None:
        """Delete a record read earlier; RecordChanged if it changed since (a vanished one is fine)."""
        from azure.core import MatchConditions

        with _translated(_where(table, record), changed=RecordChanged):
            self._table_clients[table].delete_entity(
                record["PartitionKey"],
                record["RowKey"],
                etag=etag_of(record),
                match_condition=MatchConditions.IfNotModified,
            )

    def partition_page(
        self, table: str, partition: str, *, continuation: str | None, limit: int, row_prefix: str = ""
    ) -> tuple[list[Record], str | None]:
        """One page of a partition too large to read at once (of its rows whose RowKey starts with
        ``row_prefix``), in RowKey order, for one request to the service: up to ``limit`` records (at
        most MAX_PAGE_RECORDS) and the continuation of the next page, None after the last. The service
        may end a page early, even with no records, and still have more: only a None continuation
        means the end.

        ``continuation`` is one this method returned for the same partition and prefix;
        InvalidContinuation for anything else.
        """
        if not 1 <= limit <= MAX_PAGE_RECORDS:
            raise ValueError(f"a page holds 1 to {MAX_PAGE_RECORDS} records")
        # The prefix is part of what a continuation belongs to: one of another prefix is refused.
        scope = partition + ("\n" + row_prefix if row_prefix else "")
        token = _decode_continuation(scope, continuation) if continuation is not None else None
        query, parameters = "PartitionKey eq @pk", {"pk": partition}
        if row_prefix:
            query += " and RowKey ge @low and RowKey lt @high"
            parameters |= {"low": row_prefix, "high": row_prefix[:-1] + chr(ord(row_prefix[-1]) + 1)}
        with _translated():
            pages = (
                self._table_clients[table]
                .query_entities(query, parameters=parameters, results_per_page=limit)
                .by_page(continuation_token=token)
            )
            records = [_record(e) for e in next(pages)]
        return records, _encode_continuation(scope, pages.continuation_token)

    def delete(self, table: str, partition: str, row: str) -> None:
        """Delete a record if it is there."""
        with _translated():
            self._table_clients[table].delete_entity(partition, row)

    def delete_records(self, table: str, records: Iterable[Record]) -> None:
        for record in records:
            self.delete(table, record["PartitionKey"], record["RowKey"])

    # Blobs -------------------------------------------------------------------------------------

    def create_blob(
        self,
        name: str,
        data: BinaryIO,
        *,
        length: int,
        content_type: str,
        metadata: dict[str, str] | None = None,
    ) -> bool:
        """Upload a blob unless one with that name exists; False if it did (nothing written)."""
        from azure.storage.blob import ContentSettings

        with _translated(exists=IGNORED):
            self._container.upload_blob(
                name,
                data,
                length=length,
                overwrite=False,
                metadata=metadata,
                content_settings=ContentSettings(
                    content_type=content_type,
                    cache_control=_IMMUTABLE,
                ),
            )
            return True
        return False

    def start_block_upload(self, name: str) -> BlockUpload:
        """Begin a create-only blob written block by block (see BlockUpload)."""
        return BlockUpload(self._container.get_blob_client(name))

    def read_blob_state(self, name: str, *, unless_etag: str | None = None) -> BlobState | Unchanged | None:
        """A small blob with its metadata and ETag, or None if there is none; with ``unless_etag``,
        UNCHANGED when the blob still has that ETag (one conditional request, nothing transferred).

        Keep blobs read this way non-empty: the SDK reads an empty blob in two requests, so a write
        in between can pair the new metadata and ETag with the old (empty) content.
        """
        from azure.core import MatchConditions

        conditions: dict[str, Any] = (
            {"etag": unless_etag, "match_condition": MatchConditions.IfModified} if unless_etag else {}
        )
        try:
            with _translated(missing=IGNORED, not_modified=_NotModified):
                downloader = self._container.download_blob(name, **conditions)
                data = downloader.readall()
                properties = downloader.properties
                return BlobState(data, dict(properties.metadata or {}), properties.etag)
        except _NotModified:
            return UNCHANGED
        return None

    def blob_etags(self, prefix: str, *, limit: int) -> dict[str, str] | None:
        """The ETag of every blob whose name starts with ``prefix``, by name, in one request; None
        when there are more than ``limit`` of them. ETags are spelled as blob responses spell them.

        One List Blobs request, read without the SDK's models: its generated XML deserializer costs
        about half a millisecond of Python per blob (12 blobs: 6-9 ms against 3 ms read here; 100:
        41 ms against 9), and only names and ETags are needed. The request still goes through the
        container client's pipeline, so authentication (account key or managed identity), the API
        version, retries, the time bounds and counting are the SDK's as for every other request.
        """
        from xml.etree import ElementTree

        from azure.core.rest import HttpRequest

        request = HttpRequest(
            "GET",
            self._container.url,
            params={"restype": "container", "comp": "list", "prefix": prefix, "maxresults": str(limit)},
        )
        with _translated(prefix):
            # The generated client's protocol method (azure-core's send_request), which the storage
            # SDK keeps private; tests/shared/test_storage_blobs.py fails at once if it goes.
            response = self._container._client._send_request(request)
            response.raise_for_status()
        # The storage account's own answer, not a client's: the same trust as the SDK's parser gives it.
        listing = ElementTree.fromstring(response.content)  # noqa: S314
        if listing.findtext("NextMarker"):
            return None
        etags = {}
        for blob in listing.iter("Blob"):
            etag = blob.findtext("Properties/Etag", "")
            # A listing spells ETags bare, a blob's own responses (so every other ETag here) quoted.
            etags[blob.findtext("Name", "")] = etag if etag.startswith('"') else f'"{etag}"'
        return etags

    def blob_info(self, name: str) -> BlobInfo | None:
        with _translated(missing=IGNORED):
            properties = self._container.get_blob_client(name).get_blob_properties()
            return BlobInfo(properties.size, dict(properties.metadata or {}), properties.etag)
        return None

    def write_blob(
        self,
        name: str,
        data: bytes,
        *,
        content_type: str,
        metadata: dict[str, str] | None = None,
        if_match: str | None = None,
    ) -> str:
        """Write a small mutable blob and return its new ETag.

        With ``if_match`` the write happens only if the blob still has that ETag (RecordChanged
        otherwise); without it, only if there is no blob yet (RecordExists otherwise).
        """
        from azure.core import MatchConditions
        from azure.storage.blob import ContentSettings

        conditions: dict[str, Any] = (
            {"etag": if_match, "match_condition": MatchConditions.IfNotModified}
            if if_match
            else {"match_condition": MatchConditions.IfMissing}
        )
        with _translated(f"blob:{name}", exists=RecordExists, changed=RecordChanged, missing=RecordChanged):
            result = self._container.get_blob_client(name).upload_blob(
                data,
                length=len(data),
                overwrite=True,
                metadata=metadata,
                content_settings=ContentSettings(content_type=content_type, cache_control="no-store"),
                **conditions,
            )
        return result["etag"]

    def set_blob_metadata(self, name: str, metadata: dict[str, str], *, if_match: str) -> str:
        """Replace a blob's metadata if it still has ETag ``if_match``; the new ETag, or RecordChanged."""
        from azure.core import MatchConditions

        with _translated(f"blob:{name}", changed=RecordChanged, missing=RecordChanged):
            result = self._container.get_blob_client(name).set_blob_metadata(
                metadata, etag=if_match, match_condition=MatchConditions.IfNotModified
            )
        return result["etag"]

    def read_blob(self, name: str, offset: int | None = None, length: int | None = None) -> bytes:
        with _translated(name, missing=BlobNotFound):
            data = self._container.download_blob(name, offset=offset, length=length).readall()
        return data

    def iter_blob(self, name: str) -> Iterator[bytes]:
        with _translated(name, missing=BlobNotFound):
            yield from self._container.download_blob(name).chunks()

    def read_url(self, name: str, *, start: datetime, expiry: datetime, cache_control: str) -> str:
        """A read-only SAS URL for one blob, valid from ``start`` to ``expiry``: signed with the account
        key when the connection string has one (Azurite), else with a user-delegation key (managed
        identity). The blob answers with ``cache_control`` whatever it was stored with."""
        from azure.storage.blob import BlobSasPermissions, generate_blob_sas

        signing: dict[str, Any]
        if self._account_key:
            signing = {"account_key": self._account_key}
        elif self._delegation_keys is not None:
            signing = {"user_delegation_key": self._delegation_keys.valid_until(expiry, now=start)}
        else:
            raise settings_module.InvalidSetting(
                "FEEDHOUSE_DOWNLOAD_MODE=redirect needs an account key in the connection string or "
                "FEEDHOUSE_STORAGE_ACCOUNT_NAME with a managed identity."
            )
        token = generate_blob_sas(
            account_name=self._blobs.account_name,
            container_name=BLOB_CONTAINER,
            blob_name=name,
            permission=BlobSasPermissions(read=True),
            start=start,
            expiry=expiry,
            cache_control=cache_control,
            **signing,
        )
        return f"{self._container.get_blob_client(name).url}?{token}"

    def _fetch_delegation_key(self, start: datetime, expiry: datetime) -> Any:
        with _translated():
            key = self._blobs.get_user_delegation_key(start, expiry)
        return key

    def delete_blob(self, name: str) -> None:
        with _translated(missing=IGNORED):
            self._container.delete_blob(name, delete_snapshots="include")

    def delete_blobs(self, prefix: str) -> None:
        """Delete every blob whose name starts with ``prefix`` (which must end with '/')."""
        if not prefix.endswith("/"):
            raise ValueError("a blob prefix must end with '/'")
        with _translated():
            for blob in self._container.list_blobs(name_starts_with=prefix):
                self.delete_blob(blob.name)

    # Health ------------------------------------------------------------------------------------

    def ping(self) -> None:
        """Raise StorageError unless both services answer within ``_HEALTH_SECONDS`` together.

        A health probe must answer in time whatever storage does: no retries, and each request's
        timeouts are what is left of the deadline."""
        deadline = time.monotonic() + _HEALTH_SECONDS

        def within_deadline() -> dict[str, Any]:
            left = deadline - time.monotonic()
            if left <= 0:
                raise StorageError("timeout")
            connect = min(_HEALTH_CONNECT_SECONDS, left / 2)
            return {"retry_total": 0, "connection_timeout": connect, "read_timeout": left - connect}

        with _translated():
            self._container.get_container_properties(**within_deadline())
            feeds = self._table_clients[FEEDS_TABLE]
            next(iter(feeds.list_entities(results_per_page=1, select=["RowKey"], **within_deadline())), None)


class DelegationKeys:
    """The user-delegation key SAS URLs are signed with under managed identity: fetched once, kept for a
    day, and fetched again as soon as it would expire before a URL about to be signed with it."""

    LIFETIME = timedelta(days=1)  # Azure allows up to 7
    SKEW = timedelta(minutes=5)

    def __init__(self, fetch: Callable[[datetime, datetime], Any], *, wait: float = _READ_SECONDS) -> None:
        self._fetch = fetch
        self._key: Any = None
        self._expiry: datetime | None = None
        self._lock = threading.Lock()
        # How long a request waits for another's fetch of the key. A fetch that takes longer than a
        # read may is stalling: the requests behind it answer 503 instead of queueing up, each to
        # try (and stall) in turn.
        self._wait = wait

    def valid_until(self, until: datetime, *, now: datetime) -> Any:
        if not self._lock.acquire(timeout=self._wait):
            raise StorageError("timeout")
        try:
            if self._key is None or self._expiry is None or self._expiry < until:
                expiry = max(now + self.LIFETIME, until + self.SKEW)
                self._key = self._fetch(now - self.SKEW, expiry)
                self._expiry = expiry
            return self._key
        finally:
            self._lock.release()


_lock = threading.Lock()
_instance: Storage | None = None


def get_storage() -> Storage:
    """The process-wide Storage, created on first use."""
    global _instance
    if _instance is None:
        with _lock:
            if _instance is None:
                _instance = Storage(settings_module.load())
    return _instance


def reset() -> None:
    """Forget the clients, the settings and every cache of what storage held (tests point the app at
    a fresh Azurite)."""
    global _instance
    with _lock:
        _instance = None
    settings_module.load.cache_clear()
    memo.forget_all()
