"""The flowable task kinds the scheduler drives itself, with their Kestra names and Params.

A flowable (ForEach, Sequential, AllowFailure, Parallel, If, Switch, Dag, WaitFor, Pause) runs
no code on a worker: the executor expands it into child task runs. Each kind declares its
canonical Kestra name, the legacy names and a short alias it also answers to, a pydantic
`Params` model of its own properties (`extra="forbid"`, Kestra's property names), where its
child tasks are written, and any rule across its properties.
Child task lists are not part of `Params`: the loader turns them into `TaskNode.tasks` /
`TaskNode.branches`.

No I/O here, and nothing that runs: this module only describes.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "FLOWABLE_KINDS",
    "FLOWABLE_SPECS",
    "AllowFailureParams",
    "DagParams",
    "EachParallelParams",
    "EachSequentialParams",
    "FlowableSpec",
    "ForEachParams",
    "IfParams",
    "ParallelParams",
    "PauseParams",
    "SequentialParams",
    "SwitchParams",
    "WaitForParams",
    "flowable_names",
    "resolve_flowable",
]

_PARAMS = ConfigDict(extra="forbid", frozen=True)


class ForEachParams(BaseModel):
    """`ForEach`: run `tasks` once per value, `concurrencyLimit` at a time (0 = unlimited)."""

    model_config = _PARAMS

    #: A list, a JSON array text, or a template rendering to either.
    values: list[Any] | str
    concurrencyLimit: int = Field(default=1, ge=0)  # noqa: N815 - Kestra's property name


class EachSequentialParams(BaseModel):
    """Legacy `EachSequential`: run `tasks` once per value, one value after the other."""

    model_config = _PARAMS

    value: list[Any] | str


class EachParallelParams(BaseModel):
    """Legacy `EachParallel`: run `tasks` once per value, `concurrent` at a time (0 = all)."""

    model_config = _PARAMS

    value: list[Any] | str
    concurrent: int = Field(default=0, ge=0)


class SequentialParams(BaseModel):
    """`Sequential`: run `tasks` one after the other (no property of its own)."""

    model_config = _PARAMS


class AllowFailureParams(BaseModel):
    """`AllowFailure`: run `tasks` one after the other; when one fails the block stops, its
    `errors` run, and it ends WARNING so the flow goes on (no property of its own)."""

    model_config = _PARAMS


class WaitForParams(BaseModel):
    """`WaitFor`: run `tasks` again and again, `checkFrequency.interval` apart, until
    `condition` renders true; `checkFrequency.maxIterations` (100) and `maxDuration` (PT1H)
    bound it, and `failOnMaxReached` makes reaching them a failure. `outputs.<id>.iterationCount`
    is the iteration running (from 1)."""

    model_config = _PARAMS

    condition: str | bool
    checkFrequency: dict[str, Any] | None = None  # noqa: N815 - Kestra's property names
    failOnMaxReached: bool = False  # noqa: N815


class PauseParams(BaseModel):
    """`Pause`: wait `delay` (or `pauseDuration`, Kestra's newer name), then run `tasks` (if
    any) and go on. Without a delay it waits for `assetline executions resume`, which may
    give the `onResume` inputs (declared like a flow's; `outputs.<id>.onResume` then), up to
    the task's `timeout` if it has one, after which it fails, as Kestra does unresumed."""

    model_config = _PARAMS

    delay: str | None = None
    pauseDuration: str | None = None  # noqa: N815
    onResume: list[Any] | None = None  # noqa: N815


_FREQUENCY_KEYS = ("maxIterations", "maxDuration", "interval")


def _check_wait_for(properties: Mapping[str, Any]) -> str | None:
    frequency = properties.get("checkFrequency") or {}
    unknown = sorted(set(frequency) - set(_FREQUENCY_KEYS))
    if unknown:
        return (
            f"checkFrequency: unknown key(s) {', '.join(unknown)}; use {', '.join(_FREQUENCY_KEYS)}"
        )
    iterations = frequency.get("maxIterations", 100)
    if isinstance(iterations, bool) or not isinstance(iterations, int) or iterations < 1:
        return f"checkFrequency.maxIterations {iterations!r} must be a whole number of 1 or more"
    return None


class ParallelParams(BaseModel):
    """`Parallel`: run `tasks` side by side, `concurrent` at a time (0 = all)."""

    model_config = _PARAMS

    concurrent: int = Field(default=0, ge=0)


class IfParams(BaseModel):
    """`If`: run `then` when `condition` renders true, `else` otherwise."""

    model_config = _PARAMS

    condition: str | bool


class SwitchParams(BaseModel):
    """`Switch`: run the `cases` entry named by the rendered `value`, else `defaults`."""

    model_config = _PARAMS

    value: str | int | float | bool


class DagParams(BaseModel):
    """`Dag`: run wrapped tasks as soon as the tasks they wait for ended (their `dependsOn`,
    else the tasks that output an asset they read), `concurrent` at a time (0 = all).
    `concurrencyLimit` is accepted for `concurrent`; the loader folds it in."""

    model_config = _PARAMS

    concurrent: int = Field(default=0, ge=0)
    concurrencyLimit: int | None = Field(default=None, ge=0)  # noqa: N815 - the issue's name


@dataclass(frozen=True)
class FlowableSpec:
    """How one flowable kind is written."""

    kind: str
    aliases: tuple[str, ...]
    Params: type[BaseModel]
    #: Key whose task list becomes `TaskNode.tasks` (None when the kind has none).
    tasks_key: str | None = "tasks"
    #: Keys whose task lists become `TaskNode.branches[key]`.
    branch_keys: tuple[str, ...] = ()
    #: Child list keys that must hold at least one task.
    required_lists: tuple[str, ...] = ()
    #: Switch's `cases`: a mapping of value -> task list, branches `case:<value>`.
    cases_key: str | None = None
    #: Dag's `tasks`: a list of `{task, dependsOn}` wrappers.
    dag: bool = False
    #: A rule across properties (the kind's own and the common `timeout`): the problem, or None.
    check: Callable[[Mapping[str, Any]], str | None] | None = None

    def child_keys(self) -> tuple[str, ...]:
        keys = (self.tasks_key,) if self.tasks_key else ()
        cases = (self.cases_key,) if self.cases_key else ()
        return (*keys, *self.branch_keys, *cases)


_CORE = "io.kestra.plugin.core.flow."
_LEGACY = "io.kestra.core.tasks.flows."

_SPECS = (
    FlowableSpec(_CORE + "ForEach", ("foreach",), ForEachParams, required_lists=("tasks",)),
    FlowableSpec(
        _CORE + "EachSequential",
        (_LEGACY + "EachSequential", "eachsequential"),
        EachSequentialParams,
        required_lists=("tasks",),
    ),
    FlowableSpec(
        _CORE + "EachParallel",
        (_LEGACY + "EachParallel", "eachparallel"),
        EachParallelParams,
        required_lists=("tasks",),
    ),
    FlowableSpec(_CORE + "Sequential", (_LEGACY + "Sequential", "sequential"), SequentialParams),
    FlowableSpec(
        _CORE + "AllowFailure",
        (_LEGACY + "AllowFailure", "allowfailure"),
        AllowFailureParams,
        required_lists=("tasks",),
    ),
    FlowableSpec(
        _CORE + "WaitFor",
        ("waitfor",),
        WaitForParams,
        required_lists=("tasks",),
        check=_check_wait_for,
    ),
    FlowableSpec(_CORE + "Pause", (_LEGACY + "Pause", "pause"), PauseParams),
    FlowableSpec(
        _CORE + "Parallel",
        (_LEGACY + "Parallel", "parallel"),
        ParallelParams,
        required_lists=("tasks",),
    ),
    FlowableSpec(
        _CORE + "If",
        (_LEGACY + "If", "if"),
        IfParams,
        tasks_key=None,
        branch_keys=("then", "else"),
        required_lists=("then",),
    ),
    FlowableSpec(
        _CORE + "Switch",
        (_LEGACY + "Switch", "switch"),
        SwitchParams,
        tasks_key=None,
        branch_keys=("defaults",),
        cases_key="cases",
    ),
    FlowableSpec(
        _CORE + "Dag",
        (_LEGACY + "Dag", "dag"),
        DagParams,
        required_lists=("tasks",),
        dag=True,
    ),
)

#: Canonical name -> spec.
FLOWABLE_SPECS: dict[str, FlowableSpec] = {spec.kind: spec for spec in _SPECS}
#: Canonical name -> Params model.
FLOWABLE_KINDS: dict[str, type[BaseModel]] = {spec.kind: spec.Params for spec in _SPECS}
_BY_NAME: dict[str, str] = {
    name: spec.kind for spec in _SPECS for name in (spec.kind, *spec.aliases)
}


def resolve_flowable(type_name: str) -> str | None:
    """The canonical name of the flowable kind `type_name` names (Kestra name or alias)."""
    return _BY_NAME.get(type_name)


def flowable_names() -> list[str]:
    """Every name a flowable answers to (canonical names and aliases), sorted."""
    return sorted(_BY_NAME)
