"""The namespace key-value store (Kestra's KV store): typed values by namespace and key, with an
optional expiry, in the `kv` database.

A record is keyed `prefix(namespace) + key` and holds a `KVEntry`. Keys follow Kestra's rule
(a letter or digit, then letters, digits, `.`, `_`, `-`; at most 255 characters), so a key
never needs hashing and the keys of a namespace can be listed in order by a prefix scan. An
entry whose `expires` has passed reads as absent and is removed by the next write of its key.

Values are what Kestra's `kvType` makes of them (STRING, NUMBER, BOOLEAN, DATETIME, DATE,
DURATION, JSON): JSON-compatible data, with dates and durations as ISO-8601 strings.
Secrets never reach this module: the task that sets a value refuses one that holds a secret.

This module works in a transaction it is given; it does not open one.
"""

from __future__ import annotations

import re
from typing import Any, Final

import msgspec

from store.codec import DECODE_ERRORS
from store.environment import Databases
from store.errors import CodecError, InvalidEventError
from store.keys import prefix

__all__ = ["KEY_PATTERN", "KVEntry", "check_key", "delete", "get", "keys", "put"]

KEY_PATTERN: Final = r"^[a-zA-Z0-9][a-zA-Z0-9._-]*$"
KEY_MAX: Final = 255
NAMESPACE_MAX: Final = 150
KV_TYPES: Final = ("STRING", "NUMBER", "BOOLEAN", "DATETIME", "DATE", "DURATION", "JSON")
_KEY = re.compile(KEY_PATTERN)


class KVEntry(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """One key's value, its Kestra type, when it was set and when it expires (epoch seconds)."""

    namespace: str
    key: str
    value: Any
    type: str
    updated: float
    expires: float | None = None

    def live(self, now: float) -> bool:
        return self.expires is None or self.expires > now


_decoder = msgspec.msgpack.Decoder(KVEntry)
_encoder = msgspec.msgpack.Encoder()


def check_key(namespace: str, key: str) -> None:
    """InvalidEventError unless `key` and `namespace` are ones the KV store keeps."""
    if not _KEY.match(key) or len(key) > KEY_MAX:
        raise InvalidEventError(
            f"KV key {key[:60]!r} is not valid: start with a letter or digit, then use letters, "
            f"digits, '.', '_' or '-', at most {KEY_MAX} characters"
        )
    if not namespace or len(namespace) > NAMESPACE_MAX:
        raise InvalidEventError(
            f"KV namespace {namespace[:60]!r} must have 1 to {NAMESPACE_MAX} characters"
        )


def _record_key(namespace: str, key: str) -> bytes:
    return prefix(namespace) + key.encode()


def _decode(data: bytes) -> KVEntry:
    try:
        return _decoder.decode(data)
    except DECODE_ERRORS as exc:
        raise CodecError(f"not a valid KV record: {exc}") from exc


def get(txn: Any, dbs: Databases, namespace: str, key: str, now: float) -> KVEntry | None:
    """The live entry of `key` in `namespace`, or None."""
    check_key(namespace, key)
    data = txn.get(_record_key(namespace, key), db=dbs.kv)
    if data is None:
        return None
    entry = _decode(data)
    return entry if entry.live(now) else None


def keys(txn: Any, dbs: Databases, namespace: str, key_prefix: str, now: float) -> list[str]:
    """The live keys of `namespace` starting with `key_prefix`, in order."""
    group = prefix(namespace)
    start = group + key_prefix.encode()
    cursor = txn.cursor(db=dbs.kv)
    found = cursor.set_range(start)
    result: list[str] = []
    while found:
        record_key, data = cursor.item()
        if not record_key.startswith(start):
            break
        entry = _decode(data)
        if entry.live(now):
            result.append(entry.key)
        found = cursor.next()
    return result


def put(txn: Any, dbs: Databases, entry: KVEntry, *, overwrite: bool, now: float) -> bool:
    """Keep `entry`; False (and nothing written) when `overwrite` is off and a live value is
    there already."""
    check_key(entry.namespace, entry.key)
    if entry.type not in KV_TYPES:
        raise InvalidEventError(f"KV type {entry.type!r}: use one of {', '.join(KV_TYPES)}")
    record_key = _record_key(entry.namespace, entry.key)
    if not overwrite:
        held = txn.get(record_key, db=dbs.kv)
        if held is not None and _decode(held).live(now):
            return False
    try:
        data = _encoder.encode(entry)
    except (TypeError, msgspec.EncodeError) as exc:
        raise InvalidEventError(f"KV value of {entry.key!r} cannot be kept: {exc}") from exc
    txn.put(record_key, data, db=dbs.kv)
    return True


def delete(txn: Any, dbs: Databases, namespace: str, key: str, now: float) -> bool:
    """Remove `key`; True when it held a live value."""
    check_key(namespace, key)
    record_key = _record_key(namespace, key)
    data = txn.get(record_key, db=dbs.kv)
    if data is None:
        return False
    txn.delete(record_key, db=dbs.kv)
    return _decode(data).live(now)
