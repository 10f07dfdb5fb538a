"""What the writer takes in: submitted items decoded, checked and keyed before a transaction.

`prepare` turns one item (msgpack bytes or a codec event) into a `Prepared` triple: the event,
its msgpack for the event log, and for a task run its idempotency key (`keys.taskrun_key`).
`prepare_batch` does the same for a whole batch, with the usual item (msgpack bytes of a task
run with short ids and simple metadata) decoded and checked inline, and gathers the asset ids
the batch's task runs name so that the applier can read them all in one go. A bad item raises
CodecError / InvalidEventError, or is set aside by position.

Checks here are the ones that must pass before anything is written: ids LMDB can key, metadata
values the index can hold. No LMDB and no I/O here.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final

import msgspec

from store import codec
from store.errors import CodecError, StoreError
from store.keys import MAX_KEY, check_asset_id, json_form, prefix, taskrun_key

__all__ = ["Prepared", "PreparedBatch", "prepare", "prepare_batch"]

#: (event, its msgpack, the task-run idempotency key or None). A plain tuple: a NamedTuple's
#: constructor costs more than the rest of preparing a small event.
Prepared = tuple[codec.Event, bytes, bytes | None]

_SIMPLE: Final = (str, int, float, bool, type(None))
_SIMPLE_TYPES: Final = frozenset(_SIMPLE)
#: Up to this many characters an id is at most 508 bytes of UTF-8: no need to encode it.
_SURE_ID_CHARS: Final = MAX_KEY // 4

_encoder = msgspec.msgpack.Encoder()
_event_decoder: msgspec.msgpack.Decoder[codec.Event] = msgspec.msgpack.Decoder(codec.Event)


class PreparedBatch:
    """A batch ready to apply: its good items in order, the bad ones, the task runs' asset ids."""

    __slots__ = ("asset_ids", "items", "rejected", "run_keys")

    def __init__(self) -> None:
        self.items: list[Prepared] = []
        self.rejected: list[tuple[int, StoreError]] = []
        self.asset_ids: set[str] = set()
        #: The task runs' idempotency keys, in batch order.
        self.run_keys: list[bytes] = []


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
    if isinstance(event, codec.TaskRunEvent):
        return (event, raw, taskrun_key(event.execution_id, event.taskrun_id, event.attempt))
    return (event, raw, None)


def prepare_batch(
    items: Iterable[bytes | bytearray | memoryview | codec.Event], *, skip_invalid: bool
) -> PreparedBatch:
    """`prepare` every item; a bad one raises, or with `skip_invalid` is listed by position."""
    batch = PreparedBatch()
    append = batch.items.append
    add_id = batch.asset_ids.add
    add_key = batch.run_keys.append
    decode = _event_decoder.decode
    task_run = codec.TaskRunEvent
    version = codec.SCHEMA_VERSION
    simple = _SIMPLE_TYPES
    sure = _SURE_ID_CHARS
    groups: dict[str, bytes] = {}
    for position, item in enumerate(items):
        try:
            event: codec.Event | None = None
            if type(item) is bytes:
                try:
                    event = decode(item)
                except codec.DECODE_ERRORS:
                    event = None  # prepare() says what is wrong
            if type(event) is task_run and event.v <= version:
                for ref in event.inputs:
                    asset_id = ref.id
                    if not 0 < len(asset_id) <= sure:
                        check_asset_id(asset_id)
                    add_id(asset_id)
                for decl in event.outputs:
                    asset_id = decl.id
                    if not 0 < len(asset_id) <= sure:
                        check_asset_id(asset_id)
                    add_id(asset_id)
                    if decl.metadata:
                        for value in decl.metadata.values():
                            if value.__class__ not in simple:
                                json_form(value)  # InvalidEventError if the index cannot hold it
                execution_id = event.execution_id
                group = groups.get(execution_id)
                if group is None:
                    group = groups[execution_id] = prefix(execution_id)
                tail = f"{event.taskrun_id}/{event.attempt}".encode()
                if len(group) + len(tail) <= MAX_KEY:
                    key = group + tail
                else:
                    key = taskrun_key(execution_id, event.taskrun_id, event.attempt)
                append((event, item, key))  # type: ignore[arg-type]
                add_key(key)
                continue
            if event is not None and event.v <= version:
                _check(event)
                append((event, item, None))  # type: ignore[arg-type]
                continue
            prepared = prepare(item)
            if isinstance(prepared[0], task_run) and prepared[2] is not None:
                batch.run_keys.append(prepared[2])
                batch.asset_ids.update(ref.id for ref in prepared[0].inputs)
                batch.asset_ids.update(decl.id for decl in prepared[0].outputs)
            append(prepared)
        except StoreError as exc:
            if not skip_invalid:
                raise
            batch.rejected.append((position, exc))
    return batch


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
    if not 0 < len(asset_id) <= _SURE_ID_CHARS:
        check_asset_id(asset_id)


def _check_decl(decl: codec.AssetDecl) -> None:
    _check_id(decl.id)
    for value in (decl.metadata or {}).values():
        if not isinstance(value, _SIMPLE):
            json_form(value)  # raises InvalidEventError if the index could not hold it
