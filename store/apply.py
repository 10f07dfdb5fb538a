"""How events change the store: one batch of events applied inside one LMDB write transaction.

`store.intake` decodes and checks each event before anything is written (so a bad event can be
set aside); `BatchApplier.apply_all` reads what the batch's task runs need with one `getmulti`
per database, applies the events in order, and `finish` writes everything at the end with one
`putmulti` per database: assets touched several times in a batch are read, merged and encoded
once, index entries change only where an asset's indexed attributes changed (one entry for the
type and namespace, one per metadata key), each lineage edge is one record per direction that
holds its latest run, and the event log is appended in order.

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

This module is the reference for these rules: `store.native` (the compiled path for runs of
plain task runs) must write exactly what it writes, and is tested against it. It does not open
or close anything: it works in a transaction it is given.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from typing import Any

import msgspec

from store import codec
from store.environment import Databases
from store.errors import CodecError
from store.intake import PreparedBatch
from store.keys import (
    CACHED_KINDS,
    KIND_KEYS,
    MAX_KEY,
    META_KEYS,
    edge_head,
    edge_key,
    fit,
    index_entries,
    meta_index_key,
    prefix,
    time_key,
    u16,
    u64,
)
from store.records import EDGE_RUN, EDGE_RUN_SIZE, USAGE_INPUT, USAGE_OUTPUT

PRODUCING_STATES = codec.PRODUCING_STATES
AssetChange = codec.AssetChange
#: u16(position) of an asset within its event, for the first ones (the usual case).
_POSITIONS = [u16(i) for i in range(256)]
#: Lineage keys written inline when the near id is this short (`keys.edge_head`) and the
#: pair this short (the 2-byte length prefix and both ids within LMDB's key limit).
_SHORT_HEAD = 254
_SHORT_PAIR = MAX_KEY - 2


def _index_entries_of(asset: codec.Asset) -> list[bytes]:
    """Every index entry of an asset (`keys.index_entries`)."""
    return index_entries(asset.type, asset.namespace, asset.metadata)


def _group(asset_id: str) -> bytes:
    """prefix(asset_id) without a call for the usual short ids."""
    return asset_id.encode() + b"\x00" if len(asset_id) <= 100 else prefix(asset_id)


class _LogRecord(msgspec.Struct):
    """`codec.LogEntry` with the event kept as the msgpack it arrived in (no re-encoding)."""

    seq: int
    time: float
    event: msgspec.Raw
    #: AssetChange structs, or in the hot path plain 4-tuples: both encode as the same array.
    changes: Sequence[codec.AssetChange | tuple[str, str, str, str]]
    v: int = codec.SCHEMA_VERSION


_encoder = msgspec.msgpack.Encoder()


class BatchApplier:
    """Applies prepared events in one write transaction; call `finish()` once at the end.

    `apply_all` is the fast way in: it reads, with one call per database, the assets and the
    idempotency keys the batch's task runs need before applying them in order.
    """

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
        #: Idempotency keys applied in this batch, and the stored ones its task runs hold.
        self._seen_keys: set[bytes] = set()
        self._stored_keys: set[bytes] = set()
        #: (upstream, downstream) -> (end, seq) of the latest task run linking them.
        self._pairs: dict[tuple[str, str], tuple[float, int]] = {}
        # What finish() writes, as parallel flat lists (zipped there: no tuple per entry here).
        self._log_seqs: list[bytes] = []
        self._log_entries: list[bytes] = []
        self._usage_keys: list[bytes] = []
        self._usage_directions: list[bytes] = []
        self._applied_keys: list[bytes] = []
        self._applied_seqs: list[bytes] = []

    # -- reading ahead, and through the batch's cache ------------------------------------------

    def apply_all(self, batch: PreparedBatch) -> None:
        """Apply a prepared batch's events in order, reading ahead what its task runs need.

        Task runs, the hot path of a fan-out, are applied inline here (locals, no helper calls
        for a new output); the other kinds go through `_apply_other`.
        """
        self._read_ahead(batch)
        assets, dirty, pairs = self._assets, self._dirty, self._pairs
        seen, stored = self._seen_keys, self._stored_keys
        add_usage, add_direction = self._usage_keys.append, self._usage_directions.append
        add_applied, add_applied_seq = self._applied_keys.append, self._applied_seqs.append
        add_log_seq, add_log_entry = self._log_seqs.append, self._log_entries.append
        encode, now, positions = _encoder.encode, self.now, _POSITIONS
        asset_type, log_record, raw_type = codec.Asset, _LogRecord, msgspec.Raw
        producing_states, external = PRODUCING_STATES, codec.EXTERNAL_TYPE
        groups: dict[str, bytes] = {}
        task_run = codec.TaskRunEvent
        seq = self.next_seq
        applied = duplicates = 0
        for event, raw, key in batch.items:
            if not isinstance(event, task_run):
                self.next_seq = seq
                self._apply_other(event, raw)
                seq = self.next_seq
                continue
            assert key is not None  # `intake.prepare` keys every task run
            if key in seen or key in stored:
                duplicates += 1
                continue
            seen.add(key)
            applied += 1
            seq_bytes = u64(seq)
            # The applied key doubles as the execution's task-run index (prefix = execution id).
            add_applied(key)
            add_applied_seq(seq_bytes)
            changes: list[codec.AssetChange | tuple[str, str, str, str]] = []
            position = 0
            inputs = event.inputs
            outputs = event.outputs
            end = event.end
            for ref in inputs:
                asset_id = ref.id
                asset = assets[asset_id] if asset_id in assets else self._asset(asset_id)
                if asset is None:
                    namespace = ref.namespace
                    asset = asset_type(
                        asset_id,
                        namespace if namespace is not None else event.flow_namespace,
                        external,
                        end,
                        end,
                    )
                    assets[asset_id] = asset
                    dirty[asset_id] = None
                group = groups.get(asset_id)
                if group is None:
                    group = groups[asset_id] = _group(asset_id)
                add_usage(
                    group + seq_bytes + (positions[position] if position < 256 else u16(position))
                )
                add_direction(USAGE_INPUT)
                position += 1
                changes.append((asset_id, asset.namespace, asset.type, "USED"))
            producing = event.state in producing_states
            for decl in outputs:
                asset_id = decl.id
                add_usage(
                    (asset_id.encode() + b"\x00" if len(asset_id) <= 100 else prefix(asset_id))
                    + seq_bytes
                    + (positions[position] if position < 256 else u16(position))
                )
                add_direction(USAGE_OUTPUT)
                position += 1
                if not producing:
                    continue
                current = assets[asset_id] if asset_id in assets else self._asset(asset_id)
                if current is not None:
                    changes.append(self._upsert(decl, end, event.flow_namespace))
                    continue
                # A new asset, the usual output of a fan-out.
                metadata = decl.metadata
                if metadata:  # a copy: the caller may still hold the event's dict
                    if None in metadata.values():
                        metadata = {k: v for k, v in metadata.items() if v is not None}
                    else:
                        metadata = dict(metadata)
                namespace = decl.namespace
                if namespace is None:
                    namespace = event.flow_namespace
                kind = decl.type
                if kind is None:
                    kind = external
                assets[asset_id] = asset_type(
                    asset_id,
                    namespace,
                    kind,
                    end,
                    end,
                    decl.displayName,
                    decl.description,
                    metadata if metadata else {},
                )
                dirty[asset_id] = None
                changes.append((asset_id, namespace, kind, "CREATED"))
            if producing and inputs and outputs:
                run = (end, seq)
                for ref in inputs:
                    for decl in outputs:
                        pair = (ref.id, decl.id)
                        held = pairs.get(pair)
                        if held is None or held[0] <= end:
                            pairs[pair] = run
            add_log_seq(seq_bytes)
            add_log_entry(encode(log_record(seq, now, raw_type(raw), changes)))
            seq += 1
        self.next_seq = seq
        self.applied += applied
        self.duplicates += duplicates

    def _read_ahead(self, batch: PreparedBatch) -> None:
        """Read the task runs' assets and idempotency keys with one `getmulti` per database."""
        txn, dbs = self.txn, self.dbs
        if batch.run_keys:
            cursor = txn.cursor(db=dbs.applied)
            self._stored_keys = {key for key, _ in cursor.getmulti(batch.run_keys)}
        assets, original = self._assets, self._original
        keys = [asset_id.encode() for asset_id in batch.asset_ids if asset_id not in assets]
        if not keys:
            return
        found = dict(txn.cursor(db=dbs.assets).getmulti(keys))
        decode = codec.decode_asset
        for key in keys:
            data = found.get(key)
            asset = decode(data) if data is not None else None
            asset_id = key.decode()
            assets[asset_id] = asset
            original[asset_id] = asset

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
        self._log_seqs.append(u64(seq))
        self._log_entries.append(_encoder.encode(record))
        return seq

    # -- applying ------------------------------------------------------------------------------

    def _apply_other(
        self,
        event: codec.ExecutionEvent | codec.AssetSetEvent | codec.AssetDeleteEvent,
        raw: bytes,
    ) -> None:
        """Apply an event other than a task run (those are applied in `apply_all`)."""
        if isinstance(event, codec.ExecutionEvent):
            self._execution_event(event, raw)
        elif isinstance(event, codec.AssetSetEvent):
            self._asset_set(event, raw)
        else:
            self._asset_delete(event, raw)

    def _upsert(
        self, decl: codec.AssetDecl, when: float, default_namespace: str
    ) -> codec.AssetChange:
        asset_id = decl.id
        assets = self._assets
        current = assets[asset_id] if asset_id in assets else self._asset(asset_id)
        if current is None:
            metadata = decl.metadata
            if metadata:
                for value in metadata.values():
                    if value is None:
                        metadata = {k: v for k, v in metadata.items() if v is not None}
                        break
                else:
                    metadata = dict(metadata)
            asset = codec.Asset(
                asset_id,
                decl.namespace if decl.namespace is not None else default_namespace,
                decl.type if decl.type is not None else codec.EXTERNAL_TYPE,
                when,
                when,
                decl.displayName,
                decl.description,
                metadata if metadata else {},
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
                id=asset_id,
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
        assets[asset_id] = asset
        self._dirty[asset_id] = None
        return AssetChange(asset_id, asset.namespace, asset.type, kind)

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
        self._applied_keys.append(key)
        self._applied_seqs.append(u64(seq))

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
        self._applied_keys.append(key)
        self._applied_seqs.append(u64(seq))

    def _drop_edges(self, asset_id: str) -> None:
        for pair in [p for p in self._pairs if asset_id in p]:
            del self._pairs[pair]
        txn, dbs = self.txn, self.dbs
        me = asset_id.encode()
        head = edge_head(me)
        for near, far in ((dbs.lineage_down, dbs.lineage_up), (dbs.lineage_up, dbs.lineage_down)):
            cursor = txn.cursor(db=near)
            found = cursor.set_range(head)
            while found and cursor.key().startswith(head):
                txn.delete(edge_key(cursor.value()[EDGE_RUN_SIZE:], me), db=far)
                found = cursor.delete()

    # -- writing it all -------------------------------------------------------------------------

    def finish(self) -> None:
        """Write what the batch changed: assets and index, edges, executions, usages, log."""
        txn, dbs = self.txn, self.dbs
        self._finish_assets()
        self._finish_edges()
        self._finish_executions()
        # Unsorted: see _finish_assets.
        if self._usage_keys:
            usages = zip(self._usage_keys, self._usage_directions, strict=True)
            txn.cursor(db=dbs.usages).putmulti(usages)
        if self._applied_keys:
            applied = zip(self._applied_keys, self._applied_seqs, strict=True)
            txn.cursor(db=dbs.applied).putmulti(applied)
        if self._log_seqs:
            log = zip(self._log_seqs, self._log_entries, strict=True)
            txn.cursor(db=dbs.log).putmulti(log, append=True)

    def _finish_assets(self) -> None:
        txn, dbs = self.txn, self.dbs
        puts: list[tuple[bytes, bytes]] = []
        add_put = puts.append
        added: list[tuple[bytes, bytes]] = []  # index entries to add: (entry, asset id)
        add = added.append
        index = txn.cursor(db=dbs.index)
        assets, originals = self._assets, self._original
        encode = _encoder.encode
        kind_keys, meta_keys, cached = KIND_KEYS, META_KEYS, CACHED_KINDS
        for asset_id in self._dirty:
            asset = assets[asset_id]
            original = originals[asset_id]
            key = asset_id.encode()
            if original is None:  # the common case: a new asset, nothing to compare
                if asset is None:
                    continue
                add_put((key, encode(asset)))
                kind = kind_keys.get((asset.type, asset.namespace))
                if kind is None:
                    added += [(entry, key) for entry in _index_entries_of(asset)]
                    continue
                add((kind, key))
                metadata = asset.metadata
                if metadata:
                    for name, value in metadata.items():
                        cls = value.__class__
                        entry = meta_keys.get((name, cls, value)) if cls in cached else None
                        add((entry or meta_index_key(name, value), key))
                continue
            old = set(_index_entries_of(original))
            changed = set(_index_entries_of(asset)) if asset is not None else set()
            for entry in old - changed:
                if index.set_key_dup(entry, key):
                    index.delete()
            added += [(entry, key) for entry in changed - old]
            if asset is not None:
                add_put((key, encode(asset)))
            else:
                txn.delete(key, db=dbs.assets)
        _putmulti(txn, dbs.assets, sorted(puts))
        # Unsorted on purpose: LMDB takes these about as fast in any order as sorting would gain.
        if added:
            index.putmulti(added, dupdata=False)

    def _finish_edges(self) -> None:
        """One record per edge and direction, holding the latest run linking the pair."""
        if not self._pairs:
            return
        txn, dbs = self.txn, self.dbs
        downs: list[tuple[bytes, bytes]] = []
        ups: list[tuple[bytes, bytes]] = []
        add_down, add_up = downs.append, ups.append
        original = self._original
        pack, unpack_from, u16_ = EDGE_RUN.pack, EDGE_RUN.unpack_from, u16
        #: upstream id -> (its key bytes, its lineage head), for the few shared inputs.
        heads: dict[str, tuple[bytes, bytes]] = {}
        for (source, target), (end, seq) in self._pairs.items():
            head = heads.get(source)
            if head is None:
                source_key = source.encode()
                head = heads[source] = (source_key, edge_head(source_key))
            source_key, source_head = head
            target_key = target.encode()
            size = len(target_key)
            key = source_head + target_key
            if len(key) > MAX_KEY:
                key = edge_key(source_key, target_key)
            # An asset new in this batch (the usual fan-out output) has no edge yet.
            if original.get(target, 1) is not None:
                held = txn.get(key, db=dbs.lineage_down)
                if held is not None and unpack_from(held)[1] > end:
                    continue
            run = pack(seq, end)
            add_down((key, run + target_key))
            add_up(
                (
                    u16_(size) + target_key + source_key
                    if size <= _SHORT_HEAD and size + len(source_key) <= _SHORT_PAIR
                    else edge_key(target_key, source_key),
                    run + source_key,
                )
            )
        # Unsorted: see _finish_assets.
        txn.cursor(db=dbs.lineage_down).putmulti(downs)
        txn.cursor(db=dbs.lineage_up).putmulti(ups)

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
