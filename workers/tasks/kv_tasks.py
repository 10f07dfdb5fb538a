"""Kestra's KV store tasks: `Set`, `Get`, `GetKeys` and `Delete` (io.kestra.plugin.core.kv).

Driver-side task types (`runs_on = "driver"`): they use the store the driving process lends in
`ctx.services["store"]` (`Store.kv_*`, each its own short write or read transaction).

Properties are Kestra's; `namespace` defaults to the flow's:
- `Set`: `key`, `value`, `overwrite` (default true: false fails the task when the key holds a
  value), `ttl` (an ISO-8601 duration such as PT1H), `kvType` (STRING, NUMBER, BOOLEAN,
  DATETIME, DATE, DURATION, JSON; a string value is converted to it as Kestra does, and without
  it the type follows the value). No outputs. A value that holds a secret is refused: secrets
  are never written to the store.
- `Get`: `key`, `errorOnMissing` (default false). Output `value` (null when absent).
- `GetKeys`: `prefix`. Output `keys`.
- `Delete`: `key`, `errorOnMissing`. Output `deleted`.

This module holds no storage rules (key syntax, expiry: `store.kv`) and opens no store.
"""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta
from typing import Any, ClassVar, Final, Literal

import pydantic

from store.errors import StoreError
from workers.context import TaskContext
from workers.errors import TaskFailed
from workers.masking import Masker
from workers.registry import TaskType, register_task

_KV: Final = "io.kestra.plugin.core.kv."
_DURATION = pydantic.TypeAdapter(timedelta)

KVType = Literal["STRING", "NUMBER", "BOOLEAN", "DATETIME", "DATE", "DURATION", "JSON"]


class _KeyParams(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="forbid")

    namespace: str | None = None


class SetParams(_KeyParams):
    key: str
    value: Any = None
    overwrite: bool = True
    ttl: timedelta | None = None
    kvType: KVType | None = None  # noqa: N815 - Kestra's property name


class GetParams(_KeyParams):
    key: str
    errorOnMissing: bool = False  # noqa: N815


class GetKeysParams(_KeyParams):
    prefix: str = ""


def store_of(ctx: TaskContext) -> Any:
    """The store the driver lends (`ctx.services["store"]`); TaskFailed without one."""
    store = ctx.services.get("store")
    if store is None:
        raise TaskFailed(
            f"task '{ctx.spec.task_id}': KV tasks need the store, which `assetline run` lends "
            "to driver-side tasks; none was given"
        )
    return store


def _namespace(params: _KeyParams, ctx: TaskContext) -> str:
    return params.namespace or ctx.spec.flow_namespace


def call_store(what: str, work: Any) -> Any:
    """`work()`, with a StoreError turned into TaskFailed that says what was being done."""
    try:
        return work()
    except StoreError as exc:  # a bad key, a full store: the task fails and says why
        raise TaskFailed(f"{what}: {exc}") from exc


def _missing(key: str, namespace: str) -> TaskFailed:
    """Kestra's error when `errorOnMissing` is set and the key has no value."""
    return TaskFailed(
        f"No value found for key '{key}' in namespace '{namespace}' and `errorOnMissing` is "
        "set to true"
    )


def typed_value(value: Any, kv_type: str | None) -> tuple[Any, str]:
    """The value as Kestra keeps it for `kv_type` (a string is converted), and its type."""
    if kv_type is None:
        return value, _type_of(value)
    if not isinstance(value, str) or kv_type == "STRING":
        return value, kv_type
    try:
        if kv_type == "NUMBER":
            number = json.loads(value)
            if isinstance(number, bool) or not isinstance(number, int | float):
                raise ValueError("not a number")
            return number, kv_type
        if kv_type == "BOOLEAN":
            return value.strip().lower() == "true", kv_type
        if kv_type == "DATETIME":
            datetime.fromisoformat(value)
        elif kv_type == "DATE":
            date.fromisoformat(value)
        elif kv_type == "DURATION":
            _DURATION.validate_python(value)
        elif kv_type == "JSON":
            return json.loads(value), kv_type
    except (ValueError, pydantic.ValidationError) as exc:
        raise TaskFailed(
            f"value {value[:60]!r} is not a {kv_type} (kvType); "
            f"{_EXAMPLES[kv_type]}: {str(exc).splitlines()[0]}"
        ) from exc
    return value, kv_type


