"""How events change the store: one batch of events applied inside one LMDB write transaction.

`prepare` decodes and checks each event before anything is written (so a bad event can be set
aside); `BatchApplier` applies prepared events in order and writes everything at the end,
sorted, with cursors: assets touched several times in a batch are read, merged and encoded once,
index entries change only where an asset's indexed attributes changed, and the event log is
appended in one `putmulti`.

Rules (the store's semantics; ARCHITECTURE.md and `Store.write` say the same):

- TaskRunEvent, at most once per (execution_id, taskrun_id, attempt). Inputs: unknown ones are
  registered as `External` (namespace: the ref's, else the flow's), a usage INPUT, a USED
  change. Outputs: a usage OUTPUT always; upserted only when the state is SUCCESS or WARNING,
  with a CREATED/UPDATED change, and then a lineage edge from every input to every output that
  remembers only the latest task run (by end time) per (upstream, downstream) pair.
- Upsert: new assets get created = updated = the event time, missing namespace -> the flow's,
  missing type -> External. Existing ones keep `created`, take `updated` = the event time,
  merge metadata (a None value deletes the key), keep omitted fields; a declared type replaces
  the stored one, except that `External` never replaces a real type.
- ExecutionEvent: replaces the latest record; logged only when the state changes.
- AssetSetEvent / AssetDeleteEvent: applied at most once per event content (a replayed one
  is a duplicate). A set upserts like an output (a new asset without a namespace gets "");
  a delete removes the asset, its index entries and its lineage edges, keeps its usages, and
  logs DELETED; deleting an unknown asset is a duplicate (nothing to do).
- Every log entry's `time` is the wall-clock time of the write that appended it, so the log is
  ordered by time as well as by `seq`.

This module does not open or close anything: it works in a transaction it is given.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from typing import Any, NamedTuple

import msgspec

from store import codec
from store.environment import Databases
from store.errors import CodecError
from store.keys import (
    check_asset_id,
    fit,
    json_form,
    meta_key,
    namespace_key,
    pair_key,
    prefix,
    taskrun_key,
    time_key,
    type_key,
    u16,
    u64,
)
from store.records import EDGE_RUN, USAGE_INPUT, USAGE_OUTPUT

_SIMPLE = (str, int, float, bool, type(None))
PRODUCING_STATES = codec.PRODUCING_STATES
AssetChange = codec.AssetChange
#: u16(position) of an asset within its event, for the first ones (the usual case).
_POSITIONS = [u16(i) for i in range(256)]


def _position(position: int) -> bytes:
    return _POSITIONS[position] if position < 256 else u16(position)


def _group(asset_id: str) -> bytes:
    """prefix(asset_id) without a call for the usual short ids."""
    return asset_id.encode() + b"\x00" if len(asset_id) <= 100 else prefix(asset_id)


class Prepared(NamedTuple):
    """An event ready to apply: decoded, checked, and its msgpack for the log."""

    event: codec.Event
    raw: bytes


class _LogRecord(msgspec.Struct):
    """`codec.LogEntry` with the event kept as the msgpack it arrived in (no re-encoding)."""

    seq: int
    time: float
    event: msgspec.Raw
    changes: list[codec.AssetChange]
    v: int = codec.SCHEMA_VERSION


_encoder = msgspec.msgpack.Encoder()


def prepare(item: bytes | bytearray | memoryview | codec.Event) -> Prepared:
    """Decode (or encode) one event and check it; CodecError / InvalidEventError if bad."""
    if type(item) is bytes:
        raw = item
        event = codec.decode_event(raw)
    elif isinstance(item, bytearray | memoryview):
        raw = bytes(item)
        event = codec.decode_event(raw)
    elif isinstance(
        item,
        codec.TaskRunEvent | codec.ExecutionEvent | codec.AssetSetEvent | codec.AssetDeleteEvent,
    ):
        event = item
        try:
            raw = _encoder.encode(item)
        except (TypeError, msgspec.EncodeError) as exc:
            raise CodecError(f"cannot encode {type(item).__name__}: {exc}") from exc
    else:
        raise CodecError(f"not an assetline event: {type(item).__name__}")
    _check(event)
    return Prepared(event, raw)


def _check(event: codec.Event) -> None:
    if isinstance(event, codec.TaskRunEvent):
        for ref in event.inputs:
            _check_id(ref.id)
        for decl in event.outputs:
            _check_decl(decl)
    elif isinstance(event, codec.AssetSetEvent):
        _check_decl(event.asset)
    elif isinstance(event, codec.AssetDeleteEvent):
        _check_id(event.id)


def _check_id(asset_id: str) -> None:
    # Up to 127 characters is at most 508 bytes of UTF-8: no need to encode to know it fits.
    if not 0 < len(asset_id) <= 127:
        check_asset_id(asset_id)


def _check_decl(decl: codec.AssetDecl) -> None:
    _check_id(decl.id)
    for value in (decl.metadata or {}).values():
        if not isinstance(value, _SIMPLE):
            json_form(value)  # raises InvalidEventError if the index could not hold it


#: Index keys of the usual (hashable, simple) attribute values, so that a thousand assets with
#: owner=analytics compute that key once. Bounded: cleared when it grows past _CACHE_MAX.
_index_cache: dict[tuple[str, type, Any], bytes] = {}
_CACHE_MAX = 100_000
_CACHEABLE = (str, int, float, bool)
_TYPE_KEY = "\x00type"
_NAMESPACE_KEY = "\x00namespace"


def _cached(name: str, value: Any) -> bytes:
    kind = type(value)
    if kind not in _CACHEABLE:
        return meta_key(name, value)
    slot = (name, kind, value)
    found = _index_cache.get(slot)
    if found is None:
        if len(_index_cache) >= _CACHE_MAX:
            _index_cache.clear()
        if name == _TYPE_KEY:
            found = type_key(value)
        elif name == _NAMESPACE_KEY:
            found = namespace_key(value)
        else:
            found = meta_key(name, value)
        _index_cache[slot] = found
    return found


def index_keys(asset: codec.Asset) -> set[bytes]:
    """Every index entry an asset has: its type, its namespace, each metadata key=value."""
    keys = {_cached(_TYPE_KEY, asset.type), _cached(_NAMESPACE_KEY, asset.namespace)}
    for name, value in asset.metadata.items():
        keys.add(_cached(name, value))
    return keys


class BatchApplier:
    """Applies prepared events in one write transaction; call `finish()` once at the end."""

    def __init__(self, txn: Any, dbs: Databases, *, next_seq: int, now: float) -> None:
        self.txn = txn
        self.dbs = dbs
        self.now = now
        self.first_seq = next_seq
        self.next_seq = next_seq
        self.applied = 0
        self.duplicates = 0
        self._assets: dict[str, codec.Asset | None] = {}
        self._original: dict[str, codec.Asset | None] = {}
        self._dirty: dict[str, None] = {}
        self._executions: dict[str, codec.ExecutionEvent | None] = {}
        self._exec_original: dict[str, codec.ExecutionEvent | None] = {}
        self._exec_dirty: dict[str, None] = {}
        self._seen_keys: set[bytes] = set()
        #: (upstream, downstream) -> (end, seq) of the latest task run linking them.
        self._pairs: dict[tuple[str, str], tuple[float, int]] = {}
        self._log: list[tuple[bytes, bytes]] = []
        self._usages: list[tuple[bytes, bytes]] = []
        self._applied_keys: list[tuple[bytes, bytes]] = []

    # -- reading through the batch's cache ---------------------------------------------------

    def _asset(self, asset_id: str) -> codec.Asset | None:
        try:
            return self._assets[asset_id]
        except KeyError:
            pass
        data = self.txn.get(asset_id.encode(), db=self.dbs.assets)
        asset = codec.decode_asset(data) if data is not None else None
        self._assets[asset_id] = asset
        self._original[asset_id] = asset
        return asset

    def _put_asset(self, asset_id: str, asset: codec.Asset | None) -> None:
        self._assets[asset_id] = asset
        self._dirty[asset_id] = None

    def _execution(self, execution_id: str) -> codec.ExecutionEvent | None:
        try:
            return self._executions[execution_id]
        except KeyError:
            pass
        data = self.txn.get(fit(execution_id.encode()), db=self.dbs.executions)
        record = codec.decode_event(data) if data is not None else None
        if record is not None and not isinstance(record, codec.ExecutionEvent):
            raise CodecError(f"execution record {execution_id!r} holds a {type(record)}")
        self._executions[execution_id] = record
        self._exec_original[execution_id] = record
        return record

    def _seen(self, key: bytes) -> bool:
        """True when an idempotency key was applied before (or earlier in this batch)."""
        if key in self._seen_keys or self.txn.get(key, db=self.dbs.applied) is not None:
            return True
        self._seen_keys.add(key)
        return False

    def _log_entry(self, raw: bytes, changes: list[codec.AssetChange]) -> int:
        seq = self.next_seq
        self.next_seq += 1
        record = _LogRecord(seq=seq, time=self.now, event=msgspec.Raw(raw), changes=changes)
        self._log.append((u64(seq), _encoder.encode(record)))
        return seq

    # -- applying ------------------------------------------------------------------------------

    def apply(self, prepared: Prepared) -> None:
        event = prepared.event
        if isinstance(event, codec.TaskRunEvent):
            self._task_run(event, prepared.raw)
        elif isinstance(event, codec.ExecutionEvent):
            self._execution_event(event, prepared.raw)
        elif isinstance(event, codec.AssetSetEvent):
            self._asset_set(event, prepared.raw)
        else:
            self._asset_delete(event, prepared.raw)

    def _task_run(self, event: codec.TaskRunEvent, raw: bytes) -> None:
        # The hot path of a fan-out: written for speed (locals, no helper calls per asset).
        execution_id = event.execution_id
        key = taskrun_key(execution_id, event.taskrun_id, event.attempt)
        seen = self._seen_keys
        if key in seen or self.txn.get(key, db=self.dbs.applied) is not None:
            self.duplicates += 1
            return
        seen.add(key)
        self.applied += 1
        seq = self.next_seq
        seq_bytes = u64(seq)
        # The applied key doubles as the execution's task-run index (prefix = execution id).
        self._applied_keys.append((key, seq_bytes))
        changes: list[codec.AssetChange] = []
        usages = self._usages
        assets = self._assets
        position = 0
        inputs = event.inputs
        outputs = event.outputs
        for ref in inputs:
            asset_id = ref.id
            asset = assets[asset_id] if asset_id in assets else self._asset(asset_id)
            if asset is None:
                asset = codec.Asset(
                    id=asset_id,
                    namespace=ref.namespace if ref.namespace is not None else event.flow_namespace,
                    type=codec.EXTERNAL_TYPE,
                    created=event.end,
                    updated=event.end,
                )
                self._put_asset(asset_id, asset)
            usages.append((_group(asset_id) + seq_bytes + _position(position), USAGE_INPUT))
            position += 1
            changes.append(AssetChange(asset_id, asset.namespace, asset.type, "USED"))
        producing = event.state in PRODUCING_STATES
        for decl in outputs:
            usages.append((_group(decl.id) + seq_bytes + _position(position), USAGE_OUTPUT))
            position += 1
            if producing:
                changes.append(self._upsert(decl, event.end, event.flow_namespace))
        if producing and inputs and outputs:
            end = event.end
            run = (end, seq)
            pairs = self._pairs
            for ref in inputs:
                for decl in outputs:
                    pair = (ref.id, decl.id)
                    held = pairs.get(pair)
                    if held is None or held[0] <= end:
                        pairs[pair] = run
        self.next_seq = seq + 1
        self._log.append(
            (seq_bytes, _encoder.encode(_LogRecord(seq, self.now, msgspec.Raw(raw), changes)))
        )

    def _upsert(
        self, decl: codec.AssetDecl, when: float, default_namespace: str
    ) -> codec.AssetChange:
        current = self._asset(decl.id)
        if current is None:
            asset = codec.Asset(
                id=decl.id,
                namespace=decl.namespace if decl.namespace is not None else default_namespace,
                type=decl.type if decl.type is not None else codec.EXTERNAL_TYPE,
                created=when,
                updated=when,
                displayName=decl.displayName,
                description=decl.description,
                metadata={k: v for k, v in (decl.metadata or {}).items() if v is not None},
            )
            kind = "CREATED"
        else:
            metadata = dict(current.metadata)
            for key, value in (decl.metadata or {}).items():
                if value is None:
                    metadata.pop(key, None)
                else:
                    metadata[key] = value
            asset_type = current.type
            if decl.type is not None and not (
                decl.type == codec.EXTERNAL_TYPE and current.type != codec.EXTERNAL_TYPE
            ):
                asset_type = decl.type
            asset = codec.Asset(
                id=decl.id,
                namespace=decl.namespace if decl.namespace is not None else current.namespace,
                type=asset_type,
                created=current.created,
                updated=when,
                displayName=decl.displayName
                if decl.displayName is not None
                else current.displayName,
                description=decl.description
                if decl.description is not None
                else current.description,
                metadata=metadata,
            )
            kind = "UPDATED"
        self._put_asset(decl.id, asset)
        return codec.AssetChange(asset.id, asset.namespace, asset.type, kind)

    def _execution_event(self, event: codec.ExecutionEvent, raw: bytes) -> None:
        current = self._execution(event.id)
        if current == event:
            self.duplicates += 1
            return
        self.applied += 1
        self._executions[event.id] = event
        self._exec_dirty[event.id] = None
        if current is None or current.state != event.state:
            self._log_entry(raw, [])

    def _content_key(self, event: codec.AssetSetEvent | codec.AssetDeleteEvent) -> bytes:
        return b"\xfe" + hashlib.sha256(_encoder.encode(event)).digest()

    def _asset_set(self, event: codec.AssetSetEvent, raw: bytes) -> None:
        key = self._content_key(event)
        if self._seen(key):
            self.duplicates += 1
            return
        self.applied += 1
        seq = self._log_entry(raw, [self._upsert(event.asset, event.time, "")])
        self._applied_keys.append((key, u64(seq)))

    def _asset_delete(self, event: codec.AssetDeleteEvent, raw: bytes) -> None:
        key = self._content_key(event)
        asset = self._asset(event.id)
        if asset is None or self._seen(key):
            self.duplicates += 1
            return
        self.applied += 1
        self._put_asset(event.id, None)
        self._drop_edges(event.id)
        change = codec.AssetChange(asset.id, asset.namespace, asset.type, "DELETED")
        seq = self._log_entry(raw, [change])
        self._applied_keys.append((key, u64(seq)))

    def _drop_edges(self, asset_id: str) -> None:
        for pair in [p for p in self._pairs if asset_id in p]:
            del self._pairs[pair]
        txn, dbs = self.txn, self.dbs
        me = asset_id.encode()
        for forward, backward, outgoing in (
            (dbs.edges_down, dbs.edges_up, True),
            (dbs.edges_up, dbs.edges_down, False),
        ):
            cursor = txn.cursor(db=forward)
            others = list(cursor.iternext_dup(keys=False)) if cursor.set_key(me) else []
            for other in others:
                txn.delete(other, me, db=backward)
                up, down = (me, other) if outgoing else (other, me)
                txn.delete(pair_key(up, down), db=dbs.edge_runs)
            txn.delete(me, db=forward)

    # -- writing it all -------------------------------------------------------------------------

    def finish(self) -> None:
        """Write what the batch changed: assets and index, edges, executions, usages, log."""
        txn, dbs = self.txn, self.dbs
        self._finish_assets()
        self._finish_edges()
        self._finish_executions()
        _putmulti(txn, dbs.usages, sorted(self._usages))
        _putmulti(txn, dbs.applied, sorted(self._applied_keys))
        if self._log:
            txn.cursor(db=dbs.log).putmulti(self._log, append=True)

    def _finish_assets(self) -> None:
        txn, dbs = self.txn, self.dbs
        puts: list[tuple[bytes, bytes]] = []
        adds: list[tuple[bytes, bytes]] = []
        index = txn.cursor(db=dbs.index)
        for asset_id in self._dirty:
            asset = self._assets[asset_id]
            original = self._original[asset_id]
            key = asset_id.encode()
            if original is None:  # the common case: a new asset, nothing to compare
                if asset is not None:
                    adds.extend([(entry, key) for entry in index_keys(asset)])
            else:
                old = index_keys(original)
                new = index_keys(asset) if asset is not None else set()
                for entry in old - new:
                    if index.set_key_dup(entry, key):
                        index.delete()
                adds.extend([(entry, key) for entry in new - old])
            if asset is not None:
                puts.append((key, _encoder.encode(asset)))
            elif original is not None:
                txn.delete(key, db=dbs.assets)
        _putmulti(txn, dbs.assets, sorted(puts))
        adds.sort()
        if adds:
            index.putmulti(adds, dupdata=False)

    def _finish_edges(self) -> None:
        if not self._pairs:
            return
        txn, dbs = self.txn, self.dbs
        runs: list[tuple[bytes, bytes]] = []
        down: list[tuple[bytes, bytes]] = []
        up: list[tuple[bytes, bytes]] = []
        original = self._original
        for (source, target), (end, seq) in self._pairs.items():
            source_key, target_key = source.encode(), target.encode()
            key = pair_key(source_key, target_key)
            # An asset new in this batch (the usual fan-out output) has no edge yet.
            held = None if original.get(target, 1) is None else txn.get(key, db=dbs.edge_runs)
            if held is None or EDGE_RUN.unpack(held)[1] <= end:
                runs.append((key, EDGE_RUN.pack(seq, end)))
            down.append((source_key, target_key))
            up.append((target_key, source_key))
        _putmulti(txn, dbs.edge_runs, sorted(runs))
        for db, items in ((dbs.edges_down, down), (dbs.edges_up, up)):
            items.sort()
            txn.cursor(db=db).putmulti(items, dupdata=False)

    def _finish_executions(self) -> None:
        txn, dbs = self.txn, self.dbs
        for execution_id in self._exec_dirty:
            record = self._executions[execution_id]
            assert record is not None  # only ever set to an event
            original = self._exec_original[execution_id]
            key = fit(execution_id.encode())
            value = execution_id.encode()
            txn.put(key, _encoder.encode(record), db=dbs.executions)
            for old_key, new_key, db in _execution_index(dbs, original, record, key):
                if old_key != new_key:
                    if old_key is not None:
                        txn.delete(old_key, db=db)
                    txn.put(new_key, value, db=db)
            if record.state == "RUNNING":
                txn.put(key, value, db=dbs.running)
            elif original is not None and original.state == "RUNNING":
                txn.delete(key, db=dbs.running)

    def report_range(self) -> tuple[int | None, int | None]:
        if self.next_seq == self.first_seq:
            return None, None
        return self.first_seq, self.next_seq - 1


def _execution_index(
    dbs: Databases,
    original: codec.ExecutionEvent | None,
    record: codec.ExecutionEvent,
    key: bytes,
) -> Iterable[tuple[bytes | None, bytes, Any]]:
    """(old key, new key, db) of the two execution indexes (by start, by flow and start)."""

    def by_start(e: codec.ExecutionEvent) -> bytes:
        return time_key(e.start) + key

    def by_flow(e: codec.ExecutionEvent) -> bytes:
        return prefix(e.flow_id) + time_key(e.start) + key

    return [
        (by_start(original) if original else None, by_start(record), dbs.exec_by_start),
        (by_flow(original) if original else None, by_flow(record), dbs.exec_by_flow),
    ]


def _putmulti(txn: Any, db: Any, items: list[tuple[bytes, bytes]]) -> None:
    if items:
        txn.cursor(db=db).putmulti(items)
