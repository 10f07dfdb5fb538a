"""The LMDB environment behind a store: its named databases, format version and sharing.

LMDB allows one open environment per file per process, so every `Store` of one process that
opens the same home shares one `lmdb.Environment` here, counted by reference. A store opened
read-only may share a read-write environment (the `Store` never writes through it); a
read-write store cannot join a read-only one (`StoreLockedError`).

Environments must not cross `fork()`: a child process opens its own (use the `spawn` start
method with multiprocessing).

This module opens and closes environments; it knows nothing of events or queries.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import lmdb

from store import upgrade
from store.errors import StoreError, StoreLockedError, StoreVersionError

#: The on-disk layout this code writes and reads. Bump it when a database changes meaning.
#: Format 2 keeps one record per lineage edge and direction, and an asset's type and namespace
#: under one index entry; format 3 adds the `kv` database. An older store is upgraded in place
#: when opened for writing (`store.upgrade`).
FORMAT_VERSION: Final = 3
FORMAT_KEY: Final = b"format"

#: name -> sorted duplicates?
_DATABASES: Final = {
    "meta": False,
    "assets": False,
    "index": True,
    "usages": False,
    "lineage_down": False,
    "lineage_up": False,
    "executions": False,
    "exec_by_start": False,
    "exec_by_flow": False,
    "running": False,
    "log": False,
    "applied": False,
    "offsets": False,
    "flows": False,
    "kv": False,
}


@dataclass(frozen=True)
class Databases:
    """Handles of the named databases (see ARCHITECTURE.md for what each holds)."""

    meta: Any
    assets: Any  # asset id -> codec.Asset
    index: Any  # kind_key(type, namespace) | m\0key\0json(value)  -> asset ids (dupsort)
    usages: Any  # prefix(asset) + seq + position -> b"I" | b"O" (the run is the log entry)
    #: edge_key(upstream, downstream) -> records.EDGE_RUN (seq, end of the latest task run
    #: linking them) + the downstream id; lineage_up the same, keyed and ending the other way.
    lineage_down: Any
    lineage_up: Any
    executions: Any  # fit(execution id) -> codec.ExecutionEvent (the latest)
    exec_by_start: Any  # time_key(start) + fit(id) -> execution id
    exec_by_flow: Any  # prefix(flow id) + time_key(start) + fit(id) -> execution id
    running: Any  # fit(execution id) -> execution id, for executions in state RUNNING
    log: Any  # seq (8 bytes, big-endian) -> codec.LogEntry
    applied: Any  # taskrun_key(...) | content hash of an asset event -> seq of its log entry
    offsets: Any  # offset name -> seq
    flows: Any  # deployed flows and their revisions (see store.flows)
    kv: Any  # prefix(namespace) + key -> store.kv.KVEntry (Kestra's KV store)


class SharedEnv:
    """One open environment, its databases, and how many stores use it."""

    def __init__(self, env: Any, dbs: Databases, path: Path, readonly: bool) -> None:
        self.env = env
        self.dbs = dbs
        self.path = path
        self.readonly = readonly
        self.users = 0
        #: Serialises this process's write transactions (LMDB's own lock does it across
        #: processes); taken before a write transaction begins.
        self.write_lock = threading.Lock()


_registry: dict[tuple[int, Path], SharedEnv] = {}
_registry_lock = threading.Lock()


def acquire(home: Path, *, readonly: bool, map_size: int) -> SharedEnv:
    """Open (or share) the environment in `home/store`, checking its format version."""
    path = (home / "store").resolve()
    key = (os.getpid(), path)
    with _registry_lock:
        shared = _registry.get(key)
        if shared is not None:
            if shared.readonly and not readonly:
                raise StoreLockedError(
                    f"{path} is open read-only in this process; close those stores before "
                    f"opening it for writing"
                )
            shared.users += 1
            return shared
        shared = _open(path, readonly=readonly, map_size=map_size)
        shared.users = 1
        _registry[key] = shared
        return shared


def release(shared: SharedEnv) -> None:
    """Drop one user; close the environment when the last one leaves."""
    with _registry_lock:
        shared.users -= 1
        if shared.users > 0:
            return
        _registry.pop((os.getpid(), shared.path), None)
        shared.env.close()


def _open(path: Path, *, readonly: bool, map_size: int) -> SharedEnv:
    if readonly and not (path / "data.mdb").exists():
        raise StoreError(f"no assetline store at {path.parent} (missing {path / 'data.mdb'})")
    try:
        if not readonly:
            path.mkdir(parents=True, exist_ok=True)
        env = lmdb.open(
            str(path),
            map_size=map_size,
            max_dbs=len(_DATABASES) + 1 + len(upgrade.RETIRED),
            readonly=readonly,
            max_readers=256,
            max_spare_txns=4,
            subdir=True,
            writemap=not readonly,
        )
    except lmdb.Error as exc:
        raise StoreError(f"cannot open the store at {path}: {exc}") from exc
    try:
        dbs = _open_databases(env, path, readonly=readonly)
    except BaseException:
        env.close()
        raise
    return SharedEnv(env, dbs, path, readonly)


def _open_databases(env: Any, path: Path, *, readonly: bool) -> Databases:
    handles: dict[str, Any] = {}
    try:
        if readonly:
            # Handles opened inside a read transaction die with it: let lmdb open each in its
            # own. The version first: a newer format may not have the databases this expects.
            meta = env.open_db(b"meta", create=False)
            with env.begin() as txn:
                version = check_format(path, txn.get(FORMAT_KEY, db=meta))
            if version is not None and version < FORMAT_VERSION:
                raise StoreVersionError(
                    f"the store at {path} is in format {version}, written by an older "
                    f"assetline; open it once for writing (any command that writes to it) to "
                    f"upgrade it in place to format {FORMAT_VERSION}"
                )
            for name, dupsort in _DATABASES.items():
                handles[name] = env.open_db(name.encode(), create=False, dupsort=dupsort)
        else:
            with env.begin(write=True) as txn:
                meta = env.open_db(b"meta", txn=txn)
                stored = txn.get(FORMAT_KEY, db=meta)
                version = check_format(path, stored)
                for name, dupsort in _DATABASES.items():
                    handles[name] = env.open_db(name.encode(), txn=txn, dupsort=dupsort)
                if version is not None and version < FORMAT_VERSION:
                    upgrade.upgrade(env, txn, Databases(**handles), version)
                if version != FORMAT_VERSION:
                    txn.put(FORMAT_KEY, str(FORMAT_VERSION).encode(), db=meta)
    except lmdb.NotFoundError as exc:
        raise StoreError(f"{path} is not an assetline store (a database is missing)") from exc
    except lmdb.Error as exc:
        raise StoreError(f"cannot open the databases of the store at {path}: {exc}") from exc
    return Databases(**handles)


def check_format(path: Path, stored: bytes | None) -> int | None:
    """The store's format version (None for a new store); refuse one newer than FORMAT_VERSION."""
    if stored is None:
        return None
    try:
        version = int(stored)
    except ValueError as exc:
        raise StoreError(f"{path} has an unreadable format version {stored!r}") from exc
    if version > FORMAT_VERSION:
        raise StoreVersionError(
            f"the store at {path} was written by a newer assetline (format {version}); this "
            f"one reads up to {FORMAT_VERSION}; upgrade assetline"
        )
    return version
