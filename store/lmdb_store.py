"""The asset store: one LMDB environment under `home/store/`, written in batches, read anywhere.

`Store.open(home)` opens (creating if needed) the environment, refuses one written by a newer
assetline (`StoreVersionError`) and, unless read-only, marks executions whose driver stopped
renewing its lease as KILLED (`store.recovered`). `write()` applies a batch of events in one
transaction (see `store.apply` for what each event does); the read methods each use one read
transaction, so they see a consistent snapshot and never block the writer. Any number of
processes may read; one at a time writes (LMDB's lock).

LMDB errors are converted to StoreError here. This module does not decide what events mean
(`store.apply`) nor how queries walk the databases (`store.query`).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from types import TracebackType
from typing import Any, Literal, TypeVar

import lmdb
import msgspec

from store import codec, environment, kv, native, query, retention
from store.apply import BatchApplier
from store.errors import StoreClosedError, StoreError
from store.gc_pause import gc_paused
from store.intake import prepare_batch
from store.keys import fit, from_u64, u64
from store.lineage_graph import LineageGraph

__all__ = ["Store", "WriteReport"]

_T = TypeVar("_T")

#: The error a stale execution is marked KILLED with.
LEASE_EXPIRED = "driver stopped renewing its lease"


@dataclass(frozen=True)
class WriteReport:
    """What one `Store.write` did.

    `applied`: events that changed the store; `duplicates`: events that changed nothing (a task
    run already applied, an identical execution record, a delete of an unknown asset);
    `first_seq`/`last_seq`: the event-log entries written (None when none); `rejected`: with
    `invalid="skip"`, the position in the batch and the error of each event set aside.
    """

    applied: int
    duplicates: int
    first_seq: int | None
    last_seq: int | None
    rejected: tuple[tuple[int, StoreError], ...] = field(default=())


class Store:
    """The LMDB asset store. Use `Store.open(home)`; close it (or use `with`)."""

    home: Path
    recovered: list[str]
    #: False applies every event through `store.apply` alone (the reference path that
    #: `store.native` must match), for tests and comparisons.
    native_ingest: bool = True

    def __init__(self, home: Path, shared: environment.SharedEnv, readonly: bool) -> None:
        self.home = home
        self.recovered = []
        self.readonly = readonly
        self._shared: environment.SharedEnv | None = shared

    @classmethod
    def open(
        cls,
        home: str | os.PathLike[str],
        *,
        readonly: bool = False,
        map_size: int = 1 << 36,
        lease_timeout: float = 60.0,
    ) -> Store:
        """Open the store in `home` (created unless read-only). See the module docstring."""
        path = Path(home)
        if not readonly:
            try:
                path.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise StoreError(f"cannot create the store home {path}: {exc}") from exc
        shared = environment.acquire(path, readonly=readonly, map_size=map_size)
        store = cls(path, shared, readonly)
        if not readonly:
            try:
                store._recover(lease_timeout)
            except BaseException:
                store.close()
                raise
        return store

    # -- life cycle -------------------------------------------------------------------------------

    def close(self) -> None:
        """Release the environment (closed when this process's last store on it closes)."""
        shared, self._shared = self._shared, None
        if shared is not None:
            environment.release(shared)

    def __enter__(self) -> Store:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _env(self) -> environment.SharedEnv:
        if self._shared is None:
            raise StoreClosedError(f"the store at {self.home} is closed")
        return self._shared

    def _read(self, work: Callable[[Any, environment.Databases], _T]) -> _T:
        shared = self._env()
        try:
            with shared.env.begin(buffers=False) as txn:
                return work(txn, shared.dbs)
        except lmdb.Error as exc:
            raise StoreError(f"reading the store at {self.home}: {exc}") from exc

    @contextmanager
    def _write_txn(self) -> Iterator[Any]:
        shared = self._env()
        if self.readonly:
            raise StoreError(f"the store at {self.home} is open read-only; it cannot write")
        with shared.write_lock:
            try:
                with shared.env.begin(write=True) as txn:
                    yield txn
            except lmdb.MapFullError as exc:
                raise StoreError(
                    f"the store at {self.home} is full (map_size); open it with a larger "
                    f"map_size: {exc}"
                ) from exc
            except lmdb.Error as exc:
                raise StoreError(f"writing the store at {self.home}: {exc}") from exc

    # -- writing ----------------------------------------------------------------------------------

    def write(
        self,
        events: Sequence[bytes | codec.Event],
        *,
        invalid: Literal["raise", "skip"] = "raise",
    ) -> WriteReport:
        """Apply `events` in order in one transaction: all of them or (on error) none.

        An event that does not decode (CodecError) or that the store cannot keep
        (InvalidEventError) raises before anything is written; with `invalid="skip"` it is set
        aside instead and listed in the report's `rejected`.
        """
        items = events if type(events) is list else list(events)
        with gc_paused():
            return self._apply(items, skip_invalid=invalid == "skip")

    def _apply(self, items: list[bytes | codec.Event], *, skip_invalid: bool) -> WriteReport:
        """Apply `items` in one transaction: runs of plain task runs through `store.native`,
        the rest through `store.apply`, in order, each seeing what the other wrote."""
        shared = self._env()
        if not items:
            return WriteReport(0, 0, None, None)
        rejected: list[tuple[int, StoreError]] = []
        applied = duplicates = 0
        now = time.time()
        with self._write_txn() as txn:
            dbs = shared.dbs
            cursor = txn.cursor(db=dbs.log)
            first_seq = seq = from_u64(cursor.key()) + 1 if cursor.last() else 1
            position = 0
            while position < len(items):
                end = position
                if self.native_ingest:
                    run = native.apply_run(txn, dbs, items, position, seq, now)
                    position += run.consumed
                    seq = run.next_seq
                    applied += run.applied
                    duplicates += run.duplicates
                    if run.consumed < run.parsed:  # an update: the rest of the run goes below
                        end = position + run.parsed - run.consumed
                    elif run.parsed == 0:
                        end = position + native.declined(items, position)
                    else:
                        continue
                else:
                    end = len(items)
                prepared = prepare_batch(items[position:end], skip_invalid=skip_invalid)
                rejected += [(position + at, exc) for at, exc in prepared.rejected]
                batch = BatchApplier(txn, dbs, next_seq=seq, now=now)
                batch.apply_all(prepared)
                batch.finish()
                seq = batch.next_seq
                applied += batch.applied
                duplicates += batch.duplicates
                position = end
        first, last = (first_seq, seq - 1) if seq > first_seq else (None, None)
        return WriteReport(applied, duplicates, first, last, tuple(rejected))

    def _recover(self, lease_timeout: float) -> None:
        """Mark RUNNING executions whose lease expired as KILLED; list them in `recovered`."""
        now = time.time()
        stale = [
            execution
            for execution in self._read(query.running_executions)
            if (execution.heartbeat if execution.heartbeat is not None else execution.start)
            < now - lease_timeout
        ]
        if not stale:
            return
        killed = [
            msgspec.structs.replace(execution, state="KILLED", end=now, error=LEASE_EXPIRED)
            for execution in stale
        ]
        self.write(killed)
        self.recovered = [execution.id for execution in stale]

    def set_offset(self, key: str, seq: int) -> None:
        """Keep a named offset (a shipper's last shipped sequence, say)."""
        with self._write_txn() as txn:
            txn.put(fit(key.encode()), u64(seq), db=self._env().dbs.offsets)

    def purge_usages(self, asset_ids: Iterable[str] | None, *, before: float) -> int:
        """Delete the usages of `asset_ids` (None: of every asset) logged at or before
        `before` (epoch seconds); the event log and task runs stay. Returns how many."""
        with self._write_txn() as txn:
            dbs = self._env().dbs
            until = retention.seq_at(txn, dbs, before)
            return retention.purge_usages(txn, dbs, asset_ids, until) if until else 0

    def purge_lineage(self, *, before: float, namespace_prefix: str | None = None) -> int:
        """Delete the lineage edges whose latest task run ended at or before `before` (and ran
        in `namespace_prefix` or below it, if given). Returns how many edges."""
        with self._write_txn() as txn:
            return retention.purge_lineage(txn, self._env().dbs, before, namespace_prefix)

    def kv_set(
        self,
        namespace: str,
        key: str,
        value: Any,
        *,
        kv_type: str = "STRING",
        ttl: float | None = None,
        overwrite: bool = True,
    ) -> bool:
        """Keep `value` under `key` in `namespace` (expiring `ttl` seconds from now, if given);
        False when `overwrite` is off and the key holds a live value (nothing written)."""
        now = time.time()
        entry = kv.KVEntry(
            namespace=namespace,
            key=key,
            value=value,
            type=kv_type,
            updated=now,
            expires=now + ttl if ttl is not None else None,
        )
        with self._write_txn() as txn:
            return kv.put(txn, self._env().dbs, entry, overwrite=overwrite, now=now)

    def kv_delete(self, namespace: str, key: str) -> bool:
        """Remove `key` from `namespace`; True when it held a live value."""
        with self._write_txn() as txn:
            return kv.delete(txn, self._env().dbs, namespace, key, time.time())

    # -- reading ----------------------------------------------------------------------------------

    def kv_get(self, namespace: str, key: str) -> kv.KVEntry | None:
        """The live entry of `key` in `namespace` (None when absent or expired)."""
        return self._read(lambda txn, dbs: kv.get(txn, dbs, namespace, key, time.time()))

    def kv_keys(self, namespace: str, key_prefix: str = "") -> list[str]:
        """The live keys of `namespace` that start with `key_prefix`, in order."""
        return self._read(lambda txn, dbs: kv.keys(txn, dbs, namespace, key_prefix, time.time()))

    def get_offset(self, key: str) -> int | None:
        data = self._read(lambda txn, dbs: txn.get(fit(key.encode()), db=dbs.offsets))
        return from_u64(data) if data is not None else None

    def last_seq(self) -> int:
        """The sequence of the newest event-log entry (0 when the log is empty)."""
        return self._read(query.last_seq)

    def read_log(self, after: int = 0, limit: int = 1000) -> list[codec.LogEntry]:
        """Up to `limit` event-log entries with seq > `after`, oldest first."""
        return self._read(lambda txn, dbs: query.read_log(txn, dbs, after, limit))

    def get_asset(self, asset_id: str) -> codec.Asset | None:
        return self._read(lambda txn, dbs: query.get_asset(txn, dbs, asset_id))

    def find_assets(
        self,
        *,
        id: str | None = None,
        type: str | None = None,
        namespace: str | None = None,
        metadata: Mapping[str, Any] | None = None,
        q: str | None = None,
        after: str | None = None,
        limit: int | None = None,
        namespace_prefix: str | None = None,
    ) -> list[codec.Asset]:
        """Assets matching every given filter, in id order (see `store.query` for the rules)."""
        check = query.AssetFilter(
            type=type,
            namespace=namespace,
            namespace_prefix=namespace_prefix,
            metadata=metadata,
            q=q,
        )
        return self._read(
            lambda txn, dbs: query.find_assets(
                txn, dbs, id=id, check=check, after=after, limit=limit
            )
        )

    def iter_assets(
        self, *, batch_size: int = 10_000, after: str | None = None
    ) -> Iterator[list[codec.Asset]]:
        """The whole inventory in id order, `batch_size` at a time (a fresh snapshot each)."""
        if batch_size <= 0:
            raise ValueError(f"batch_size must be positive, not {batch_size}")
        cursor = after
        while True:
            page = self._read(partial(_asset_page, after=cursor, size=batch_size))
            if not page:
                return
            yield page
            cursor = page[-1].id

    def count_assets(self) -> int:
        return self._read(query.count_assets)

    def usages(self, asset_id: str, *, limit: int | None = None) -> list[codec.Usage]:
        """Every task run that read or wrote the asset, oldest first (kept after a delete)."""
        return self._read(lambda txn, dbs: query.usages(txn, dbs, asset_id, limit))

    def lineage(
        self, asset_id: str, *, direction: str = "both", depth: int | None = None
    ) -> LineageGraph:
        """The graph around an asset; AssetNotFound if the store does not hold it."""
        return self._read(lambda txn, dbs: query.lineage(txn, dbs, asset_id, direction, depth))

    def get_execution(self, execution_id: str) -> codec.ExecutionEvent | None:
        return self._read(lambda txn, dbs: query.get_execution(txn, dbs, execution_id))

    def list_executions(
        self,
        *,
        flow_id: str | None = None,
        namespace: str | None = None,
        state: str | None = None,
        limit: int | None = None,
    ) -> list[codec.ExecutionEvent]:
        """Executions newest first (by start), filtered."""
        return self._read(
            lambda txn, dbs: query.list_executions(
                txn, dbs, flow_id=flow_id, namespace=namespace, state=state, limit=limit
            )
        )

    def task_runs(self, execution_id: str) -> list[codec.TaskRunEvent]:
        """Every task-run attempt of an execution, in the order written."""
        return self._read(lambda txn, dbs: query.task_runs(txn, dbs, execution_id))


def _asset_page(
    txn: Any, dbs: environment.Databases, *, after: str | None, size: int
) -> list[codec.Asset]:
    return query.iter_asset_page(txn, dbs, after, size)
