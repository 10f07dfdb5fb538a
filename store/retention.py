"""Retention: removing old usages and lineage edges (what Kestra's PurgeAssets calls asset usage
and lineage events), in a write transaction it is given.

- `seq_at(when)`: the newest event-log entry written at or before `when` (the log is ordered by
  write time as well as by sequence, so a binary search finds it).
- `purge_usages`: usage records of the given assets (or of every asset) whose task run was
  logged at or before a sequence. The event log, the task runs and the executions stay: they
  are history other readers (shippers, `executions show`) rely on.
- `purge_lineage`: lineage edges whose latest task run ended at or before a time (and ran in a
  namespace, if given), in both directions; an edge linked again later is written again by
  that run.

Asset records are deleted through `AssetDeleteEvent`s (the writer), not here. This module
does not open transactions.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import msgspec

from store.codec import DECODE_ERRORS
from store.environment import Databases
from store.errors import CodecError
from store.keys import edge_head, edge_key, from_u64, prefix, u64
from store.records import EDGE_RUN, EDGE_RUN_SIZE, decode_task_run_view

__all__ = ["purge_lineage", "purge_usages", "seq_at"]


#: How `keys.edge_head` starts the head of an id too long to spell out.
_HASHED_HEAD = b"\xff\xff"


class _LoggedAt(msgspec.Struct):
    time: float


_logged_at = msgspec.msgpack.Decoder(_LoggedAt)


def _time_of(txn: Any, dbs: Databases, seq: int) -> float:
    data = txn.get(u64(seq), db=dbs.log)
    if data is None:
        raise CodecError(f"event-log entry {seq} is missing")
    try:
        return _logged_at.decode(data).time
    except DECODE_ERRORS as exc:
        raise CodecError(f"event-log entry {seq} has no readable time: {exc}") from exc


def seq_at(txn: Any, dbs: Databases, when: float) -> int:
    """The sequence of the newest log entry written at or before `when` (0: none)."""
    cursor = txn.cursor(db=dbs.log)
    if not cursor.first():
        return 0
    low = from_u64(cursor.key())
    cursor.last()
    high = from_u64(cursor.key())
    if _time_of(txn, dbs, low) > when:
        return 0
    while low < high:  # invariant: entry `low` is at or before `when`
        middle = (low + high + 1) // 2
        if _time_of(txn, dbs, middle) <= when:
            low = middle
        else:
            high = middle - 1
    return low


def purge_usages(txn: Any, dbs: Databases, asset_ids: Iterable[str] | None, until: int) -> int:
    """Delete the usages of `asset_ids` (None: of every asset) logged at seq <= `until`."""
    cursor = txn.cursor(db=dbs.usages)
    count = 0
    groups = [prefix(asset_id) for asset_id in asset_ids] if asset_ids is not None else [b""]
    for group in groups:
        found = cursor.set_range(group)
        while found:
            key = cursor.key()
            if not key.startswith(group):
                break
            if from_u64(key[-10:-2]) <= until:
                count += 1
                found = _delete(cursor)
            else:
                found = cursor.next()
    return count


def purge_lineage(
    txn: Any, dbs: Databases, until: float, namespace_prefix: str | None = None
) -> int:
    """Delete every lineage edge whose latest task run ended at or before `until` and, with
    `namespace_prefix`, ran in a flow of that namespace or below it. Edges kept from format 1
    without their run have no end time and stay."""
    cursor = txn.cursor(db=dbs.lineage_down)
    count = 0
    namespaces: dict[int, str] = {}  # seq -> the namespace of its task run's flow
    found = cursor.first()
    while found:
        key, value = cursor.item()
        seq, end = EDGE_RUN.unpack_from(value)
        if (
            seq != 0
            and end <= until
            and (namespace_prefix is None or _within(txn, dbs, seq, namespace_prefix, namespaces))
        ):
            downstream = value[EDGE_RUN_SIZE:]
            upstream = _upstream_of(txn, dbs, key, downstream)
            if upstream is not None:
                txn.delete(edge_key(downstream, upstream), db=dbs.lineage_up)
            count += 1
            found = _delete(cursor)
        else:
            found = cursor.next()
    return count


def _delete(cursor: Any) -> bool:
    """Delete the cursor's record; True when the cursor then stands on a next one (py-lmdb's
    delete() says True even when none is left; no LMDB key is empty)."""
    cursor.delete()
    return bool(cursor.key())


def _within(
    txn: Any, dbs: Databases, seq: int, namespace_prefix: str, namespaces: dict[int, str]
) -> bool:
    namespace = namespaces.get(seq)
    if namespace is None:
        data = txn.get(u64(seq), db=dbs.log)
        namespace = namespaces[seq] = decode_task_run_view(data).flow_namespace if data else ""
    return namespace == namespace_prefix or namespace.startswith(namespace_prefix + ".")


def _upstream_of(txn: Any, dbs: Databases, key: bytes, downstream: bytes) -> bytes | None:
    """The upstream id of the lineage_down record `key`: its head spells it unless the id was
    long enough to be hashed, when the mirrored records of `downstream` tell it."""
    if key[:2] != _HASHED_HEAD:
        return key[2 : 2 + int.from_bytes(key[:2], "big")]
    cursor = txn.cursor(db=dbs.lineage_up)
    head = edge_head(downstream)
    found = cursor.set_range(head)
    while found and cursor.key().startswith(head):
        upstream = cursor.value()[EDGE_RUN_SIZE:]
        if edge_key(upstream, downstream) == key:
            return bytes(upstream)
        found = cursor.next()
    return None
