"""Deployed flows: every revision of every flow deployed into a store, kept in the `flows` database.

A deployed flow is identified by (namespace, flow id). Each deploy whose source differs from the
current revision's writes a new revision (1, 2, ...); deploying the same text again changes
nothing. Deleting a flow writes one more revision marked `deleted` (its history stays readable,
as in Kestra); deploying it again starts the next revision.

The store does not parse YAML: the scheduler hands over the source, the raw trigger declarations
and the assets each task declares (`FlowAssetUse`), which impact analysis reads back.

Keys of the `flows` database:
    c\\0 + prefix(namespace) + prefix(flow id)              -> the current DeployedFlow
    r\\0 + prefix(namespace) + prefix(flow id) + u32(rev)   -> every revision
    v\\0                                                   -> u64 count of changes (cheap poll)
    p\\0 + execution id    -> a triggered run recorded but not started yet (opaque bytes)

This module reads and writes only that database; it knows nothing of the event log.
"""

from __future__ import annotations

import builtins
import struct
import time
from functools import partial
from typing import TYPE_CHECKING, Any, Final

import msgspec

from store.codec import DECODE_ERRORS, SCHEMA_VERSION
from store.errors import CodecError, StoreError
from store.keys import fit, from_u64, prefix, u64

if TYPE_CHECKING:
    from store.lmdb_store import Store

__all__ = ["DeployedFlow", "DeployedFlows", "FlowAssetUse", "FlowNotDeployed"]

_CURRENT: Final = b"c\x00"
_REVISION: Final = b"r\x00"
_VERSION: Final = b"v\x00"
_PENDING: Final = b"p\x00"
_U32: Final = struct.Struct(">I")


