"""Upgrading a store written in an older on-disk format, in place, inside the transaction that
opens it for writing (so an interrupted upgrade leaves the old store as it was).

Format 1 -> 2: lineage moves from `edges_down`/`edges_up` (sorted duplicates) plus `edge_runs`
to one `lineage_down` and one `lineage_up` record per edge that hold the latest run; the index
keeps an asset's type and namespace under one kind key, so it is rebuilt from the assets. The
event log, assets, usages, executions and idempotency keys keep their layout.

Format 2 -> 3: a `kv` database is added (Kestra's KV store); nothing else changes.

This module works only in the write transaction it is given: it opens no environment, and it
knows nothing of events.
"""

from __future__ import annotations

import hashlib
import struct
from typing import TYPE_CHECKING, Any, Final

from store import codec
from store.errors import StoreError
from store.keys import MAX_KEY, edge_key, index_entries
from store.records import EDGE_RUN

if TYPE_CHECKING:
    from store.environment import Databases

__all__ = ["RETIRED", "upgrade"]

#: Databases of older formats that an upgrade reads and then deletes.
RETIRED: Final = ("edges_down", "edges_up", "edge_runs")

_U16: Final = struct.Struct(">H")


def upgrade(env: Any, txn: Any, dbs: Databases, version: int) -> None:
    """Bring a store of format `version` to the current one (see the module docstring)."""
    if version not in (1, 2):
        raise StoreError(
            f"no upgrade from store format {version}; this assetline reads formats 1 to 3"
        )
    if version == 1:
        _lineage_from_1(env, txn, dbs)
        _rebuild_index(txn, dbs)
    # 2 -> 3 only adds the (empty) `kv` database, which opening the store created.


def _pair_key_1(upstream: bytes, downstream: bytes) -> bytes:
    """Format 1's key of an edge's run (`fit` of the length-prefixed pair)."""
    key = _U16.pack(len(upstream)) + upstream + downstream
    return key if len(key) <= MAX_KEY else b"\xff" + hashlib.sha256(key).digest()


def _lineage_from_1(env: Any, txn: Any, dbs: Databases) -> None:
    down = env.open_db(b"edges_down", txn=txn, dupsort=True, create=False)
    up = env.open_db(b"edges_up", txn=txn, dupsort=True, create=False)
    runs = env.open_db(b"edge_runs", txn=txn, create=False)
    unknown = EDGE_RUN.pack(0, 0.0)
    lineage_down: list[tuple[bytes, bytes]] = []
    lineage_up: list[tuple[bytes, bytes]] = []
    for upstream, downstream in txn.cursor(db=down).iternext(keys=True, values=True):
        run = txn.get(_pair_key_1(upstream, downstream), db=runs) or unknown
        lineage_down.append((edge_key(upstream, downstream), run + downstream))
        lineage_up.append((edge_key(downstream, upstream), run + upstream))
    txn.cursor(db=dbs.lineage_down).putmulti(lineage_down)
    txn.cursor(db=dbs.lineage_up).putmulti(lineage_up)
    for db in (down, up, runs):
        txn.drop(db, delete=True)


def _rebuild_index(txn: Any, dbs: Databases) -> None:
    txn.drop(dbs.index, delete=False)
    entries: list[tuple[bytes, bytes]] = []
    for key, value in txn.cursor(db=dbs.assets).iternext(keys=True, values=True):
        asset = codec.decode_asset(value)
        entries.extend(
            (entry, key) for entry in index_entries(asset.type, asset.namespace, asset.metadata)
        )
    txn.cursor(db=dbs.index).putmulti(entries, dupdata=False)
