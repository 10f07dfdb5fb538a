"""assetline's asset store: assets, usages, lineage, executions and an event log in LMDB.

`Store` reads and writes one store; `BatchingWriter` is a process's single writer;
`codec` holds the event schema; `errors` the exception tree.
"""

from store.errors import (
    AssetNotFound,
    CodecError,
    InvalidEventError,
    StoreClosedError,
    StoreError,
    StoreLockedError,
    StoreVersionError,
)
from store.lineage_graph import LineageEdge, LineageGraph, LineageNode
from store.lmdb_store import Store, WriteReport
from store.writer import BatchingWriter

__all__ = [
    "AssetNotFound",
    "BatchingWriter",
    "CodecError",
    "InvalidEventError",
    "LineageEdge",
    "LineageGraph",
    "LineageNode",
    "Store",
    "StoreClosedError",
    "StoreError",
    "StoreLockedError",
    "StoreVersionError",
    "WriteReport",
]