class FlowNotDeployed(StoreError, KeyError):  # noqa: N818 - reads as what happened
    """No deployed flow (or no such revision) under that namespace and id."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else "flow not deployed"


class FlowAssetUse(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """An asset a task of a deployed flow declares it reads (`INPUT`) or writes (`OUTPUT`).
    `asset_id` is as written: it may hold a template (then it names no asset statically)."""

    task_id: str
    direction: str
    asset_id: str
    namespace: str | None = None
    type: str | None = None


class DeployedFlow(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """One revision of a deployed flow."""

    namespace: str
    id: str
    revision: int
    source: str
    deployed: float
    deleted: bool = False
    #: The trigger declarations as written (validated by the scheduler before deploying).
    triggers: list[dict[str, Any]] = []
    assets: list[FlowAssetUse] = []
    disabled: bool = False
    v: int = SCHEMA_VERSION

    @property
    def key(self) -> str:
        return f"{self.namespace}.{self.id}"


_encoder = msgspec.msgpack.Encoder()
_decoder = msgspec.msgpack.Decoder(DeployedFlow)


def _decode(data: bytes) -> DeployedFlow:
    try:
        flow = _decoder.decode(data)
    except DECODE_ERRORS as exc:
        raise CodecError(f"not a valid deployed-flow record: {exc}") from exc
    if flow.v > SCHEMA_VERSION:
        raise CodecError(
            f"deployed flow {flow.namespace}.{flow.id} was written with schema version {flow.v}, "
            f"newer than this assetline's {SCHEMA_VERSION}; upgrade assetline to read it"
        )
    return flow


def _group(namespace: str, flow_id: str) -> bytes:
    return prefix(namespace) + prefix(flow_id)


def _current_key(namespace: str, flow_id: str) -> bytes:
    return _CURRENT + _group(namespace, flow_id)


def _revision_key(namespace: str, flow_id: str, revision: int) -> bytes:
    return _REVISION + _group(namespace, flow_id) + _U32.pack(revision)


class DeployedFlows:
    """The deployed flows of one open store: `DeployedFlows(store)`."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def deploy(
        self,
        namespace: str,
        flow_id: str,
        source: str,
        *,
        triggers: list[dict[str, Any]] | None = None,
        assets: list[FlowAssetUse] | None = None,
        disabled: bool = False,
    ) -> tuple[DeployedFlow, bool]:
        """Store `source` as the flow's next revision unless it is the current one already.
        Returns the current revision and whether this call created it."""
        with self.store._write_txn() as txn:
            db = self.store._env().dbs.flows
            data = txn.get(_current_key(namespace, flow_id), db=db)
            current = _decode(data) if data is not None else None
            if current is not None and not current.deleted and current.source == source:
                return current, False
            record = DeployedFlow(
                namespace=namespace,
                id=flow_id,
                revision=current.revision + 1 if current is not None else 1,
                source=source,
                deployed=time.time(),
                triggers=list(triggers or []),
                assets=list(assets or []),
                disabled=disabled,
            )
            self._put(txn, db, record)
        return record, True

    def _put(self, txn: Any, db: Any, record: DeployedFlow) -> None:
        raw = _encoder.encode(record)
        version = txn.get(_VERSION, db=db)
        txn.put(_VERSION, u64((from_u64(version) if version is not None else 0) + 1), db=db)
        txn.put(_current_key(record.namespace, record.id), raw, db=db)
        txn.put(_revision_key(record.namespace, record.id, record.revision), raw, db=db)

    def delete(self, namespace: str, flow_id: str) -> DeployedFlow:
        """Mark the flow deleted (a new revision); FlowNotDeployed if it is not deployed."""
        with self.store._write_txn() as txn:
            db = self.store._env().dbs.flows
            data = txn.get(_current_key(namespace, flow_id), db=db)
            current = _decode(data) if data is not None else None
            if current is None or current.deleted:
                raise FlowNotDeployed(f"no deployed flow {namespace}.{flow_id} to delete")
            record = msgspec.structs.replace(
                current, revision=current.revision + 1, deployed=time.time(), deleted=True
            )
            self._put(txn, db, record)
        return record

    def get(self, namespace: str, flow_id: str, revision: int | None = None) -> DeployedFlow | None:
        """The current revision (deleted or not), or the given one; None when there is none."""
        key = (
            _current_key(namespace, flow_id)
            if revision is None
            else _revision_key(namespace, flow_id, revision)
        )
        data = self.store._read(lambda txn, dbs: txn.get(key, db=dbs.flows))
        return _decode(data) if data is not None else None

    def require(self, namespace: str, flow_id: str, revision: int | None = None) -> DeployedFlow:
        """Like `get`, but a deleted or missing flow raises FlowNotDeployed."""
        found = self.get(namespace, flow_id, revision)
        if found is None or (revision is None and found.deleted):
            what = f"{namespace}.{flow_id}" + (f" revision {revision}" if revision else "")
            raise FlowNotDeployed(
                f"no deployed flow {what}; deploy it with `assetline deploy FLOW.yaml`"
            )
        return found

    def list(
        self, *, namespace: str | None = None, deleted: bool = False
    ) -> builtins.list[DeployedFlow]:
        """The current revision of every deployed flow, by namespace then id; deleted flows
        only when `deleted`."""
        start = _CURRENT + (prefix(namespace) if namespace is not None else b"")

        flows = [_decode(raw) for raw in self.store._read(partial(_values_under, start))]
        return [flow for flow in flows if deleted or not flow.deleted]

    def revisions(self, namespace: str, flow_id: str) -> builtins.list[DeployedFlow]:
        """Every revision of the flow, oldest first."""
        start = _REVISION + _group(namespace, flow_id)

        return [_decode(raw) for raw in self.store._read(partial(_values_under, start))]

    def version(self) -> int:
        """A number that grows with every deploy and delete (0 before the first): poll it to
        know when to reload the deployed flows."""
        data = self.store._read(lambda txn, dbs: txn.get(_VERSION, db=dbs.flows))
        return from_u64(data) if data is not None else 0

    # -- runs a trigger recorded and the server has not started yet ----------------------------

    def put_pending(self, execution_id: str, payload: bytes) -> None:
        with self.store._write_txn() as txn:
            txn.put(fit(_PENDING + execution_id.encode()), payload, db=self.store._env().dbs.flows)

    def drop_pending(self, execution_id: str) -> None:
        with self.store._write_txn() as txn:
            txn.delete(fit(_PENDING + execution_id.encode()), db=self.store._env().dbs.flows)

    def pending(self) -> builtins.list[tuple[str, bytes]]:
        """(execution id, payload) of every pending run, in id order."""

        def scan(txn: Any, dbs: Any) -> builtins.list[tuple[str, bytes]]:
            cursor = txn.cursor(db=dbs.flows)
            found: builtins.list[tuple[str, bytes]] = []
            if not cursor.set_range(_PENDING):
                return found
            for key, value in cursor:
                if not key.startswith(_PENDING):
                    break
                found.append((key[len(_PENDING) :].decode(), value))
            return found

        return self.store._read(scan)


def _values_under(start: bytes, txn: Any, dbs: Any) -> list[bytes]:
    """The values of the `flows` records whose keys start with `start`, in key order."""
    cursor = txn.cursor(db=dbs.flows)
    found: list[bytes] = []
    if not cursor.set_range(start):
        return found
    for key, value in cursor:
        if not key.startswith(start):
            break
        found.append(value)
    return found
