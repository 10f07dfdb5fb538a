"""Reading the store: assets by filter, usages, lineage traversal, executions, the event log.

Every function reads inside a read transaction it is given, so it sees one consistent snapshot
and never blocks the writer (LMDB MVCC).

`find_assets` filters are ANDed; results come in id order, and `after` (the id of the last row
seen) resumes a page. `type`, `namespace` and each `metadata` key=value are answered from the
index: the smallest of them drives, the others are checked per candidate, so a selective filter
does not scan. Metadata values match by their JSON form (`1` is not `"1"`, nor `1.0`, nor
`true`). `q` (case-insensitive substring of the id or displayName) and `namespace_prefix`
(the namespace itself or anything below it: `a.b` matches `a.b` and `a.b.c`, not `a.bc`) are
checked on the records: with no indexed filter beside them they scan the inventory.

Lineage goes asset -> task run -> asset. `depth` counts asset hops (None: unbounded, 0: the
root alone); each asset is expanded once, so cycles end.

This module never writes.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterator, Mapping
from typing import Any

from store import codec
from store.environment import Databases
from store.errors import AssetNotFound, CodecError
from store.keys import (
    KIND_PREFIX,
    edge_head,
    fit,
    from_u64,
    json_form,
    kind_key,
    kind_namespace,
    kind_part,
    meta_key,
    prefix,
    type_prefix,
    u64,
)
from store.lineage_graph import LineageEdge, LineageGraph, LineageNode
from store.records import DIRECTIONS as USAGE_DIRECTIONS
from store.records import EDGE_RUN, EDGE_RUN_SIZE, TaskRunView, decode_task_run_view

DIRECTIONS = ("up", "down", "both")


class AssetFilter:
    """The record-level check of every `find_assets` filter."""

    def __init__(
        self,
        *,
        type: str | None,
        namespace: str | None,
        namespace_prefix: str | None,
        metadata: Mapping[str, Any] | None,
        q: str | None,
    ) -> None:
        self.type = type
        self.namespace = namespace
        self.namespace_prefix = namespace_prefix
        self.metadata = dict(metadata or {})
        self.q = q.casefold() if q else None

    def index_keys(self) -> list[bytes]:
        """The metadata filters' index keys (each holds exactly the assets that match it)."""
        return [meta_key(key, value) for key, value in self.metadata.items()]

    def kind_keys(self, txn: Any, dbs: Databases) -> list[bytes] | None:
        """The kind keys whose assets match the type and namespace filters (their union), or
        None when neither is given. A type alone scans its keys; a namespace alone scans
        every kind key (one per type and namespace in use, a short walk)."""
        if self.type is None and self.namespace is None:
            return None
        if self.type is not None and self.namespace is not None:
            return [kind_key(self.type, self.namespace)]
        start = type_prefix(self.type) if self.type is not None else KIND_PREFIX
        wanted = kind_part(self.namespace) if self.namespace is not None else None
        cursor = txn.cursor(db=dbs.index)
        found = cursor.set_range(start)
        keys = []
        while found:
            key = cursor.key()
            if not key.startswith(start):
                break
            if wanted is None or kind_namespace(key) == wanted:
                keys.append(key)
            found = cursor.next_nodup()
        return keys

    def __call__(self, asset: codec.Asset) -> bool:
        if self.type is not None and asset.type != self.type:
            return False
        if self.namespace is not None and asset.namespace != self.namespace:
            return False
        if self.namespace_prefix is not None and not (
            asset.namespace == self.namespace_prefix
            or asset.namespace.startswith(self.namespace_prefix + ".")
        ):
            return False
        for key, value in self.metadata.items():
            if key not in asset.metadata or not _same_json(asset.metadata[key], value):
                return False
        if self.q is not None:
            return self.q in asset.id.casefold() or (
                asset.displayName is not None and self.q in asset.displayName.casefold()
            )
        return True


def _same_json(stored: Any, wanted: Any) -> bool:
    """Equal JSON forms (fast for the usual strings and integers)."""
    kind = type(wanted)
    if type(stored) is kind and kind in (str, int, bool):
        return bool(stored == wanted)
    return json_form(stored) == json_form(wanted)