_EXAMPLES: Final = {
    "NUMBER": "write it like 42 or 1.5",
    "DATETIME": "write it like 2026-11-25T10:00:00Z",
    "DATE": "write it like 2026-11-25",
    "DURATION": "write it like PT1H or P1D",
    "JSON": "give a JSON document",
}


def _type_of(value: Any) -> str:
    if isinstance(value, bool):
        return "BOOLEAN"
    if isinstance(value, int | float):
        return "NUMBER"
    if isinstance(value, dict | list):
        return "JSON"
    return "STRING"


@register_task
class SetKV(TaskType):
    """Create or replace a key's value."""

    kind: ClassVar[str] = _KV + "Set"
    aliases: ClassVar[tuple[str, ...]] = ("kv.set",)
    Params = SetParams
    runs_on: ClassVar[str] = "driver"

    def run(self, params: Any, ctx: TaskContext) -> dict[str, Any]:
        p: SetParams = params
        namespace = _namespace(p, ctx)
        value, kv_type = typed_value(p.value, p.kvType)
        masker = Masker(ctx.spec.secrets)
        if masker.active and masker.mask(value) != value:
            raise TaskFailed(
                f"the value for KV key '{p.key}' holds a secret, and secrets are never written "
                "to the store; read it with secret() where it is needed"
            )
        ttl = p.ttl.total_seconds() if p.ttl is not None else None
        if ttl is not None and ttl <= 0:
            raise TaskFailed(f"ttl {p.ttl} must be positive; write it like PT1H or P1D")
        store = store_of(ctx)
        kept = call_store(
            f"setting KV key '{p.key}'",
            lambda: store.kv_set(
                namespace, p.key, value, kv_type=kv_type, ttl=ttl, overwrite=p.overwrite
            ),
        )
        if not kept:
            raise TaskFailed(
                f"KV key '{p.key}' in namespace '{namespace}' already has a value and "
                "`overwrite` is false"
            )
        ctx.logger.info(f"KV key '{p.key}' set in namespace '{namespace}' ({kv_type})")
        return {}


@register_task
class GetKV(TaskType):
    """Read a key's value (null when it has none, unless `errorOnMissing`)."""

    kind: ClassVar[str] = _KV + "Get"
    aliases: ClassVar[tuple[str, ...]] = ("kv.get",)
    Params = GetParams
    runs_on: ClassVar[str] = "driver"

    def run(self, params: Any, ctx: TaskContext) -> dict[str, Any]:
        p: GetParams = params
        namespace = _namespace(p, ctx)
        store = store_of(ctx)
        entry = call_store(f"reading KV key '{p.key}'", lambda: store.kv_get(namespace, p.key))
        if entry is None and p.errorOnMissing:
            raise _missing(p.key, namespace)
        return {"value": entry.value if entry is not None else None}


@register_task
class GetKVKeys(TaskType):
    """List the keys of a namespace that start with `prefix`."""

    kind: ClassVar[str] = _KV + "GetKeys"
    aliases: ClassVar[tuple[str, ...]] = ("kv.get_keys",)
    Params = GetKeysParams
    runs_on: ClassVar[str] = "driver"

    def run(self, params: Any, ctx: TaskContext) -> dict[str, Any]:
        p: GetKeysParams = params
        namespace = _namespace(p, ctx)
        store = store_of(ctx)
        return {"keys": call_store("listing KV keys", lambda: store.kv_keys(namespace, p.prefix))}


@register_task
class DeleteKV(TaskType):
    """Remove a key (`deleted` says whether it had a value)."""

    kind: ClassVar[str] = _KV + "Delete"
    aliases: ClassVar[tuple[str, ...]] = ("kv.delete",)
    Params = GetParams
    runs_on: ClassVar[str] = "driver"

    def run(self, params: Any, ctx: TaskContext) -> dict[str, Any]:
        p: GetParams = params
        namespace = _namespace(p, ctx)
        store = store_of(ctx)
        deleted = call_store(
            f"deleting KV key '{p.key}'", lambda: store.kv_delete(namespace, p.key)
        )
        if not deleted and p.errorOnMissing:
            raise _missing(p.key, namespace)
        return {"deleted": deleted}
