"""What the loader knows of task types: flowables (scheduler/flowables) and runnable types.

Runnable types come from the workers' registry (`workers.registry.resolve` and `known_types`),
or from the callables given to the loader (tests pass a small fake registry). A resolved type
exposes `kind` (canonical Kestra name), `aliases` and a pydantic `Params` model whose fields (or
their aliases) are Kestra's property names. `KindInfo` flattens that into the property names a
task of the kind may write, which the loader and pluginDefaults check keys against.

No I/O here; the workers' registry is imported lazily, once, when first needed.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Annotated, Any

from pydantic import AliasChoices, BaseModel

from scheduler.flowables import FLOWABLE_SPECS, FlowableSpec, flowable_names, resolve_flowable

__all__ = ["COMMON_PROPERTIES", "FLOWABLE_ONLY", "KindInfo", "PropSpec", "TaskTypes"]

#: Properties every task takes (Kestra's `Task`), handled by the loader itself.
COMMON_PROPERTIES = (
    "id",
    "type",
    "version",
    "description",
    "retry",
    "timeout",
    "disabled",
    "workerGroup",
    "logLevel",
    "allowFailure",
    "allowWarning",
    "logToFile",
    "runIf",
    "taskCache",
    "assets",
)
#: Properties only flowables take.
FLOWABLE_ONLY = ("errors", "finally")

#: resolve(name) -> a task type class (`kind`, `aliases`, `Params`) or None.
ResolveTask = Callable[[str], Any]


@dataclass(frozen=True)
class PropSpec:
    """One type-specific property: the annotation literal values are checked against."""

    annotation: Any
    required: bool
    default: Any = None


@dataclass(frozen=True)
class KindInfo:
    """A resolved task type."""

    kind: str
    props: dict[str, PropSpec]
    flowable: FlowableSpec | None = None
    accepted: frozenset[str] = field(default=frozenset())


def _props(params: type[BaseModel]) -> dict[str, PropSpec]:
    by_name = bool(
        params.model_config.get("populate_by_name") or params.model_config.get("validate_by_name")
    )
    props: dict[str, PropSpec] = {}
    for name, info in params.model_fields.items():
        annotation: Any = info.annotation
        if info.metadata:
            annotation = Annotated[(annotation, *info.metadata)]
        required = info.is_required()
        default = None if required else info.get_default(call_default_factory=True)
        spec = PropSpec(annotation, required, default)
        names: list[str] = []
        if isinstance(info.validation_alias, str):
            names.append(info.validation_alias)
        elif isinstance(info.validation_alias, AliasChoices):
            names.extend(
                choice for choice in info.validation_alias.choices if isinstance(choice, str)
            )
        elif info.alias:
            names.append(info.alias)
        if not names or by_name:
            names.append(name)
        for written in names:
            props[written] = spec
    return props


def _info(kind: str, params: type[BaseModel], flowable: FlowableSpec | None) -> KindInfo:
    props = _props(params)
    accepted = set(COMMON_PROPERTIES) | set(props)
    if flowable is not None:
        accepted |= set(FLOWABLE_ONLY) | set(flowable.child_keys())
    return KindInfo(kind, props, flowable, frozenset(accepted))


def _default_registry() -> tuple[ResolveTask, Callable[[], Iterable[str]]]:
    try:
        registry = importlib.import_module("workers.registry")
    except ImportError:
        return (lambda _name: None), list
    return registry.resolve, registry.known_types


class TaskTypes:
    """Resolves written type names to `KindInfo`, flowables first, then the registry."""

    def __init__(
        self,
        resolve_task: ResolveTask | None = None,
        known_types: Callable[[], Iterable[str]] | None = None,
    ) -> None:
        if resolve_task is None:
            resolve_task, default_known = _default_registry()
            known_types = known_types or default_known
        self._resolve = resolve_task
        self._known = known_types or list
        self._cache: dict[str, KindInfo | None] = {}
        self._names: list[str] | None = None

    def lookup(self, name: str) -> KindInfo | None:
        """The kind `name` (canonical name or alias) names, or None when unknown."""
        if name in self._cache:
            return self._cache[name]
        found: KindInfo | None = None
        canonical = resolve_flowable(name)
        if canonical is not None:
            spec = FLOWABLE_SPECS[canonical]
            found = _info(canonical, spec.Params, spec)
        else:
            task_type = self._resolve(name)
            if task_type is not None:
                found = _info(str(task_type.kind), task_type.Params, None)
        self._cache[name] = found
        return found

    def names(self) -> list[str]:
        """Every name a known type answers to (canonical names and aliases), sorted."""
        if self._names is None:
            names = set(flowable_names())
            for kind in self._known():
                names.add(kind)
                task_type = self._resolve(kind)
                names.update(getattr(task_type, "aliases", ()) or ())
            self._names = sorted(names)
        return self._names