def get_asset(txn: Any, dbs: Databases, asset_id: str) -> codec.Asset | None:
    raw = asset_id.encode()
    if not raw or len(raw) > 511:
        return None
    data = txn.get(raw, db=dbs.assets)
    return codec.decode_asset(data) if data is not None else None


def find_assets(
    txn: Any,
    dbs: Databases,
    *,
    id: str | None,
    check: AssetFilter,
    after: str | None,
    limit: int | None,
) -> list[codec.Asset]:
    if limit is not None and limit <= 0:
        return []
    if id is not None:
        asset = get_asset(txn, dbs, id)
        if asset is None or (after is not None and id <= after) or not check(asset):
            return []
        return [asset]
    found: list[codec.Asset] = []
    for candidate in _candidates(txn, dbs, check, after):
        data = txn.get(candidate, db=dbs.assets)
        if data is None:
            continue
        asset = codec.decode_asset(data)
        if check(asset):
            found.append(asset)
            if limit is not None and len(found) >= limit:
                break
    return found


def _candidates(txn: Any, dbs: Databases, check: AssetFilter, after: str | None) -> Iterator[bytes]:
    """Asset ids in id order, after `after`, among those the index holds for the filters (all
    ids when none is indexed). The smallest filter drives; the other metadata filters are
    checked in the index, the type and namespace on the records (`check`)."""
    start = after.encode() if after is not None else None
    # Each source: (its size, the index keys whose union it is).
    sources: list[tuple[int, list[bytes]]] = []
    kinds = check.kind_keys(txn, dbs)
    counter = txn.cursor(db=dbs.index)
    if kinds is not None:
        size = sum(counter.count() for key in kinds if counter.set_key(key))
        if size == 0:
            return
        sources.append((size, kinds))
    others = []
    for key in set(check.index_keys()):
        cursor = txn.cursor(db=dbs.index)
        if not cursor.set_key(key):
            return  # nothing holds this key
        sources.append((cursor.count(), [key]))
        others.append((key, cursor))
    if not sources:
        yield from _all_ids(txn, dbs, start)
        return
    sources.sort(key=lambda source: source[0])
    drive = sources[0][1]
    checks = [(key, cursor) for key, cursor in others if [key] != drive]
    lists = [_index_ids(txn, dbs, key, start) for key in drive]
    for candidate in lists[0] if len(lists) == 1 else heapq.merge(*lists):
        if candidate != start and all(c.set_key_dup(k, candidate) for k, c in checks):
            yield candidate


def _all_ids(txn: Any, dbs: Databases, start: bytes | None) -> Iterator[bytes]:
    cursor = txn.cursor(db=dbs.assets)
    found = cursor.set_range(start) if start is not None else cursor.first()
    while found:
        key = cursor.key()
        if key != start:
            yield key
        found = cursor.next()


def _index_ids(txn: Any, dbs: Databases, key: bytes, start: bytes | None) -> Iterator[bytes]:
    """The asset ids under one index key, in id order, from `start` on."""
    cursor = txn.cursor(db=dbs.index)
    if not cursor.set_key(key):
        return
    found = cursor.set_range_dup(key, start) if start is not None else True
    while found:
        yield cursor.value()
        found = cursor.next_dup()


def iter_asset_page(txn: Any, dbs: Databases, after: str | None, size: int) -> list[codec.Asset]:
    cursor = txn.cursor(db=dbs.assets)
    start = after.encode() if after is not None else None
    found = cursor.set_range(start) if start is not None else cursor.first()
    page: list[codec.Asset] = []
    while found and len(page) < size:
        key, value = cursor.item()
        if key != start:
            page.append(codec.decode_asset(value))
        found = cursor.next()
    return page


def count_assets(txn: Any, dbs: Databases) -> int:
    entries: int = txn.stat(dbs.assets)["entries"]
    return entries


