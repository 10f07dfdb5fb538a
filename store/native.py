"""Runs of plain task-run events applied through the compiled `store._ingest`, in a transaction.

A fan-out's events are task runs whose outputs are new assets. `apply_run` hands such a run to
`_ingest.ingest` (which parses the msgpack itself and builds every record those events make,
byte for byte what `store.apply` writes), answers its one question (which idempotency keys and
which of the run's assets are already stored) with one `getmulti` per database, and puts the
records it returns with one `putmulti` per database (each a `_ingest.Records` batch: one
buffer, no Python object per record). Whatever `_ingest` declines (other
kinds of events, codec structs, updates of existing assets, anything unusual or invalid) is
left to `store.apply`, the reference for the semantics; `Store.write` alternates the two in
one transaction, so each sees what the other wrote.

This module does not open transactions nor decide what events mean.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from store import _ingest, codec, keys
from store.environment import Databases

__all__ = ["NativeRun", "apply_run", "declined"]

_ingest.configure(keys.kind_key, keys.meta_key)


class NativeRun(NamedTuple):
    """What `apply_run` did: `parsed` items were task runs it handles; the first `consumed` of
    them (duplicates included) were applied; `store.apply` must take the rest of the `parsed`."""

    parsed: int
    consumed: int
    applied: int
    duplicates: int
    next_seq: int


def apply_run(
    txn: Any, dbs: Databases, items: list[Any], start: int, next_seq: int, now: float
) -> NativeRun:
    """Apply the run of handled task runs at `items[start:]` (possibly none) in `txn`."""

    def lookup(
        run_keys: list[bytes], asset_ids: list[bytes]
    ) -> tuple[set[bytes], dict[bytes, tuple[bytes, bytes]]]:
        stored = {key for key, _ in txn.cursor(db=dbs.applied).getmulti(run_keys)}
        existing = {}
        for key, data in txn.cursor(db=dbs.assets).getmulti(asset_ids):
            asset = codec.decode_asset(data)
            existing[key] = (asset.namespace.encode(), asset.type.encode())
        return stored, existing

    parsed, consumed, applied, duplicates, seq, records = _ingest.ingest(
        items, start, len(items) - start, codec.SCHEMA_VERSION, next_seq, now, lookup
    )
    if applied:
        assets, index, usages, down, up, runs, log = records
        for db, batch in (
            (dbs.assets, assets),
            (dbs.usages, usages),
            (dbs.lineage_down, down),
            (dbs.lineage_up, up),
            (dbs.applied, runs),
        ):
            txn.cursor(db=db).putmulti(batch)
        _index_puts.put(txn.cursor(db=dbs.index), index)
        txn.cursor(db=dbs.log).putmulti(log, append=True)
    return NativeRun(parsed, consumed, applied, duplicates, seq)


class _IndexPuts:
    """Puts index entries, appending where it works. A fan-out's new assets usually come in id
    order, after every id already under their index keys: LMDB then appends each entry to its
    key's sorted duplicates without searching them (MDB_APPENDDUP; ~20% of the index's time).
    An entry that does not sort last is refused by LMDB, never misplaced; then the whole batch
    is put the usual way (what was appended stays: a duplicate is kept once) and the next
    `PAUSE` batches do not try appending."""

    PAUSE = 16

    def __init__(self) -> None:
        self.pause = 0

    def put(self, cursor: Any, index: _ingest.Records) -> None:
        if self.pause == 0:
            consumed, added = cursor.putmulti(index, dupdata=False, append=True)
            if consumed == added:
                return
            self.pause = self.PAUSE
        else:
            self.pause -= 1
        cursor.putmulti(index, dupdata=False)


_index_puts = _IndexPuts()


def declined(items: list[Any], start: int) -> int:
    """How many items from `items[start:]` `apply_run` leaves to `store.apply` (up to the
    first one it takes)."""
    count: int = _ingest.declined(items, start, codec.SCHEMA_VERSION)
    return count
