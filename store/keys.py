"""How the store spells its LMDB keys: byte layouts, the 511-byte limit, the index's value form.

LMDB keys (and the values of sorted-duplicate databases) are at most 511 bytes. Keys looked up
only by exact match (idempotency keys, metadata index keys, execution ids) are hashed past the
limit with `fit`; keys that are scanned as a group (usages of an asset, task runs of an
execution) start with `prefix(id)`, which is the id itself or, when long, its hash. Asset ids are
the one thing kept verbatim, because the inventory is ordered by id: they must be 1 to 511 bytes
of UTF-8 (`check_asset_id`).

Metadata values are compared by their JSON form (`json_form`): keys sorted, no spaces, so `1`
and `"1"` are different values, `1` and `1.0` are too, and `true` is not `1`.

Pure functions: no LMDB, no I/O here.
"""

from __future__ import annotations

import hashlib
import struct
from typing import Any, Final

import msgspec

from store.errors import InvalidEventError

MAX_KEY: Final = 511
#: Hashed keys start with a byte that never appears in UTF-8, so they cannot meet a real one.
_HASHED: Final = b"\xff"
_U64: Final = struct.Struct(">Q")
_U16: Final = struct.Struct(">H")

#: Index key prefixes (one sorted-duplicates database holds all three indexes).
TYPE_PREFIX: Final = b"t\x00"
NAMESPACE_PREFIX: Final = b"n\x00"
META_PREFIX: Final = b"m\x00"

_json = msgspec.json.Encoder(order="sorted")

u64 = _U64.pack
u16 = _U16.pack


def from_u64(data: bytes) -> int:
    value: int = _U64.unpack(data)[0]
    return value


def fit(key: bytes) -> bytes:
    """`key` itself when LMDB takes it, else a 33-byte stand-in made from its SHA-256."""
    if len(key) <= MAX_KEY:
        return key
    return _HASHED + hashlib.sha256(key).digest()


def prefix(ident: str) -> bytes:
    """The group prefix of an id: its UTF-8 (or hash if long) and a NUL separator."""
    raw = ident.encode()
    if len(raw) > 400:
        raw = _HASHED + hashlib.sha256(raw).digest()
    return raw + b"\x00"


def check_asset_id(asset_id: str) -> bytes:
    """The id's key bytes; InvalidEventError when LMDB cannot keep it as a key."""
    raw = asset_id.encode()
    if not raw:
        raise InvalidEventError("an asset id is empty; give every asset a non-empty id")
    if len(raw) > MAX_KEY:
        raise InvalidEventError(
            f"asset id {asset_id[:40]!r}... is {len(raw)} bytes of UTF-8; the store keeps ids "
            f"of at most {MAX_KEY} bytes (LMDB's key limit): shorten it"
        )
    return raw


def json_form(value: Any) -> bytes:
    """The form metadata values are indexed and compared in (sorted-key compact JSON)."""
    try:
        return _json.encode(value)
    except (TypeError, msgspec.EncodeError) as exc:
        raise InvalidEventError(f"metadata value {value!r} is not JSON: {exc}") from exc


def type_key(asset_type: str) -> bytes:
    return fit(TYPE_PREFIX + asset_type.encode())


def namespace_key(namespace: str) -> bytes:
    return fit(NAMESPACE_PREFIX + namespace.encode())


def meta_key(key: str, value: Any) -> bytes:
    return fit(META_PREFIX + key.encode() + b"\x00" + json_form(value))


def pair_key(upstream: bytes, downstream: bytes) -> bytes:
    """The key of one lineage edge's latest task run (upstream and downstream asset keys)."""
    return fit(u16(len(upstream)) + upstream + downstream)


def time_key(seconds: float) -> bytes:
    """A time as 8 sortable bytes (microseconds since the epoch; earlier times clamp to 0)."""
    return u64(max(0, round(seconds * 1_000_000)))


def taskrun_key(execution_id: str, taskrun_id: str, attempt: int) -> bytes:
    """A task-run attempt's idempotency key, grouped by execution (`prefix(execution_id)`)."""
    group = prefix(execution_id)
    tail = f"{taskrun_id}/{attempt}".encode()
    if len(group) + len(tail) > MAX_KEY:
        tail = _HASHED + hashlib.sha256(tail).digest()
    return group + tail


#: Index keys of the usual attribute values, so that a thousand assets with owner=analytics
#: compute that key once. Only str, int and bool values are cached: their equality matches their
#: JSON form once the type is part of the slot (floats do not: 0.0 == -0.0). Bounded: a cache
#: is cleared when it grows past _CACHE_MAX.
_type_keys: dict[str, bytes] = {}
_namespace_keys: dict[str, bytes] = {}
_meta_keys: dict[tuple[str, type, Any], bytes] = {}
_CACHE_MAX = 100_000
_CACHED_KINDS = frozenset({str, int, bool})


def _type_index_key(asset_type: str) -> bytes:
    found = _type_keys.get(asset_type)
    if found is None:
        if len(_type_keys) >= _CACHE_MAX:
            _type_keys.clear()
        found = _type_keys[asset_type] = type_key(asset_type)
    return found


def _namespace_index_key(namespace: str) -> bytes:
    found = _namespace_keys.get(namespace)
    if found is None:
        if len(_namespace_keys) >= _CACHE_MAX:
            _namespace_keys.clear()
        found = _namespace_keys[namespace] = namespace_key(namespace)
    return found


def _meta_index_key(name: str, value: Any) -> bytes:
    kind = value.__class__
    if kind not in _CACHED_KINDS:
        return meta_key(name, value)
    slot = (name, kind, value)
    found = _meta_keys.get(slot)
    if found is None:
        if len(_meta_keys) >= _CACHE_MAX:
            _meta_keys.clear()
        found = _meta_keys[slot] = meta_key(name, value)
    return found


def index_entries(asset_type: str, namespace: str, metadata: dict[str, Any]) -> list[bytes]:
    """Every index entry of an asset, each once: its type, its namespace, each metadata
    key=value (the three kinds have distinct prefixes, and metadata keys are unique)."""
    entries = [
        _type_keys.get(asset_type) or _type_index_key(asset_type),
        _namespace_keys.get(namespace) or _namespace_index_key(namespace),
    ]
    if metadata:
        meta = _meta_keys
        cached = _CACHED_KINDS
        for name, value in metadata.items():
            kind = value.__class__
            found = meta.get((name, kind, value)) if kind in cached else None
            entries.append(found or _meta_index_key(name, value))
    return entries