def usages(txn: Any, dbs: Databases, asset_id: str, limit: int | None) -> list[codec.Usage]:
    group = prefix(asset_id)
    size = len(group) + 10  # + seq (8) + position (2)
    cursor = txn.cursor(db=dbs.usages)
    found = cursor.set_range(group)
    result: list[codec.Usage] = []
    runs = _RunCache(txn, dbs)
    while found and (limit is None or len(result) < limit):
        key, direction = cursor.item()
        if not key.startswith(group):
            break
        if len(key) == size:
            run = runs.get(key[-10:-2])
            result.append(
                codec.Usage(
                    asset_id=asset_id,
                    direction=USAGE_DIRECTIONS[direction],
                    execution_id=run.execution_id,
                    flow_namespace=run.flow_namespace,
                    flow_id=run.flow_id,
                    task_id=run.task_id,
                    taskrun_id=run.taskrun_id,
                    attempt=run.attempt,
                    state=run.state,
                    start=run.start,
                    end=run.end,
                    value=run.value,
                )
            )
        found = cursor.next()
    return result


class _RunCache:
    """Task runs read from the event log by sequence, each decoded once per query."""

    def __init__(self, txn: Any, dbs: Databases) -> None:
        self.txn = txn
        self.dbs = dbs
        self.runs: dict[bytes, TaskRunView] = {}

    def get(self, seq: bytes) -> TaskRunView:
        run = self.runs.get(seq)
        if run is None:
            data = self.txn.get(seq, db=self.dbs.log)
            if data is None:
                raise CodecError(f"event-log entry {from_u64(seq)} is missing")
            run = self.runs[seq] = decode_task_run_view(data)
        return run


def lineage(
    txn: Any, dbs: Databases, asset_id: str, direction: str, depth: int | None
) -> LineageGraph:
    if direction not in DIRECTIONS:
        raise ValueError(f"direction {direction!r}: use one of {', '.join(DIRECTIONS)}")
    root = get_asset(txn, dbs, asset_id)
    if root is None:
        raise AssetNotFound(f"no asset {asset_id!r} in the store")
    nodes: dict[str, LineageNode] = {asset_id: _asset_node(root)}
    edges: dict[tuple[str, str], None] = {}
    for way in ("up", "down") if direction == "both" else (direction,):
        _walk(txn, dbs, asset_id, way, depth, nodes, edges)
    return LineageGraph(
        root=asset_id,
        nodes=list(nodes.values()),
        edges=[LineageEdge(source, target) for source, target in edges],
    )


def _walk(
    txn: Any,
    dbs: Databases,
    start: str,
    way: str,
    depth: int | None,
    nodes: dict[str, LineageNode],
    edges: dict[tuple[str, str], None],
) -> None:
    db = dbs.lineage_up if way == "up" else dbs.lineage_down
    cursor = txn.cursor(db=db)
    runs = _RunCache(txn, dbs)
    frontier = [start.encode()]
    seen = {start.encode()}
    hops = 0
    while frontier and (depth is None or hops < depth):
        hops += 1
        following: list[bytes] = []
        for here in frontier:
            head = edge_head(here)
            found = cursor.set_range(head)
            links = []
            while found:
                key, value = cursor.item()
                if not key.startswith(head):
                    break
                links.append(value)
                found = cursor.next()
            for value in links:
                seq, _ = EDGE_RUN.unpack_from(value)
                other = value[EDGE_RUN_SIZE:]
                upstream, downstream = (other, here) if way == "up" else (here, other)
                other_id = other.decode()
                if other_id not in nodes:
                    asset = get_asset(txn, dbs, other_id)
                    nodes[other_id] = (
                        _asset_node(asset) if asset else LineageNode(id=other_id, kind="asset")
                    )
                if seq == 0:  # an edge without its run (from format 1): link the assets
                    edges[(upstream.decode(), downstream.decode())] = None
                else:
                    run = runs.get(u64(seq))
                    nodes.setdefault(run.taskrun_id, _task_node(run))
                    edges[(upstream.decode(), run.taskrun_id)] = None
                    edges[(run.taskrun_id, downstream.decode())] = None
                if other not in seen:
                    seen.add(other)
                    following.append(other)
        frontier = following


