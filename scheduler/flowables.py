"""The flowable task kinds the scheduler drives itself, with their Kestra names and Params.

A flowable (ForEach, Sequential, AllowFailure, Parallel, If, Switch, Dag, ...) runs no code on a
worker: the executor expands it into child task runs. Each kind declares its canonical Kestra
name, the legacy names and a short alias it also answers to, a pydantic `Params` model of its own
properties (`extra="forbid"`, Kestra's property names) and where its child tasks are written.
Child task lists are not part of `Params`: the loader turns them into `TaskNode.tasks` /
`TaskNode.branches`.

No I/O here, and nothing that runs: this module only describes.
"""

from __future__ import annotations

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
    "SequentialParams",
    "SwitchParams",
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
