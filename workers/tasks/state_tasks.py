"""Kestra's state store tasks (io.kestra.plugin.core.state): `Set`, `Get` and `Delete`.

A state is a JSON map under a `name` (default "default"), kept for the flow (or, with
`namespace: true`, for its whole namespace) and, with `taskrunValue` (the default), per
ForEach value. `Set` merges its `data` into the state (nested maps merge, other values are
replaced) and outputs `count` and `key`; `Get` outputs `data` and `count` (an empty map when
there is none, unless `errorOnMissing`); `Delete` outputs `deleted`.

Kestra keeps states as files; assetline keeps them in the store's KV database under a namespace
of their own (`states:` + the flow's namespace), so they never show among a namespace's KV
keys. Driver-side task types (`runs_on = "driver"`), like the KV tasks; a state holding a
secret is refused (secrets are never written to the store). No storage rules here.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any, ClassVar, Final

import pydantic

from workers.context import TaskContext
from workers.errors import TaskFailed
from workers.masking import Masker
from workers.registry import TaskType, register_task
from workers.tasks.kv_tasks import call_store, store_of

_STATE: Final = "io.kestra.plugin.core.state."


class _StateParams(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="forbid")

    name: str = "default"
    namespace: bool = False
    taskrunValue: bool = True  # noqa: N815 - Kestra's property names


class SetParams(_StateParams):
    data: dict[str, Any] = {}


class GetParams(_StateParams):
    errorOnMissing: bool = False  # noqa: N815


def _where(params: _StateParams, ctx: TaskContext) -> tuple[str, str, str]:
    """(KV namespace, KV key, the state's readable key) of the state `params` name."""
    spec = ctx.spec
    flow = None if params.namespace else spec.flow_id
    value = spec.value if params.taskrunValue else None
    parts = [spec.flow_namespace, *([flow] if flow else []), "states", params.name]
    readable = "/".join([*parts, *([value] if value is not None else [])])
    digest = hashlib.sha256(
        "\0".join([flow or "", params.name, value if value is not None else "\0"]).encode()
    ).hexdigest()[:48]
    return f"states:{spec.flow_namespace}", digest, readable


def merge(current: Mapping[str, Any], changes: Mapping[str, Any]) -> dict[str, Any]:
    """Kestra's MapUtils.merge: nested maps merge, any other value replaces."""
    merged = dict(current)
    for key, value in changes.items():
        held = merged.get(key)
        if isinstance(held, Mapping) and isinstance(value, Mapping):
            merged[key] = merge(held, value)
        else:
            merged[key] = value
    return merged


def _missing(name: str, readable: str) -> TaskFailed:
    """Kestra's error when `errorOnMissing` is set and there is no such state."""
    return TaskFailed(f"Unable to find the state '{name}' ({readable})")


def _data(store: Any, namespace: str, key: str) -> dict[str, Any] | None:
    entry = call_store("reading a state", lambda: store.kv_get(namespace, key))
    if entry is None:
        return None
    data: dict[str, Any] = entry.value.get("data", {})
    return data


@register_task
class SetState(TaskType):
    """Merge `data` into a state."""

    kind: ClassVar[str] = _STATE + "Set"
    aliases: ClassVar[tuple[str, ...]] = ("io.kestra.core.tasks.states.Set", "state.set")
    Params = SetParams
    runs_on: ClassVar[str] = "driver"

    def run(self, params: Any, ctx: TaskContext) -> dict[str, Any]:
        p: SetParams = params
        masker = Masker(ctx.spec.secrets)
        if masker.active and masker.mask(p.data) != p.data:
            raise TaskFailed(
                f"the data for state '{p.name}' holds a secret, and secrets are never written "
                "to the store; read it with secret() where it is needed"
            )
        store = store_of(ctx)
        namespace, key, readable = _where(p, ctx)
        merged = merge(_data(store, namespace, key) or {}, p.data)
        record = {"name": p.name, "key": readable, "data": merged}
        call_store(
            f"setting state '{p.name}'",
            lambda: store.kv_set(namespace, key, record, kv_type="JSON"),
        )
        return {"count": len(merged), "key": readable}


@register_task
class GetState(TaskType):
    """Read a state (an empty map when there is none, unless `errorOnMissing`)."""

    kind: ClassVar[str] = _STATE + "Get"
    aliases: ClassVar[tuple[str, ...]] = ("io.kestra.core.tasks.states.Get", "state.get")
    Params = GetParams
    runs_on: ClassVar[str] = "driver"

    def run(self, params: Any, ctx: TaskContext) -> dict[str, Any]:
        p: GetParams = params
        namespace, key, readable = _where(p, ctx)
        data = _data(store_of(ctx), namespace, key)
        if data is None:
            if p.errorOnMissing:
                raise _missing(p.name, readable)
            data = {}
        return {"count": len(data), "data": data}


@register_task
class DeleteState(TaskType):
    """Remove a state (`deleted` says whether there was one)."""

    kind: ClassVar[str] = _STATE + "Delete"
    aliases: ClassVar[tuple[str, ...]] = ("io.kestra.core.tasks.states.Delete", "state.delete")
    Params = GetParams
    runs_on: ClassVar[str] = "driver"

    def run(self, params: Any, ctx: TaskContext) -> dict[str, Any]:
        p: GetParams = params
        namespace, key, readable = _where(p, ctx)
        store = store_of(ctx)
        deleted = call_store(f"deleting state '{p.name}'", lambda: store.kv_delete(namespace, key))
        if not deleted and p.errorOnMissing:
            raise _missing(p.name, readable)
        return {"deleted": deleted}
