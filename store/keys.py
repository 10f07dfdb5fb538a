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

#: Index key prefixes (one sorted-duplicates database holds both indexes): an asset's type and
#: namespace together under one `kind_key`, each metadata key=value under a `meta_key`.
KIND_PREFIX: Final = b"c\x00"
META_PREFIX: Final = b"m\x00"
#: A type or namespace longer than this is hashed inside a kind key (which stays under 511).
_KIND_PART: Final = 240
#: An id longer than this is hashed at the head of a lineage key.
_EDGE_HEAD: Final = 254

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


def kind_part(text: str) -> bytes:
    """A type or a namespace as it appears in a kind key (hashed when long)."""
    raw = text.encode()
    return raw if len(raw) <= _KIND_PART else _HASHED + hashlib.sha256(raw).digest()


def kind_key(asset_type: str, namespace: str) -> bytes:
    """The index key of every asset of one type in one namespace: the two together, so that
    an asset costs one entry for both; `type_prefix` groups a type's keys for a scan."""
    return type_prefix(asset_type) + kind_part(namespace)


def type_prefix(asset_type: str) -> bytes:
    """What every kind key of `asset_type` starts with (the type's part is length-prefixed)."""
    part = kind_part(asset_type)
    return KIND_PREFIX + _U16.pack(len(part)) + part


def kind_namespace(key: bytes) -> bytes:
    """The namespace part of a kind key (compare it with `kind_part(namespace)`)."""
    return key[4 + _U16.unpack_from(key, 2)[0] :]


def meta_key(key: str, value: Any) -> bytes:
    return fit(META_PREFIX + key.encode() + b"\x00" + json_form(value))


def edge_head(asset_key: bytes) -> bytes:
    """What the lineage keys of one asset start with: its id, length-prefixed (or its hash)."""
    if len(asset_key) <= _EDGE_HEAD:
        return _U16.pack(len(asset_key)) + asset_key
    return _HASHED + _HASHED + hashlib.sha256(asset_key).digest()


def edge_key(near: bytes, far: bytes) -> bytes:
    """The key of the lineage edge between `near` (whose head starts it) and `far`."""
    head = edge_head(near)
    if len(head) + len(far) <= MAX_KEY:
        return head + far
    return head + _HASHED + hashlib.sha256(far).digest()


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
#: The caches are read directly by the writer's hot loop (`store.apply`), filled here.
KIND_KEYS: dict[tuple[str, str], bytes] = {}
META_KEYS: dict[tuple[str, type, Any], bytes] = {}
_kind_keys = KIND_KEYS
_meta_keys = META_KEYS
_CACHE_MAX = 100_000
CACHED_KINDS: Final = frozenset({str, int, bool})
_CACHED_KINDS = CACHED_KINDS


def _kind_index_key(asset_type: str, namespace: str) -> bytes:
    slot = (asset_type, namespace)
    found = _kind_keys.get(slot)
    if found is None:
        if len(_kind_keys) >= _CACHE_MAX:
            _kind_keys.clear()
        found = _kind_keys[slot] = kind_key(asset_type, namespace)
    return found


def meta_index_key(name: str, value: Any) -> bytes:
    """`meta_key`, through the cache."""
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
    """Every index entry of an asset, each once: its type and namespace (one kind key), each
    metadata key=value (the two have distinct prefixes, and metadata keys are unique)."""
    entries = [_kind_keys.get((asset_type, namespace)) or _kind_index_key(asset_type, namespace)]
    if metadata:
        meta = _meta_keys
        cached = _CACHED_KINDS
        for name, value in metadata.items():
            kind = value.__class__
            found = meta.get((name, kind, value)) if kind in cached else None
            entries.append(found or meta_index_key(name, value))
    return entries
