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
        txn.cursor(db=dbs.index).putmulti(index, dupdata=False)
        txn.cursor(db=dbs.log).putmulti(log, append=True)
    return NativeRun(parsed, consumed, applied, duplicates, seq)


def declined(items: list[Any], start: int) -> int:
    """How many items from `items[start:]` `apply_run` leaves to `store.apply` (up to the
    first one it takes)."""
    count: int = _ingest.declined(items, start, codec.SCHEMA_VERSION)
    return count