def _asset_node(asset: codec.Asset) -> LineageNode:
    return LineageNode(
        id=asset.id,
        kind="asset",
        label=asset.displayName or asset.id,
        namespace=asset.namespace,
        type=asset.type,
    )


def _task_node(run: TaskRunView) -> LineageNode:
    return LineageNode(
        id=run.taskrun_id,
        kind="task",
        label=f"{run.flow_id}.{run.task_id}",
        flow_namespace=run.flow_namespace,
        flow_id=run.flow_id,
        task_id=run.task_id,
        execution_id=run.execution_id,
        state=run.state,
    )


def get_execution(txn: Any, dbs: Databases, execution_id: str) -> codec.ExecutionEvent | None:
    data = txn.get(fit(execution_id.encode()), db=dbs.executions)
    if data is None:
        return None
    record = codec.decode_event(data)
    if not isinstance(record, codec.ExecutionEvent):
        raise CodecError(f"execution record {execution_id!r} holds a {type(record).__name__}")
    return record


def list_executions(
    txn: Any,
    dbs: Databases,
    *,
    flow_id: str | None,
    namespace: str | None,
    state: str | None,
    limit: int | None,
) -> list[codec.ExecutionEvent]:
    """Newest first (by start time)."""
    if limit is not None and limit <= 0:
        return []
    if flow_id is not None:
        cursor = txn.cursor(db=dbs.exec_by_flow)
        group = prefix(flow_id)
    else:
        cursor = txn.cursor(db=dbs.exec_by_start)
        group = b""
    # Position on the last key of the group, then walk backwards.
    end = group[:-1] + bytes([group[-1] + 1]) if group else None
    found = cursor.prev() if end is not None and cursor.set_range(end) else cursor.last()
    result: list[codec.ExecutionEvent] = []
    while found:
        key, value = cursor.item()
        if not key.startswith(group):
            break
        record = get_execution(txn, dbs, value.decode())
        if (
            record is not None
            and (flow_id is None or record.flow_id == flow_id)
            and (namespace is None or record.namespace == namespace)
            and (state is None or record.state == state)
        ):
            result.append(record)
            if limit is not None and len(result) >= limit:
                break
        found = cursor.prev()
    return result


def running_executions(txn: Any, dbs: Databases) -> list[codec.ExecutionEvent]:
    cursor = txn.cursor(db=dbs.running)
    found = cursor.first()
    result = []
    while found:
        record = get_execution(txn, dbs, cursor.value().decode())
        if record is not None and record.state == "RUNNING":
            result.append(record)
        found = cursor.next()
    return result


def task_runs(txn: Any, dbs: Databases, execution_id: str) -> list[codec.TaskRunEvent]:
    group = prefix(execution_id)
    cursor = txn.cursor(db=dbs.applied)
    found = cursor.set_range(group)
    seqs: list[bytes] = []
    while found:
        key, seq = cursor.item()
        if not key.startswith(group):
            break
        seqs.append(seq)
        found = cursor.next()
    result: list[codec.TaskRunEvent] = []
    for seq in sorted(seqs):  # the order written
        data = txn.get(seq, db=dbs.log)
        if data is not None:
            event = codec.decode_log_entry(data).event
            # An id holding NUL could share the prefix: keep this execution's runs only.
            if isinstance(event, codec.TaskRunEvent) and event.execution_id == execution_id:
                result.append(event)
    return result


def last_seq(txn: Any, dbs: Databases) -> int:
    cursor = txn.cursor(db=dbs.log)
    return from_u64(cursor.key()) if cursor.last() else 0


def read_log(txn: Any, dbs: Databases, after: int, limit: int) -> list[codec.LogEntry]:
    cursor = txn.cursor(db=dbs.log)
    found = cursor.set_range(u64(max(0, after) + 1))
    result: list[codec.LogEntry] = []
    while found and len(result) < limit:
        result.append(codec.decode_log_entry(cursor.value()))
        found = cursor.next()
    return result
