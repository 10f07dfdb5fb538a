"""The explicit registry of runnable task types, in the style of OpenLineage's transports.

A task type is a `TaskType` subclass declaring its canonical Kestra name (`kind`), its other
names (`aliases`: a short one such as `log`, and Kestra's legacy names) and a pydantic `Params`
model (unknown keys forbidden, field names = Kestra's property names). `@register_task` adds it
to the registry; registering a name twice is an error. Nothing runs at import time: the built-in
task modules are imported the first time `resolve` or `known_types` is called.

No I/O here besides those imports; nothing here runs a task.
"""

from __future__ import annotations

import importlib
import threading
from typing import TYPE_CHECKING, Any, ClassVar, Final, TypeVar

import pydantic

from workers.errors import WorkerError

if TYPE_CHECKING:
    from workers.context import TaskContext

#: Modules holding the built-in task types, imported lazily.
BUILTIN_MODULES: Final = (
    "workers.tasks.log",
    "workers.tasks.debug_return",
    "workers.tasks.core_control",
    "workers.tasks.shell_commands",
    "workers.tasks.python_script",
    "workers.tasks.http_download",
    "workers.tasks.duckdb_query",
    "workers.tasks.asset_shipper",
    "workers.tasks.asset_tasks",
    "workers.tasks.kv_tasks",
    "workers.tasks.state_tasks",
    "workers.tasks.aws_s3",
    "workers.tasks.aws_cli",
    "workers.tasks.subflow",
)


class NoParams(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="forbid")


class TaskType:
    """Base class of every runnable task type."""

    kind: ClassVar[str] = ""
    aliases: ClassVar[tuple[str, ...]] = ()
    Params: ClassVar[type[pydantic.BaseModel]] = NoParams
    #: "worker" (anywhere on the cluster) or "driver": the task needs services only the driving
    #: process has (the asset store, the writer, starting subflows), passed as `ctx.services`.
    runs_on: ClassVar[str] = "worker"

    def run(self, params: Any, ctx: TaskContext) -> dict[str, Any]:
        """Do the work; return the task's outputs (what `outputs.<taskId>` exposes)."""
        raise NotImplementedError


T = TypeVar("T", bound=type[TaskType])

_by_name: dict[str, type[TaskType]] = {}
_kinds: set[str] = set()
_loaded = threading.Event()
_load_lock = threading.RLock()


def register_task(cls: T) -> T:
    """Class decorator: register a task type under its kind and aliases."""
    if not cls.kind:
        raise WorkerError(f"task type {cls.__qualname__} declares no `kind`")
    names = (cls.kind, *cls.aliases)
    with _load_lock:
        for name in names:
            owner = _by_name.get(name)
            if owner is not None:
                raise WorkerError(
                    f"task type name {name!r} of {cls.__qualname__} is already registered by "
                    f"{owner.__qualname__}"
                )
        if len(set(names)) != len(names):
            raise WorkerError(f"task type {cls.__qualname__} repeats a name in {names}")
        for name in names:
            _by_name[name] = cls
        _kinds.add(cls.kind)
    return cls


def unregister_task(cls: type[TaskType]) -> None:
    """Remove a task type (for tests and plugins that replace one)."""
    with _load_lock:
        for name in (cls.kind, *cls.aliases):
            if _by_name.get(name) is cls:
                del _by_name[name]
        _kinds.discard(cls.kind)


def _load_builtins() -> None:
    if _loaded.is_set():
        return
    with _load_lock:
        if _loaded.is_set():
            return
        for module in BUILTIN_MODULES:
            importlib.import_module(module)
        _loaded.set()


def resolve(type_name: str) -> type[TaskType] | None:
    """The task type registered under `type_name` (Kestra name or alias), or None."""
    _load_builtins()
    return _by_name.get(type_name)


def known_types() -> list[str]:
    """Canonical names of every registered task type, sorted."""
    _load_builtins()
    return sorted(_kinds)


def known_names() -> list[str]:
    """Every registered name (canonical names and aliases), sorted."""
    _load_builtins()
    return sorted(_by_name)
